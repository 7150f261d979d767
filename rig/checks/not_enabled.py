"""A network that is not enabled charges nothing; once enabled, it charges its waiting vehicles.

Seed 004: "Opmerking: Geen enkele unit in het netwerk kan een aangesloten voertuig opladen als Power Sharing
niet is ingeschakeld."

While the network is not enabled (from its commissioning, or `disabled_s` after it is disabled: a safety
reduction with its own budget) no member with a vehicle connected advertises a pilot or draws current (the
current `vehicle_response_s` later). Once enabled and settled (`reallocation_s`), the waiting vehicles are
offered current: the network is not left idle (within the utilisation allowance), and with the policy option
`policy_every_waiting_vehicle_6a` every one of them is offered 6 A.
"""

from __future__ import annotations

from rig import gpm
from rig.budgets import Budgets
from rig.checks.sharing import utilisation_allowance
from rig.checks.timeline import EPS, Timeline, measured, pilot_accuracy, samples_from
from rig.checks.verdict import Verdict, Violation, verdict
from rig.trace import Trace

CHECK = "network not enabled"


def not_enabled(trace: Trace, budgets: Budgets, tolerance_a: float) -> Verdict:
    """Nothing charges while the network is not enabled; an enabled network charges; see the module."""
    b = budgets
    used = {"disabled_s": b.disabled_s, "vehicle_response_s": b.vehicle_response_s,
            "reallocation_s": b.reallocation_s, "pwm_step_a": b.pwm_step_a, "measurement_tolerance_a": tolerance_a,
            "policy_every_waiting_vehicle_6a": b.policy_every_waiting_vehicle_6a}
    tl = Timeline(trace)
    start = tl.commissioned_at()
    if start is None:
        return verdict(CHECK, [], 0, "", used, "no network was commissioned")
    violations: list[Violation] = []
    judged_off = judged_on = 0
    reported: dict[str, float] = {}

    def report(v: Violation) -> None:
        key = v.rule_id + ",".join(v.units)
        if v.t - reported.get(key, float("-inf")) >= b.reallocation_s:
            reported[key] = v.t
            violations.append(v)

    for s in samples_from(trace, start):
        net = tl.network(s.t)
        if not net.enabled:
            since = max((t for t in tl.disabled if t <= s.t + EPS), default=None)
            if since is not None and s.t < since + b.disabled_s - EPS:
                continue
            late = since is not None and s.t < since + b.disabled_s + b.reallocation_s
            rid = "not-enabled.disable-late" if late else "not-enabled.charges"
            for u in net.members:
                if tl.demand_at(u, s.t) is None:
                    continue
                judged_off += 1
                pilot = s.pilot.get(u)
                current = measured(s, u)
                current_due = since is None or s.t >= since + b.disabled_s + b.vehicle_response_s - EPS
                if pilot is not None or (current_due and current is not None and current > tolerance_a):
                    what = (f"still charges {s.t - since:.1f} s after the network was disabled" if since is not None
                            else "charges while the network is not enabled")
                    report(Violation(s.t, (u,), {"pilot": pilot, "current": current}, what,
                                     f"disabled_s={b.disabled_s:g}" if since is not None else "", rid))
        elif (tl.healthy(s.t) and s.t - tl.last_change(s.t) >= b.reallocation_s
              and s.t - tl.last_reboot(s.t) >= b.reboot_s + b.reallocation_s):
            wants = {u: min(d, net.caps[u]) for u in net.members if (d := tl.demand_at(u, s.t))}
            if not wants:
                continue
            judged_on += 1
            offered = {u: s.pilot.get(u) for u in wants}
            if b.policy_every_waiting_vehicle_6a:
                for u, pilot in offered.items():
                    if pilot is None or pilot < gpm.MIN_AMPS_PER_UNIT - b.pwm_step_a - pilot_accuracy(trace, u):
                        report(Violation(s.t, (u,), {"pilot": pilot}, "enabled network does not offer a waiting "
                                         "vehicle 6 A", "policy_every_waiting_vehicle_6a=on", "not-enabled.no-offer"))
            total = sum(p for p in offered.values() if p is not None)
            due = min(sum(wants.values()), net.limit) - utilisation_allowance(b, net.limit, len(wants))
            if total < due:
                report(Violation(s.t, tuple(wants), {"offered": total, "due": due, "limit": net.limit},
                                 "enabled network leaves its waiting vehicles without the current it has",
                                 f"reallocation_s={b.reallocation_s:g}", "not-enabled.idle"))
    if judged_off == 0 or judged_on == 0:
        return verdict(CHECK, [], 0, "", used, "needs a connected vehicle both while disabled and once enabled")
    return verdict(CHECK, violations, judged_off + judged_on, "unit samples", used, "")
