"""The others deliver less while a follower is lost, so the limit holds when it draws its fair limit.

Seed 004: "Als een van de Wall Connectors van een Power Sharing-netwerk niet beschikbaar is, leveren de andere
Wall Connectors van het netwerk minder vermogen om overschrijding van de maximale stroomsterkte te voorkomen."

A lost follower (Wi-Fi cut or breaker tripped, until it returns or is removed) may draw up to its fair limit on
its own. The promise is the outcome: from `fallback_s + vehicle_response_s` after the loss, what the others are
offered plus what the lost followers draw stays within the limit. With the policy option
`policy_reserve_by_fallback` the leader is held to one way of getting there: the others are offered no more than
the limit less every lost follower's fair limit, from `fallback_s` on.
"""

from __future__ import annotations

from rig.budgets import Budgets
from rig.checks.timeline import Timeline, measured, pilot_accuracy, spans
from rig.checks.verdict import Verdict, Violation, verdict
from rig.trace import Trace

CHECK = "reserve kept"


def reserve_kept(trace: Trace, budgets: Budgets) -> Verdict:
    """While followers are lost, the others' offers leave room for what the lost ones may draw; see the module."""
    b = budgets
    policy = b.policy_reserve_by_fallback
    tol = float(trace.header.get("measurement_tolerance_a", 0.5))
    used = {"fallback_s": b.fallback_s, "vehicle_response_s": b.vehicle_response_s,
            "pilot_tolerance_a": b.pilot_tolerance_a, "measurement_tolerance_a": tol,
            "policy_reserve_by_fallback": policy}
    delay = b.fallback_s if policy else b.fallback_s + b.vehicle_response_s
    tl = Timeline(trace)
    lost: list[tuple[str, float, float]] = []
    for unit in trace.units:
        for history in (tl.wifi[unit], tl.power[unit]):
            for start, end in spans(history, trace.end):
                if unit in tl.network(start).followers:
                    removed = next((t for t, u in tl.removals if u == unit and start <= t < end), None)
                    lost.append((unit, start, removed if removed is not None else end))
    violations: list[Violation] = []
    judged = 0
    reported = float("-inf")
    for s in trace.samples:
        net = tl.network(s.t)
        if not net.leader or not tl.powered(net.leader, s.t) or not tl.wifi_up(net.leader, s.t):
            continue
        gone = {u for u, a, z in lost if a + delay <= s.t < z and u in net.members}
        if not gone:
            continue
        others = {u: s.pilot.get(u) for u in net.members if u not in gone}
        offered = sum(p for p in others.values() if p is not None)
        slack = sum(b.pilot_tolerance_a + pilot_accuracy(trace, u) for u in others)
        if policy:
            reserve = sum(net.fair(u) for u in gone)
            allowed = net.limit - reserve + slack
            what = "the fair limits kept for"
        else:
            draws = [measured(s, u) for u in gone]
            if any(d is None for d in draws):
                continue
            reserve = sum(d for d in draws if d is not None)
            allowed = net.limit + slack + tol
            what = "what is drawn by"
        judged += 1
        if offered + (0.0 if policy else reserve) > allowed and s.t - reported >= b.fallback_s:
            reported = s.t
            violations.append(Violation(s.t, tuple(others), {"offered": offered, "limit": net.limit,
                                                             "reserve": reserve, **others},
                                        f"the others are offered more than the limit leaves beside {what} lost "
                                        f"{','.join(sorted(gone))}", f"fallback_s={b.fallback_s:g}",
                                        "reserve-kept.offered"))
    return verdict(CHECK, violations, judged, "samples with a lost follower", used,
                   "no follower was lost long enough (or its current was never measured)")
