"""Each unit's own capability: no unit is ever offered more than its own maximum output.

Seed 004 (mixed breakers): each unit keeps its own branch-circuit setting; seed 000: the fair limit is
"bounded to within a single unit's capability". A lowered setting is a safety reduction: in force
`limit_lowered_s` after the command.
"""

from __future__ import annotations

from rig.budgets import Budgets
from rig.checks.timeline import Timeline, pilot_accuracy
from rig.checks.verdict import Verdict, Violation, verdict
from rig.trace import Trace

CHECK = "capability"


def capability(trace: Trace, budgets: Budgets) -> Verdict:
    """No unit is ever offered more than its own maximum output (its branch-circuit setting)."""
    used = {"pilot_tolerance_a": budgets.pilot_tolerance_a, "limit_lowered_s": budgets.limit_lowered_s}
    tl = Timeline(trace)
    violations: list[Violation] = []
    judged = 0
    reported: set[str] = set()
    for s in trace.samples:
        for u, pilot in s.pilot.items():
            if u not in tl.power:
                continue
            judged += 1
            if pilot is None or u in reported:
                continue
            cap = tl.highest_cap(u, s.t - budgets.limit_lowered_s, s.t)
            if pilot > cap + budgets.pilot_tolerance_a + pilot_accuracy(trace, u):
                reported.add(u)
                violations.append(Violation(s.t, (u,), {"pilot": pilot, "capability": cap},
                                            "offered more than its own maximum output",
                                            f"pilot_tolerance_a={budgets.pilot_tolerance_a:g}", "capability.over"))
    return verdict(CHECK, violations, judged, "pilot samples", used, "no sample")
