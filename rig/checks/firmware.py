"""Firmware requirements: 21.18.0 for group power management, 21.36.6 for a network of six (seeds 000, 004)."""

from __future__ import annotations

from rig import gpm
from rig.checks.verdict import Verdict, Violation, verdict

CHECK = "firmware requirement"


def firmware_requirement(versions: dict[str, str], members: list[str]) -> Verdict:
    """Every member reports firmware new enough for a network of this size (21.18.0; 21.36.6 for six)."""
    violations: list[Violation] = []
    for unit in members:
        version = versions.get(unit)
        if version is None:
            violations.append(Violation(0.0, (unit,), {}, "reports no firmware version", "", "firmware.no-version"))
            continue
        try:
            problem = gpm.firmware_error(version, len(members))
        except ValueError as exc:
            problem = str(exc)
        if problem:
            violations.append(Violation(0.0, (unit,), {}, f"{unit} runs {problem}", "", "firmware.too-old"))
    return verdict(CHECK, violations, len(members), "unit(s)", {}, "no unit in the network",
                   context={"members": list(members)})
