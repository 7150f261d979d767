"""Checks: pure functions of a trace and the network's facts, returning verdicts with their evidence.

A check never touches an instrument (DESIGN rule 3). It rebuilds what the network was at every moment from
the trace's events (who was in it, the limit, who was cut off), compares the measured samples with the rules
of `rig.gpm`, and says exactly when, which units, which values and which budget when it fails. A check whose
situation never occurred in the trace fails as "not exercised": a plan cannot pass by not testing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rig import gpm
from rig.budgets import Budgets
from rig.trace import Event, Trace


@dataclass(frozen=True)
class Violation:
    """One piece of evidence against the firmware."""

    t: float
    units: tuple[str, ...]
    values: dict[str, float | None]
    rule: str
    budget: str = ""

    def __str__(self) -> str:
        vals = " ".join(f"{k}={'no PWM' if v is None else f'{v:.2f}'}" for k, v in self.values.items())
        budget = f" [budget {self.budget}]" if self.budget else ""
        return f"t={self.t:.1f} s, {','.join(self.units)}: {self.rule} ({vals}){budget}"


@dataclass(frozen=True)
class Verdict:
    """The outcome of one check over one trace."""

    check: str
    passed: bool
    summary: str
    violations: tuple[Violation, ...] = ()
    budgets: dict[str, float] = field(default_factory=dict)

    def report(self, limit: int = 8) -> str:
        head = f"{self.check}: {'PASSED' if self.passed else 'FAILED'}: {self.summary}"
        lines = [head] + [f"  - {v}" for v in self.violations[:limit]]
        if len(self.violations) > limit:
            lines.append(f"  ... and {len(self.violations) - limit} more")
        if self.budgets:
            lines.append("  judged by: " + ", ".join(f"{k}={v:g}" for k, v in self.budgets.items()))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.report()


@dataclass
class Network:
    """The network at one moment, rebuilt from the trace's events."""

    leader: str | None = None
    followers: list[str] = field(default_factory=list)
    limit: float = 0.0
    enabled: bool = False

    @property
    def members(self) -> list[str]:
        return ([self.leader] if self.leader else []) + self.followers

    def fair(self, unit: str, trace: Trace) -> float:
        return gpm.fair_limit(self.limit, len(self.members), trace.units[unit]["capability_a"])


def network_at(trace: Trace, t: float) -> Network:
    """The network as commissioned and changed by every event up to time `t`."""
    net = Network()
    for e in trace.events:
        if e.t > t + 1e-9:
            break
        if e.action == "commission":
            net = Network(e.data["leader"], list(e.data["followers"]), float(e.data["limit"]), bool(e.data["enabled"]))
        elif e.action == "set_limit":
            net.limit = float(e.data["limit"])
        elif e.action == "enable":
            net.enabled = bool(e.data["on"])
        elif e.action == "remove" and e.unit in net.followers:
            net.followers.remove(e.unit)
    return net


def _first(events: list[Event], action: str, unit: str | None, after: float) -> Event | None:
    return next((e for e in events if e.action == action and e.unit == unit and e.t >= after), None)


def network_limit(trace: Trace, budgets: Budgets, tolerance_a: float) -> Verdict:
    """The advertised pilots never sum above the limit; the measured network current stays within the limit
    plus the measurement tolerance, apart from excursions shorter than `overshoot_s`."""
    used = {"overshoot_s": budgets.overshoot_s, "pilot_tolerance_a": budgets.pilot_tolerance_a,
            "measurement_tolerance_a": tolerance_a, "reallocation_s": budgets.reallocation_s}
    commissioned = [e.t for e in trace.events if e.action == "commission"]
    if not commissioned:
        return Verdict("network limit", False, "not exercised: no network was commissioned", budgets=used)
    start = commissioned[0]
    limit_changes = [e for e in trace.events if e.action in ("set_limit", "commission")]
    violations: list[Violation] = []
    excursion: list[tuple[float, float, dict[str, float]]] = []
    judged = 0

    def limit_in_force(t: float, net: Network) -> float:
        # a lowered limit is in force once the reallocation budget has passed
        earlier = [e for e in limit_changes if t - budgets.reallocation_s < e.t <= t and e.action == "set_limit"]
        if not earlier:
            return net.limit
        before = network_at(trace, earlier[0].t - 1e-6).limit
        return max(net.limit, before)

    def close_excursion(end_t: float) -> None:
        if excursion and end_t - excursion[0][0] > budgets.overshoot_s + 1e-9:
            t0, total, values = max(excursion, key=lambda x: x[1] - x[2]["_limit"])
            lim = values.pop("_limit")
            violations.append(Violation(
                excursion[0][0], tuple(values), {"network": total, "limit": lim, **values},
                f"measured network current above {lim:g} A + {tolerance_a:g} A for "
                f"{end_t - excursion[0][0]:.1f} s (peak at t={t0:.1f} s)", f"overshoot_s={budgets.overshoot_s:g}"))
        excursion.clear()

    for s in trace.samples:
        if s.t < start:
            continue
        net = network_at(trace, s.t)
        members = net.members
        limit = limit_in_force(s.t, net)
        judged += 1
        pilots = {u: s.pilot.get(u) for u in members}
        offered = sum(p for p in pilots.values() if p is not None)
        if offered > limit + budgets.pilot_tolerance_a * len(members):
            violations.append(Violation(s.t, tuple(members), {"sum": offered, "limit": limit, **pilots},
                                        f"advertised pilots sum to {offered:.2f} A over the {limit:g} A limit",
                                        f"pilot_tolerance_a={budgets.pilot_tolerance_a:g}"))
        currents = {u: s.current.get(u, 0.0) for u in members}
        total = sum(currents.values())
        if total > limit + tolerance_a:
            excursion.append((s.t, total, {**currents, "_limit": limit}))
        else:
            close_excursion(s.t)
    close_excursion(trace.end)
    if judged == 0:
        return Verdict("network limit", False, "not exercised: no sample after commissioning", budgets=used)
    if violations:
        return Verdict("network limit", False, f"{len(violations)} violation(s) in {judged} samples",
                       tuple(violations), used)
    return Verdict("network limit", True, f"{judged} samples within the limit", budgets=used)


@dataclass(frozen=True)
class CutOff:
    """A follower cut off from its leader between `start` and `end`."""

    unit: str
    start: float
    end: float
    cause: str


def cut_offs(trace: Trace) -> list[CutOff]:
    """Every span in which a powered follower could not hear its leader, and why."""
    spans: list[CutOff] = []
    ev = trace.events
    for e in ev:
        if e.action not in ("cut_wifi", "trip"):
            continue
        net = network_at(trace, e.t)
        if not net.leader or e.unit not in net.members:
            continue
        restore = _first(ev, "restore_wifi" if e.action == "cut_wifi" else "restore", e.unit, e.t)
        end = restore.t if restore else trace.end
        if e.unit == net.leader:
            cause = "leader Wi-Fi cut" if e.action == "cut_wifi" else "leader breaker tripped"
            for f in net.followers:
                spans.append(CutOff(f, e.t, end, cause))
        elif e.action == "cut_wifi":
            spans.append(CutOff(e.unit, e.t, end, "own Wi-Fi cut"))
    return spans


def _powered(trace: Trace, unit: str, t: float) -> bool:
    state = True
    for e in trace.events:
        if e.t > t:
            break
        if e.unit == unit and e.action in ("trip", "restore"):
            state = e.action == "restore"
    return state


def fair_fallback(trace: Trace, budgets: Budgets, tolerance_a: float) -> Verdict:
    """After a follower is cut off from its leader, its pilot is at or under its fair limit by
    `fallback_s`, its current by `fallback_s + vehicle_response_s`, and both stay there until the link returns."""
    used = {"fallback_s": budgets.fallback_s, "vehicle_response_s": budgets.vehicle_response_s,
            "pilot_tolerance_a": budgets.pilot_tolerance_a, "measurement_tolerance_a": tolerance_a}
    violations: list[Violation] = []
    judged = 0
    for span in cut_offs(trace):
        net = network_at(trace, span.start)
        fair = net.fair(span.unit, trace)
        pilot_from = span.start + budgets.fallback_s
        current_from = pilot_from + budgets.vehicle_response_s
        if span.end <= current_from:
            continue
        judged += 1
        for s in trace.samples:
            if not pilot_from <= s.t < span.end or not _powered(trace, span.unit, s.t):
                continue
            pilot = s.pilot.get(span.unit)
            if pilot is not None and pilot > fair + budgets.pilot_tolerance_a:
                violations.append(Violation(
                    s.t, (span.unit,), {"pilot": pilot, "fair": fair},
                    f"pilot over the fair limit {budgets.fallback_s:g} s after {span.cause} at t={span.start:.1f} s",
                    f"fallback_s={budgets.fallback_s:g}"))
                break
            current = s.current.get(span.unit, 0.0)
            if s.t >= current_from and current > fair + tolerance_a:
                violations.append(Violation(
                    s.t, (span.unit,), {"current": current, "fair": fair},
                    f"current over the fair limit after {span.cause} at t={span.start:.1f} s",
                    f"fallback_s+vehicle_response_s={budgets.fallback_s + budgets.vehicle_response_s:g}"))
                break
    if judged == 0:
        return Verdict("fair fallback", False, "not exercised: no follower was cut off long enough to judge",
                       budgets=used)
    if violations:
        return Verdict("fair fallback", False, f"{len(violations)} of {judged} cut-off(s) above the fair limit",
                       tuple(violations), used)
    return Verdict("fair fallback", True, f"{judged} cut-off follower(s) held their fair limit", budgets=used)


def removal_hold(trace: Trace, budgets: Budgets, tolerance_a: float) -> Verdict:
    """A removed unit is at or under 6 A until its breaker is cycled, and back to its configured maximum after."""
    used = {"removal_s": budgets.removal_s, "vehicle_response_s": budgets.vehicle_response_s,
            "reboot_s": budgets.reboot_s, "pilot_tolerance_a": budgets.pilot_tolerance_a,
            "measurement_tolerance_a": tolerance_a}
    hold = gpm.REMOVED_UNIT_AMPS
    violations: list[Violation] = []
    removals = [e for e in trace.events if e.action == "remove"]
    if not removals:
        return Verdict("removal hold", False, "not exercised: no unit was removed", budgets=used)
    for rem in removals:
        u = rem.unit
        assert u is not None
        trip = _first(trace.events, "trip", u, rem.t)
        restore = _first(trace.events, "restore", u, trip.t) if trip else None
        if trip is None or restore is None:
            return Verdict("removal hold", False, f"not exercised: {u}'s breaker was not cycled after removal",
                           budgets=used)
        cap = trace.units[u]["capability_a"]
        for s in trace.samples:
            if rem.t + budgets.removal_s <= s.t < trip.t:
                pilot = s.pilot.get(u)
                if pilot is not None and pilot > hold + budgets.pilot_tolerance_a:
                    violations.append(Violation(
                        s.t, (u,), {"pilot": pilot, "hold": hold},
                        f"removed at t={rem.t:.1f} s but advertises over 6 A before its breaker cycled "
                        f"at t={trip.t:.1f} s",
                        f"removal_s={budgets.removal_s:g}"))
                    break
                settled = rem.t + budgets.removal_s + budgets.vehicle_response_s
                if s.t >= settled and s.current.get(u, 0.0) > hold + tolerance_a:
                    violations.append(Violation(
                        s.t, (u,), {"current": s.current.get(u, 0.0), "hold": hold},
                        f"removed at t={rem.t:.1f} s but draws over 6 A",
                        f"removal_s+vehicle_response_s={budgets.removal_s + budgets.vehicle_response_s:g}"))
                    break
        after = [s for s in trace.samples if restore.t <= s.t <= restore.t + budgets.reboot_s]
        if not after or after[-1].t < restore.t + budgets.reboot_s - 1.0:
            return Verdict("removal hold", False, f"not exercised: the trace ends before {u} could return",
                           budgets=used)
        best = max((s.pilot.get(u) or 0.0 for s in after), default=0.0)
        if best < cap - budgets.pilot_tolerance_a:
            violations.append(Violation(after[-1].t, (u,), {"best_pilot": best, "configured": cap},
                                        f"not back to its configured {cap:g} A within {budgets.reboot_s:g} s of the "
                                        f"breaker cycle at t={restore.t:.1f} s", f"reboot_s={budgets.reboot_s:g}"))
    if violations:
        return Verdict("removal hold", False, f"{len(violations)} violation(s)", tuple(violations), used)
    return Verdict("removal hold", True, f"{len(removals)} removal(s): held 6 A, returned after the breaker cycle",
                   budgets=used)


def summary(verdicts: list[Verdict]) -> dict[str, Any]:
    """Verdicts as plain data, for reports."""
    return {v.check: {"passed": v.passed, "summary": v.summary, "violations": [str(x) for x in v.violations]}
            for v in verdicts}
