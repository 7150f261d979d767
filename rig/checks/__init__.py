"""Checks: pure functions of a trace and the network's facts, returning verdicts with their evidence.

A check never touches an instrument (DESIGN rule 3). It rebuilds what the network was at every moment from
the trace's events (who was in it, the limit, each unit's setting, who was cut off) with a `Timeline`,
compares the measured samples with the rules of `rig.gpm`, and says exactly when, which units, which values,
which budget and which rule (a stable id, see `RULES`) when it fails. A check whose situation never occurred in
the trace fails as "not exercised": a plan cannot pass by not testing.

The checks judge outcomes, never a policy: a firmware may share by equal shares, in proportion to demand or
first come first served, react fast or slowly within its budgets, and round its PWM coarsely, and passes as long
as it keeps the promises. One module per check; `REGISTRY` maps each check's name to a function of (trace,
budgets, measurement tolerance), which is how `rig judge` judges a stored trace again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rig.budgets import Budgets
from rig.checks.bounds import limit_bounds
from rig.checks.capability import capability
from rig.checks.fallback import CutOff, cut_offs, fair_fallback
from rig.checks.firmware import firmware_requirement
from rig.checks.network_limit import network_limit
from rig.checks.not_enabled import not_enabled
from rig.checks.removal import removal_hold
from rig.checks.reserve import reserve_kept
from rig.checks.sharing import sharing
from rig.checks.timeline import Network, Timeline
from rig.checks.verdict import RULES, Verdict, Violation
from rig.trace import Trace

__all__ = [
    "REGISTRY", "RULES", "CutOff", "Network", "Timeline", "Verdict", "Violation", "capability", "cut_offs",
    "fair_fallback", "firmware_requirement", "judged_note", "limit_bounds", "network_limit", "not_enabled",
    "rejudge", "removal_hold", "reserve_kept", "sharing", "summary",
]

Judge = Callable[[Trace, Budgets, float, dict[str, Any]], Verdict]


def _firmware(trace: Trace, budgets: Budgets, tolerance_a: float, context: dict[str, Any]) -> Verdict:
    return firmware_requirement(dict(trace.header.get("firmware_versions") or {}), list(context.get("members", [])))


REGISTRY: dict[str, Judge] = {
    "network limit": lambda t, b, tol, ctx: network_limit(t, b, tol),
    "fair fallback": lambda t, b, tol, ctx: fair_fallback(t, b, tol),
    "removal hold": lambda t, b, tol, ctx: removal_hold(t, b, tol),
    "sharing": lambda t, b, tol, ctx: sharing(t, b, tol),
    "network not enabled": lambda t, b, tol, ctx: not_enabled(t, b, tol),
    "capability": lambda t, b, tol, ctx: capability(t, b),
    "reserve kept": lambda t, b, tol, ctx: reserve_kept(t, b),
    "limit bounds": lambda t, b, tol, ctx: limit_bounds(t),
    "firmware requirement": _firmware,
}
"""Every check by its name, as a function of (trace, budgets, measurement tolerance, the verdict's context)."""


def judged_note(verdicts: list[Verdict], earlier: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """What a trace records about the checks that judged it (its header's `judged`): each check's name and the
    context it needs to be judged again. `earlier` is what the trace already recorded; a check judged twice is
    listed once."""
    note = [dict(entry) for entry in (earlier or [])]
    names = {entry["check"] for entry in note}
    for v in verdicts:
        if v.check not in names:
            names.add(v.check)
            note.append({"check": v.check, **v.context})
    return note


def rejudge(trace: Trace, budgets: Budgets, tolerance_a: float | None = None) -> list[Verdict]:
    """Judge a stored trace again, with other budgets, by every check its header says judged it."""
    tol = float(trace.header.get("measurement_tolerance_a", 0.5)) if tolerance_a is None else tolerance_a
    verdicts = []
    for entry in trace.header.get("judged") or []:
        name = entry.get("check")
        if name not in REGISTRY:
            raise ValueError(f"the trace names an unknown check {name!r}")
        verdicts.append(REGISTRY[name](trace, budgets, tol, {k: v for k, v in entry.items() if k != "check"}))
    return verdicts


def summary(verdicts: list[Verdict]) -> dict[str, Any]:
    """Verdicts as plain data, for reports."""
    return {v.check: {"passed": v.passed, "summary": v.summary, "rules": v.rules,
                      "violations": [str(x) for x in v.violations]} for v in verdicts}
