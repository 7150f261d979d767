"""Verdicts: what a check found, with the evidence an engineer needs the next morning.

Every piece of evidence (`Violation`) names the rule it broke by a stable id (`network-limit.too-high`,
`fair-fallback.raised`, ...): reports, `rig judge` and the rig's own teeth test match on the id, never on the
wording, so the wording can improve without breaking anything. `RULES` lists every id with what it means.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

RULES: dict[str, str] = {
    "network-limit.offered": "the advertised pilots sum above the network limit in force",
    "network-limit.lowered-late": "the pilots still sum above a lowered limit after limit_lowered_s",
    "network-limit.too-long": "one excursion of the measured network current lasts longer than overshoot_s",
    "network-limit.too-high": "an excursion rises more than overshoot_peak_pct above the limit",
    "network-limit.accumulated": "overshoot within overshoot_window_s adds up to more than overshoot_area_s x limit",
    "network-limit.too-many": "more than overshoot_count excursions start within overshoot_window_s",
    "fair-fallback.raised": "a cut-off unit offers more than it had been given before its fallback deadline",
    "fair-fallback.pilot": "a cut-off unit advertises more than its fair limit after fallback_s",
    "fair-fallback.current": "a cut-off unit draws more than its fair limit after fallback_s + vehicle_response_s",
    "fair-fallback.boot": "a follower that powered up without hearing its leader offers more than its fair limit",
    "fair-fallback.isolated-leader": "a leader cut off from every follower offers itself more than the limit "
                                     "less its followers' fair limits",
    "removal.hold-late": "a removed unit is not held at 6 A within removal_s",
    "removal.hold": "a removed unit's 6 A hold ends while it stays powered",
    "removal.hold-current": "a removed unit draws more than 6 A while it stays powered",
    "removal.return": "after the breaker cycle the unit does not offer its configured maximum over the whole window",
    "sharing.demand-unmet": "the vehicles want less than the limit, yet one is offered less than it wants",
    "sharing.unused": "the vehicles want more than the limit, yet the network leaves more than the allowance unused",
    "sharing.idle-share": "a vehicle that draws nothing keeps more than 6 A while another wants more",
    "sharing.under-6a": "policy option: a vehicle that wants current is offered under 6 A",
    "capability.over": "a unit is offered more than its own maximum output",
    "reserve-kept.offered": "the others are offered the share a lost follower may still draw",
    "limit-bounds.accepted-invalid": "the leader accepted a limit outside 6 A per unit .. nameplates - 1 A",
    "limit-bounds.refused-valid": "the leader refused a valid limit",
    "firmware.too-old": "a member runs firmware older than its network size needs",
    "firmware.no-version": "a member reports no firmware version",
    "not-enabled.charges": "a unit charges while the network is not enabled",
    "not-enabled.disable-late": "a unit still charges disabled_s after the network was disabled",
    "not-enabled.idle": "an enabled network leaves its waiting vehicles without current",
    "not-enabled.no-offer": "policy option: an enabled network does not offer a waiting vehicle 6 A",
}
"""Every rule id a check can report, and what it means."""


@dataclass(frozen=True)
class Violation:
    """One piece of evidence against the firmware: when, which units, which values, which rule and budget."""

    t: float
    units: tuple[str, ...]
    values: dict[str, float | None]
    rule: str
    """What happened, in words."""
    budget: str = ""
    rule_id: str = ""
    """The stable id of the rule broken (a key of `RULES`)."""

    def __str__(self) -> str:
        vals = " ".join(f"{k}={'none' if v is None else f'{v:.2f}'}" for k, v in self.values.items())
        budget = f" [budget {self.budget}]" if self.budget else ""
        rid = f"[{self.rule_id}] " if self.rule_id else ""
        return f"t={self.t:.1f} s, {','.join(self.units)}: {rid}{self.rule} ({vals}){budget}"


@dataclass(frozen=True)
class Verdict:
    """The outcome of one check over one trace."""

    check: str
    passed: bool
    summary: str
    violations: tuple[Violation, ...] = ()
    budgets: dict[str, Any] = field(default_factory=dict)
    exercised: bool = True
    """False when the trace never reached the situation the check judges (the verdict then fails)."""
    context: dict[str, Any] = field(default_factory=dict)
    """What the check needs besides the trace to be judged again (`rig judge`), e.g. a network's members."""

    @property
    def rules(self) -> list[str]:
        """The ids of the rules that fired, in order of first evidence."""
        return list(dict.fromkeys(v.rule_id for v in self.violations if v.rule_id))

    def report(self, limit: int = 8) -> str:
        head = f"{self.check}: {'PASSED' if self.passed else 'FAILED'}: {self.summary}"
        lines = [head]
        if self.rules:
            lines.append("  rules: " + ", ".join(self.rules))
        lines += [f"  - {v}" for v in self.violations[:limit]]
        if len(self.violations) > limit:
            lines.append(f"  ... and {len(self.violations) - limit} more")
        if self.budgets:
            lines.append("  judged by: " + ", ".join(f"{k}={_fmt(v)}" for k, v in self.budgets.items()))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.report()


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return f"{value:g}" if isinstance(value, float | int) else str(value)


NOT_EXERCISED = "not exercised: "


def verdict(check: str, violations: list[Violation], judged: int, what: str, used: dict[str, Any],
            not_exercised: str, notes: list[str] | None = None, context: dict[str, Any] | None = None) -> Verdict:
    """The verdict of a check that judged `judged` situations (samples, cut-offs...) and found `violations`.

    Nothing judged means "not exercised", which fails: a plan cannot pass by not testing. `notes` name parts
    of the check the trace did not reach (a rule judged on measurements when no measurement was taken), so a
    pass never hides them."""
    extra = "; " + "; ".join(notes) if notes else ""
    ctx = context or {}
    if judged == 0:
        return Verdict(check, False, f"{NOT_EXERCISED}{not_exercised}", budgets=used, exercised=False, context=ctx)
    if violations:
        return Verdict(check, False, f"{len(violations)} violation(s) in {judged} {what}{extra}", tuple(violations),
                       used, context=ctx)
    return Verdict(check, True, f"{judged} {what} judged, all kept the rule{extra}", budgets=used, context=ctx)
