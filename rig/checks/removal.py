"""Removal: a removed unit holds 6 A for as long as it stays powered, and after its breaker cycle returns to
its own configuration for good.

Seed 000 (Expected Behaviors): "Removing a Wall Connector from a network will temporarily set that device's max
output to 6 amps. Cycle circuit breaker to reset Wall Connector to original configuration setting."

The hold has no end but the breaker cycle, so it is judged from `removal_s` after the removal until the unit
loses power (or the trace ends): a hold that ends on a timer is caught however long the timer, as long as the
plan holds longer. The return is judged over a window, not a single sample: from `reboot_s` after power came
back until the next action on that unit (or the trace's end), every sample with a vehicle asking for current
must offer the unit's configured maximum, within the PWM's resolution.
"""

from __future__ import annotations

from rig import gpm
from rig.budgets import Budgets
from rig.checks.timeline import EPS, Timeline, measured, pilot_accuracy, samples_from, spans
from rig.checks.verdict import Verdict, Violation, verdict
from rig.trace import Trace

CHECK = "removal hold"


def removal_hold(trace: Trace, budgets: Budgets, tolerance_a: float) -> Verdict:
    """A removed unit advertises at most 6 A from `removal_s` after the removal and draws at most 6 A
    `vehicle_response_s` later, for as long as it stays powered; after its breaker cycle it offers its configured
    maximum from `reboot_s` on, over the whole window that follows."""
    b = budgets
    used = {"removal_s": b.removal_s, "vehicle_response_s": b.vehicle_response_s, "reboot_s": b.reboot_s,
            "pilot_tolerance_a": b.pilot_tolerance_a, "pwm_step_a": b.pwm_step_a,
            "measurement_tolerance_a": tolerance_a}
    tl = Timeline(trace)
    hold = gpm.REMOVED_UNIT_AMPS
    violations: list[Violation] = []
    judged = 0
    notes: list[str] = []
    for t_rem, u in tl.removals:
        cycle = next(((a, z) for a, z in spans(tl.power[u], trace.end) if a >= t_rem - EPS), None)
        powered_until = cycle[0] if cycle else trace.end + 1.0
        watched = samples_from(trace, t_rem + b.removal_s, powered_until)
        if not watched:
            continue
        judged += 1
        held_once = False
        current_from = t_rem + b.removal_s + b.vehicle_response_s
        for s in samples_from(trace, t_rem, powered_until):
            pilot = s.pilot.get(u)
            over = pilot is not None and pilot > hold + b.pilot_tolerance_a + pilot_accuracy(trace, u)
            if not over:
                held_once = True
            if s.t < t_rem + b.removal_s - EPS:
                continue
            if over:
                late = not held_once
                violations.append(Violation(
                    s.t, (u,), {"pilot": pilot, "hold": hold},
                    (f"removed at t={t_rem:.1f} s but not held at 6 A within {b.removal_s:g} s" if late else
                     f"removed at t={t_rem:.1f} s, its 6 A hold ended {s.t - t_rem:.1f} s later, while still powered"),
                    f"removal_s={b.removal_s:g}", "removal.hold-late" if late else "removal.hold"))
                break
            current = measured(s, u)
            if s.t >= current_from - EPS and current is not None and current > hold + tolerance_a:
                violations.append(Violation(
                    s.t, (u,), {"current": current, "hold": hold},
                    f"removed at t={t_rem:.1f} s but draws over 6 A {s.t - t_rem:.1f} s later",
                    f"removal_s+vehicle_response_s={b.removal_s + b.vehicle_response_s:g}", "removal.hold-current"))
                break
        if cycle is None:
            notes.append(f"{u}: return after a breaker cycle not exercised (its breaker was never cycled)")
            continue
        restore = cycle[1]
        cap = tl.network(restore).caps[u]
        window_end = min(tl.next_unit_event(u, restore), trace.end + 1.0)
        window = [s for s in samples_from(trace, restore + b.reboot_s, window_end)
                  if (tl.demand_at(u, s.t) or 0.0) > 0.0]
        if not window:
            notes.append(f"{u}: return after the breaker cycle at t={restore:.1f} s not exercised (no sample with a "
                         f"vehicle asking for current from {b.reboot_s:g} s after it)")
            continue
        short = [s for s in window if (s.pilot.get(u) or 0.0) < cap - b.pwm_step_a - pilot_accuracy(trace, u)]
        if short:
            s = short[0]
            violations.append(Violation(
                s.t, (u,), {"pilot": s.pilot.get(u), "configured": cap, "short_samples": float(len(short)),
                            "window_samples": float(len(window))},
                f"not back to its configured {cap:g} A in {len(short)} of {len(window)} samples from {b.reboot_s:g} s "
                f"after the breaker cycle at t={restore:.1f} s", f"reboot_s={b.reboot_s:g}", "removal.return"))
    return verdict(CHECK, violations, judged, "removal(s)", used, "no unit was removed and watched afterwards", notes)
