"""The network limit's bounds: the leader accepts every limit from 6 A per unit up to the sum of nameplates
minus 1 A, and refuses every limit outside (seed 004)."""

from __future__ import annotations

from rig import gpm
from rig.checks.timeline import Timeline
from rig.checks.verdict import Verdict, Violation, verdict
from rig.trace import Trace

CHECK = "limit bounds"


def limit_bounds(trace: Trace) -> Verdict:
    """The leader accepts every valid limit and refuses every invalid one."""
    tl = Timeline(trace)
    violations: list[Violation] = []
    judged = 0
    for e in trace.events:
        if e.action not in ("set_limit", "set_limit_refused"):
            continue
        net = tl.network(e.t - 1e-6)
        if not net.members:
            continue
        asked = float(e.data["limit"])
        problem = gpm.limit_error(asked, [net.nameplates[u] for u in net.members])
        accepted = e.action == "set_limit"
        judged += 1
        if accepted and problem:
            violations.append(Violation(e.t, tuple(net.members), {"asked": asked},
                                        f"the leader accepted an invalid limit: {problem}", "",
                                        "limit-bounds.accepted-invalid"))
        elif not accepted and not problem:
            violations.append(Violation(e.t, tuple(net.members), {"asked": asked},
                                        f"the leader refused a valid limit ({e.data.get('reply', '')})", "",
                                        "limit-bounds.refused-valid"))
    return verdict(CHECK, violations, judged, "limit request(s)", {}, "no limit was requested")
