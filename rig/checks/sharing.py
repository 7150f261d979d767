"""Sharing by demand: judged by its outcome, with no exemption shaped around one way of sharing.

Seed 004: "Power Sharing werkt door alle beschikbare stroom zo efficiënt mogelijk te verdelen op basis van de
werkelijke stroom die door elk voertuig wordt gevraagd." and step 3: "Dit is de totale stroom die op
intelligente wijze wordt verdeeld over alle units waarmee voertuigen worden opgeladen."

Judged once `reallocation_s` has passed since the last change (`reboot_s` more after a unit rebooted) in a
healthy, enabled network with at least one vehicle that wants current:
- when the vehicles want less than the limit (less the utilisation allowance), each is offered what it wants,
  within the PWM's resolution (`sharing.demand-unmet`);
- when they want more, the network draws the limit, less an allowance that scales with the limit and with the
  number of charging vehicles (`sharing.unused`), for longer than a vehicle takes to follow a lowered pilot (a
  leader that lowers one vehicle to raise another leaves that much unused until the first has come down);
- a vehicle that draws nothing gives its share back, whatever its pilot state: it keeps at most the lowest
  offer a pilot can make (6 A) while another vehicle is offered less than it wants (`sharing.idle-share`);
- with the policy option `policy_every_waiting_vehicle_6a`, every vehicle that wants current is offered 6 A.
A connected vehicle that wants nothing may keep a pilot of at most 6 A (the lowest a pilot can offer): that
much of its offer counts as spoken for, whatever more it is offered does not.
"""

from __future__ import annotations

from rig import gpm
from rig.budgets import Budgets
from rig.checks.timeline import Timeline, measured, pilot_accuracy, samples_from
from rig.checks.verdict import Verdict, Violation, verdict
from rig.trace import Trace

CHECK = "sharing"


def utilisation_allowance(budgets: Budgets, limit: float, charging: int) -> float:
    """How much of the limit a fully demanded, settled network may leave unused."""
    return budgets.utilisation_pct / 100.0 * limit + budgets.utilisation_per_vehicle_a * charging


def sharing(trace: Trace, budgets: Budgets, tolerance_a: float) -> Verdict:
    """Current follows what each vehicle wants once the network has settled; see the module for the rules."""
    b = budgets
    used = {"reallocation_s": b.reallocation_s, "reboot_s": b.reboot_s, "vehicle_response_s": b.vehicle_response_s,
            "utilisation_pct": b.utilisation_pct,
            "utilisation_per_vehicle_a": b.utilisation_per_vehicle_a, "pwm_step_a": b.pwm_step_a,
            "pilot_tolerance_a": b.pilot_tolerance_a, "measurement_tolerance_a": tolerance_a,
            "policy_every_waiting_vehicle_6a": b.policy_every_waiting_vehicle_6a}
    tl = Timeline(trace)
    start = tl.commissioned_at()
    if start is None:
        return verdict(CHECK, [], 0, "", used, "no network was commissioned")
    violations: list[Violation] = []
    judged = 0
    last_bad: dict[str, float] = {}
    unused_since: float | None = None
    for s in samples_from(trace, start):
        settled = (s.t - tl.last_change(s.t) >= b.reallocation_s
                   and s.t - tl.last_reboot(s.t) >= b.reboot_s + b.reallocation_s)
        net = tl.network(s.t)
        if not settled or not net.enabled or not tl.healthy(s.t):
            unused_since = None
            continue
        wants = {u: min(d, net.caps[u]) for u in net.members if (d := tl.demand_at(u, s.t))}
        if not wants:
            continue
        idle = [u for u in net.members if tl.demand_at(u, s.t) == 0]
        spoken = sum(min(s.pilot.get(u) or 0.0, gpm.MIN_AMPS_PER_UNIT) for u in idle)
        available = net.limit - spoken
        allowance = utilisation_allowance(b, net.limit, len(wants))
        judged += 1
        found: list[Violation] = []
        short = {u: s.pilot.get(u) for u, w in wants.items()
                 if (s.pilot.get(u) or 0.0) < w - b.pwm_step_a - pilot_accuracy(trace, u)}
        total_want = sum(wants.values())
        if b.policy_every_waiting_vehicle_6a:
            for u, want in wants.items():
                pilot = s.pilot.get(u)
                if pilot is None or pilot < gpm.MIN_AMPS_PER_UNIT - b.pwm_step_a - pilot_accuracy(trace, u):
                    found.append(Violation(s.t, (u,), {"pilot": pilot, "wants": want},
                                           "a vehicle that wants current is offered under 6 A",
                                           "policy_every_waiting_vehicle_6a=on", "sharing.under-6a"))
        if total_want <= available - allowance:
            if short:
                found.append(Violation(s.t, tuple(short), {**short, "wanted_total": total_want, "limit": net.limit},
                                       "demand is under the limit, yet a vehicle is offered less than it wants",
                                       f"reallocation_s={b.reallocation_s:g}", "sharing.demand-unmet"))
        else:
            currents = [measured(s, u) for u in net.members]
            if all(c is not None for c in currents):
                drawn = sum(c for c in currents if c is not None)
                if drawn >= available - allowance - tolerance_a:
                    unused_since = None
                elif unused_since is None:
                    unused_since = s.t
                elif s.t - unused_since >= b.vehicle_response_s - 1e-9:
                    found.append(Violation(s.t, tuple(wants), {"drawn": drawn, "limit": net.limit,
                                                               "allowance": allowance, "wanted_total": total_want,
                                                               "unused_for_s": s.t - unused_since},
                                           f"demand is over the limit, yet the network leaves current unused "
                                           f"since t={unused_since:.1f} s",
                                           f"utilisation_pct={b.utilisation_pct:g}, "
                                           f"utilisation_per_vehicle_a={b.utilisation_per_vehicle_a:g}",
                                           "sharing.unused"))
        if short:
            for u in idle:
                pilot = s.pilot.get(u)
                if pilot is not None and pilot > gpm.MIN_AMPS_PER_UNIT + b.pilot_tolerance_a + pilot_accuracy(trace, u):
                    found.append(Violation(s.t, (u,), {"pilot": pilot, **short},
                                           f"a vehicle that draws nothing keeps {pilot:.1f} A while "
                                           f"{','.join(short)} want more", f"reallocation_s={b.reallocation_s:g}",
                                           "sharing.idle-share"))
        for v in found:  # one report per unit and rule per reallocation window, not one per sample
            key = v.rule_id + ",".join(v.units)
            if s.t - last_bad.get(key, float("-inf")) >= b.reallocation_s:
                violations.append(v)
                last_bad[key] = s.t
    return verdict(CHECK, violations, judged, "settled samples", used,
                   "no settled moment with a vehicle charging in a healthy enabled network")
