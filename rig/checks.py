"""Checks: pure functions of a trace and the network's facts, returning verdicts with their evidence.

A check never touches an instrument (DESIGN rule 3). It rebuilds what the network was at every moment from
the trace's events (who was in it, the limit, each unit's setting, who was cut off) with a `Timeline`,
compares the measured samples with the rules of `rig.gpm`, and says exactly when, which units, which values
and which budget when it fails. A check whose situation never occurred in the trace fails as "not exercised":
a plan cannot pass by not testing.

The checks judge outcomes, never a policy: a firmware may share by equal shares, in proportion to demand or
first come first served, and passes as long as it keeps the promises.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field, replace
from typing import Any

from rig import gpm
from rig.budgets import Budgets
from rig.trace import Sample, Trace

# -- verdicts ---------------------------------------------------------------------------------------------------


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


def _verdict(check: str, violations: list[Violation], judged: int, what: str, used: dict[str, float],
             not_exercised: str) -> Verdict:
    if judged == 0:
        return Verdict(check, False, f"not exercised: {not_exercised}", budgets=used)
    if violations:
        return Verdict(check, False, f"{len(violations)} violation(s) in {judged} {what}", tuple(violations), used)
    return Verdict(check, True, f"{judged} {what} judged, all kept the rule", budgets=used)


# -- the network over time ----------------------------------------------------------------------------------------


@dataclass
class Network:
    """The network at one moment, rebuilt from the trace's events."""

    leader: str | None = None
    followers: tuple[str, ...] = ()
    limit: float = 0.0
    enabled: bool = False
    caps: dict[str, float] = field(default_factory=dict)
    nameplates: dict[str, float] = field(default_factory=dict)

    @property
    def members(self) -> list[str]:
        return ([self.leader] if self.leader else []) + list(self.followers)

    @property
    def size(self) -> int:
        return len(self.members)

    def fair(self, unit: str) -> float:
        return gpm.fair_limit(self.limit, self.size, self.caps[unit])


class Timeline:
    """Every fact the events establish, looked up by time in O(log n)."""

    def __init__(self, trace: Trace) -> None:
        self.trace = trace
        units = trace.units
        net = Network(caps={u: float(v["capability_a"]) for u, v in units.items()},
                      nameplates={u: float(v["nameplate_a"]) for u, v in units.items()})
        self._times: list[float] = [float("-inf")]
        self._nets: list[Network] = [net]
        self.power: dict[str, list[tuple[float, bool]]] = {u: [] for u in units}
        self.wifi: dict[str, list[tuple[float, bool]]] = {u: [] for u in units}
        self.demand: dict[str, list[tuple[float, float | None]]] = {u: [] for u in units}
        self.reboots: list[float] = []
        """Times a unit started rebooting: its breaker closed again, or the leader paired a follower."""
        self.changes: list[float] = []
        """Times of every event that changes what the network should be doing."""
        for e in trace.events:
            n = self._nets[-1]
            new: Network | None = None
            if e.action == "commission":
                new = replace(n, leader=e.data["leader"], followers=tuple(e.data["followers"]),
                              limit=float(e.data["limit"]), enabled=bool(e.data["enabled"]))
            elif e.action == "set_limit":
                new = replace(n, limit=float(e.data["limit"]))
            elif e.action == "enable":
                new = replace(n, enabled=bool(e.data["on"]))
            elif e.action == "remove" and e.unit in n.followers:
                new = replace(n, followers=tuple(f for f in n.followers if f != e.unit))
            elif e.action == "add_follower" and e.unit not in n.members:
                new = replace(n, followers=(*n.followers, e.unit))
            elif e.action == "set_max_output":
                new = replace(n, caps={**n.caps, e.unit: float(e.data["amps"])})
            elif e.action in ("trip", "restore") and e.unit:
                self.power[e.unit].append((e.t, e.action == "restore"))
            elif e.action in ("cut_wifi", "restore_wifi") and e.unit:
                self.wifi[e.unit].append((e.t, e.action == "restore_wifi"))
            elif e.action in ("plug", "set_demand") and e.unit:
                self.demand[e.unit].append((e.t, float(e.data["demand_a"])))
            elif e.action == "unplug" and e.unit:
                self.demand[e.unit].append((e.t, None))
            if new is not None:
                self._times.append(e.t)
                self._nets.append(new)
            if e.action not in ("safe_state", "set_limit_refused", "note"):
                self.changes.append(e.t)
            if e.action in ("restore", "add_follower"):
                self.reboots.append(e.t)

    def network(self, t: float) -> Network:
        return self._nets[bisect.bisect_right(self._times, t + 1e-9) - 1]

    def highest_limit(self, start: float, end: float) -> float:
        """The highest network limit in force at any moment from `start` to `end`."""
        first = bisect.bisect_right(self._times, start + 1e-9) - 1
        last = bisect.bisect_right(self._times, end + 1e-9) - 1
        return max(n.limit for n in self._nets[first:last + 1])

    @staticmethod
    def _state(history: list[tuple[float, Any]], t: float, default: Any) -> Any:
        i = bisect.bisect_right(history, t + 1e-9, key=lambda item: item[0])
        return history[i - 1][1] if i else default

    def powered(self, unit: str, t: float) -> bool:
        return self._state(self.power[unit], t, True)

    def wifi_up(self, unit: str, t: float) -> bool:
        return self._state(self.wifi[unit], t, True)

    def demand_at(self, unit: str, t: float) -> float | None:
        """What the vehicle on `unit` wants at `t`, or None when no vehicle is plugged in."""
        return self._state(self.demand[unit], t, None)

    def last_change(self, t: float) -> float:
        """When the network's situation last changed at or before `t`."""
        i = bisect.bisect_right(self.changes, t + 1e-9)
        return self.changes[i - 1] if i else float("-inf")

    def last_reboot(self, t: float) -> float:
        i = bisect.bisect_right(self.reboots, t + 1e-9)
        return self.reboots[i - 1] if i else float("-inf")

    def commissioned_at(self) -> float | None:
        return next((e.t for e in self.trace.events if e.action == "commission"), None)

    def healthy(self, t: float) -> bool:
        """Every member powered and on Wi-Fi."""
        net = self.network(t)
        return all(self.powered(u, t) and self.wifi_up(u, t) for u in net.members)


def _samples_from(trace: Trace, start: float) -> list[Sample]:
    times = [s.t for s in trace.samples]
    return trace.samples[bisect.bisect_left(times, start - 1e-9):]


# -- network limit ------------------------------------------------------------------------------------------------


def network_limit(trace: Trace, budgets: Budgets, tolerance_a: float) -> Verdict:
    """The advertised pilots never sum above the limit; the measured network current stays within the limit
    plus the measurement tolerance, apart from excursions shorter than `overshoot_s`. A lowered limit is in
    force once `reallocation_s` has passed."""
    used = {"overshoot_s": budgets.overshoot_s, "pilot_tolerance_a": budgets.pilot_tolerance_a,
            "measurement_tolerance_a": tolerance_a, "reallocation_s": budgets.reallocation_s}
    tl = Timeline(trace)
    start = tl.commissioned_at()
    if start is None:
        return _verdict("network limit", [], 0, "samples", used, "no network was commissioned")
    violations: list[Violation] = []
    excursion: list[tuple[float, float, dict[str, float]]] = []
    judged = 0

    def limit_in_force(t: float) -> float:
        return tl.highest_limit(t - budgets.reallocation_s, t)

    def close_excursion(end_t: float) -> None:
        if excursion and end_t - excursion[0][0] > budgets.overshoot_s + 1e-9:
            t_peak, total, values = max(excursion, key=lambda x: x[1] - x[2]["limit"])
            violations.append(Violation(
                excursion[0][0], tuple(k for k in values if k != "limit"), {"network": total, **values},
                f"measured network current above {values['limit']:g} A + {tolerance_a:g} A for "
                f"{end_t - excursion[0][0]:.1f} s (peak at t={t_peak:.1f} s)", f"overshoot_s={budgets.overshoot_s:g}"))
        excursion.clear()

    for s in _samples_from(trace, start):
        members = tl.network(s.t).members
        limit = limit_in_force(s.t)
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
            excursion.append((s.t, total, {**currents, "limit": limit}))
        else:
            close_excursion(s.t)
    close_excursion(trace.end)
    return _verdict("network limit", violations, judged, "samples", used, "no sample after commissioning")


# -- fair fallback --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CutOff:
    """A follower cut off from its leader between `start` and `end`."""

    unit: str
    start: float
    end: float
    cause: str


def _spans(history: list[tuple[float, bool]], end: float) -> list[tuple[float, float]]:
    """(down, up) spans of a True/False history (False = down)."""
    spans, down = [], None
    for t, up in history:
        if not up and down is None:
            down = t
        elif up and down is not None:
            spans.append((down, t))
            down = None
    if down is not None:
        spans.append((down, end))
    return spans


def cut_offs(trace: Trace, tl: Timeline | None = None) -> list[CutOff]:
    """Every span in which a powered follower could not hear its leader, and why."""
    tl = tl or Timeline(trace)
    spans: list[CutOff] = []
    for unit in trace.units:
        for kind, history in (("Wi-Fi cut", tl.wifi[unit]), ("breaker tripped", tl.power[unit])):
            for start, end in _spans(history, trace.end):
                net = tl.network(start)
                if not net.leader or unit not in net.members:
                    continue
                if unit == net.leader:
                    spans += [CutOff(f, start, end, f"leader {kind}") for f in net.followers]
                elif kind == "Wi-Fi cut":
                    spans.append(CutOff(unit, start, end, "own Wi-Fi cut"))
    return spans


def fair_fallback(trace: Trace, budgets: Budgets, tolerance_a: float) -> Verdict:
    """After a follower is cut off from its leader, its pilot is at or under its fair limit by
    `fallback_s`, its current by `fallback_s + vehicle_response_s`, and both stay there until the link returns."""
    used = {"fallback_s": budgets.fallback_s, "vehicle_response_s": budgets.vehicle_response_s,
            "pilot_tolerance_a": budgets.pilot_tolerance_a, "measurement_tolerance_a": tolerance_a}
    tl = Timeline(trace)
    violations: list[Violation] = []
    judged = 0
    for span in cut_offs(trace, tl):
        net = tl.network(span.start)
        if span.unit not in net.members:
            continue
        fair = net.fair(span.unit)
        pilot_from = span.start + budgets.fallback_s
        current_from = pilot_from + budgets.vehicle_response_s
        if span.end <= current_from:
            continue
        judged += 1
        for s in _samples_from(trace, pilot_from):
            if s.t >= span.end:
                break
            if not tl.powered(span.unit, s.t) or span.unit not in tl.network(s.t).members:
                continue
            pilot = s.pilot.get(span.unit)
            if pilot is not None and pilot > fair + budgets.pilot_tolerance_a:
                violations.append(Violation(
                    s.t, (span.unit,), {"pilot": pilot, "fair": fair},
                    f"pilot over the fair limit {s.t - span.start:.1f} s after {span.cause} at t={span.start:.1f} s",
                    f"fallback_s={budgets.fallback_s:g}"))
                break
            current = s.current.get(span.unit, 0.0)
            if s.t >= current_from and current > fair + tolerance_a:
                violations.append(Violation(
                    s.t, (span.unit,), {"current": current, "fair": fair},
                    f"current over the fair limit after {span.cause} at t={span.start:.1f} s",
                    f"fallback_s+vehicle_response_s={budgets.fallback_s + budgets.vehicle_response_s:g}"))
                break
    return _verdict("fair fallback", violations, judged, "cut-off(s)", used,
                    "no follower was cut off long enough to judge")


# -- removal ------------------------------------------------------------------------------------------------


def removal_hold(trace: Trace, budgets: Budgets, tolerance_a: float) -> Verdict:
    """A removed unit is at or under 6 A until its breaker is cycled, and back to its configured maximum after."""
    used = {"removal_s": budgets.removal_s, "vehicle_response_s": budgets.vehicle_response_s,
            "reboot_s": budgets.reboot_s, "pilot_tolerance_a": budgets.pilot_tolerance_a,
            "measurement_tolerance_a": tolerance_a}
    tl = Timeline(trace)
    hold = gpm.REMOVED_UNIT_AMPS
    violations: list[Violation] = []
    judged = 0
    for rem in (e for e in trace.events if e.action == "remove"):
        u = rem.unit
        assert u is not None
        cycle = next(((a, b) for a, b in _spans(tl.power[u], trace.end) if a >= rem.t), None)
        if cycle is None or cycle[1] + budgets.reboot_s > trace.end + 1e-9:
            continue
        trip, restore = cycle
        judged += 1
        settled = rem.t + budgets.removal_s + budgets.vehicle_response_s
        for s in _samples_from(trace, rem.t + budgets.removal_s):
            if s.t >= trip:
                break
            pilot = s.pilot.get(u)
            if pilot is not None and pilot > hold + budgets.pilot_tolerance_a:
                violations.append(Violation(
                    s.t, (u,), {"pilot": pilot, "hold": hold},
                    f"removed at t={rem.t:.1f} s but advertises over 6 A before its breaker cycled at t={trip:.1f} s",
                    f"removal_s={budgets.removal_s:g}"))
                break
            if s.t >= settled and s.current.get(u, 0.0) > hold + tolerance_a:
                violations.append(Violation(
                    s.t, (u,), {"current": s.current.get(u, 0.0), "hold": hold},
                    f"removed at t={rem.t:.1f} s but draws over 6 A",
                    f"removal_s+vehicle_response_s={budgets.removal_s + budgets.vehicle_response_s:g}"))
                break
        cap = tl.network(restore).caps[u]
        after = [s for s in _samples_from(trace, restore) if s.t <= restore + budgets.reboot_s]
        best = max((s.pilot.get(u) or 0.0 for s in after), default=0.0)
        if best < cap - budgets.pilot_tolerance_a:
            violations.append(Violation(
                restore + budgets.reboot_s, (u,), {"best_pilot": best, "configured": cap},
                f"not back to its configured {cap:g} A within {budgets.reboot_s:g} s of the breaker cycle "
                f"at t={restore:.1f} s", f"reboot_s={budgets.reboot_s:g}"))
    return _verdict("removal hold", violations, judged, "removal(s)", used,
                    "no removed unit had its breaker cycled with time to return")


# -- network configuration bounds ------------------------------------------------------------------------


def limit_bounds(trace: Trace) -> Verdict:
    """The leader accepts every limit from 6 A per unit up to the sum of nameplates minus 1 A, and refuses
    every limit outside."""
    tl = Timeline(trace)
    violations: list[Violation] = []
    judged = 0
    for e in trace.events:
        if e.action not in ("set_limit", "set_limit_refused"):
            continue
        net = tl.network(e.t - 1e-6)
        asked = float(e.data["limit"])
        problem = gpm.limit_error(asked, [net.nameplates[u] for u in net.members])
        accepted = e.action == "set_limit"
        judged += 1
        if accepted and problem:
            violations.append(Violation(e.t, tuple(net.members), {"asked": asked},
                                        f"the leader accepted an invalid limit: {problem}"))
        elif not accepted and not problem:
            violations.append(Violation(e.t, tuple(net.members), {"asked": asked},
                                        f"the leader refused a valid limit ({e.data.get('reply', '')})"))
    return _verdict("limit bounds", violations, judged, "limit request(s)", {}, "no limit was requested")


# -- firmware requirements ----------------------------------------------------------------------------------


def firmware_requirement(versions: dict[str, str], members: list[str]) -> Verdict:
    """Every member reports firmware new enough for a network of this size (21.18.0; 21.36.6 for six)."""
    violations: list[Violation] = []
    for unit in members:
        version = versions.get(unit)
        if version is None:
            violations.append(Violation(0.0, (unit,), {}, "reports no firmware version"))
            continue
        try:
            problem = gpm.firmware_error(version, len(members))
        except ValueError as exc:
            problem = str(exc)
        if problem:
            violations.append(Violation(0.0, (unit,), {}, f"{unit} runs {problem}"))
    return _verdict("firmware requirement", violations, len(members), "unit(s)", {}, "no unit in the network")


# -- network not enabled ----------------------------------------------------------------------------------


def not_enabled(trace: Trace, budgets: Budgets, tolerance_a: float) -> Verdict:
    """While the network is not enabled no member charges a connected vehicle; once enabled, every connected
    vehicle that wants current is offered at least 6 A within `reallocation_s`."""
    used = {"reallocation_s": budgets.reallocation_s, "measurement_tolerance_a": tolerance_a}
    tl = Timeline(trace)
    start = tl.commissioned_at()
    violations: list[Violation] = []
    judged_off = judged_on = 0
    if start is None:
        return _verdict("network not enabled", [], 0, "", used, "no network was commissioned")
    for s in _samples_from(trace, start):
        net = tl.network(s.t)
        settled = tl.network(s.t - budgets.reallocation_s)
        if not net.enabled and not settled.enabled:
            for u in net.members:
                if tl.demand_at(u, s.t) is None:
                    continue
                judged_off += 1
                if s.pilot.get(u) is not None or s.current.get(u, 0.0) > tolerance_a:
                    violations.append(Violation(s.t, (u,), {"pilot": s.pilot.get(u), "current": s.current.get(u)},
                                                "charges while the network is not enabled"))
        elif net.enabled and settled.enabled and tl.healthy(s.t) and tl.healthy(s.t - budgets.reallocation_s):
            for u in net.members:
                demand = tl.demand_at(u, s.t)
                if demand is None or demand <= 0 or tl.demand_at(u, s.t - budgets.reallocation_s) is None:
                    continue
                judged_on += 1
                pilot = s.pilot.get(u)
                if pilot is None or pilot < gpm.MIN_AMPS_PER_UNIT - budgets.pilot_tolerance_a:
                    violations.append(Violation(s.t, (u,), {"pilot": pilot},
                                                "enabled network does not offer a waiting vehicle 6 A",
                                                f"reallocation_s={budgets.reallocation_s:g}"))
    if judged_off == 0 or judged_on == 0:
        return _verdict("network not enabled", [], 0, "", used,
                        "needs a connected vehicle both before and after enabling")
    violations = violations[:20]
    return _verdict("network not enabled", violations, judged_off + judged_on, "unit samples", used, "")


# -- sharing by demand --------------------------------------------------------------------------------------


def sharing(trace: Trace, budgets: Budgets, tolerance_a: float) -> Verdict:
    """Once `reallocation_s` has passed since the last change (`reboot_s` more after a unit rebooted), in a
    healthy enabled network: when the vehicles want less than the limit (less the utilisation tolerance) in
    total, each is offered what it wants; when they want more, the network draws
    the limit within `utilisation_tolerance_a`; and no vehicle that wants current is offered under 6 A."""
    used = {"reallocation_s": budgets.reallocation_s, "utilisation_tolerance_a": budgets.utilisation_tolerance_a,
            "pilot_tolerance_a": budgets.pilot_tolerance_a, "measurement_tolerance_a": tolerance_a}
    tl = Timeline(trace)
    start = tl.commissioned_at()
    violations: list[Violation] = []
    judged = 0
    if start is None:
        return _verdict("sharing", [], 0, "", used, "no network was commissioned")
    last_bad: dict[str, float] = {}
    for s in _samples_from(trace, start):
        if s.t - tl.last_change(s.t) < budgets.reallocation_s:
            continue
        if s.t - tl.last_reboot(s.t) < budgets.reboot_s + budgets.reallocation_s:
            continue
        net = tl.network(s.t)
        if not net.enabled or not tl.healthy(s.t):
            continue
        wants = {u: min(d, net.caps[u]) for u in net.members if (d := tl.demand_at(u, s.t))}
        if not wants:
            continue
        # a connected vehicle that wants nothing may still be offered a pilot: what it is offered is spoken for
        idle = sum(s.pilot.get(u) or 0.0 for u in net.members if u not in wants and tl.demand_at(u, s.t) == 0)
        available = net.limit - idle
        judged += 1
        found: list[Violation] = []
        for u, want in wants.items():
            pilot = s.pilot.get(u)
            if pilot is None or pilot < gpm.MIN_AMPS_PER_UNIT - budgets.pilot_tolerance_a:
                found.append(Violation(s.t, (u,), {"pilot": pilot, "wants": want},
                                       "a vehicle that wants current is offered under 6 A"))
        total_want = sum(wants.values())
        if total_want <= available - budgets.utilisation_tolerance_a:
            short = {u: s.pilot.get(u) for u, w in wants.items()
                     if (s.pilot.get(u) or 0.0) < w - budgets.pilot_tolerance_a}
            if short:
                found.append(Violation(s.t, tuple(short), {**short, "wanted_total": total_want, "limit": net.limit,
                                                           "idle_offers": idle},
                                       "demand is under the limit, yet a vehicle is offered less than it wants",
                                       f"reallocation_s={budgets.reallocation_s:g}"))
        else:
            drawn = sum(s.current.get(u, 0.0) for u in net.members)
            if drawn < available - budgets.utilisation_tolerance_a - tolerance_a:
                found.append(Violation(s.t, tuple(wants), {"drawn": drawn, "limit": net.limit, "idle_offers": idle,
                                                           "wanted_total": total_want},
                                       "demand is over the limit, yet the network leaves current unused",
                                       f"utilisation_tolerance_a={budgets.utilisation_tolerance_a:g}"))
        for v in found:  # one report per unit and rule per reallocation window, not one per sample
            key = v.rule + ",".join(v.units)
            if s.t - last_bad.get(key, float("-inf")) >= budgets.reallocation_s:
                violations.append(v)
                last_bad[key] = s.t
    return _verdict("sharing", violations, judged, "settled samples", used,
                    "no settled moment with a vehicle charging in a healthy enabled network")


# -- each unit's own capability -------------------------------------------------------------------------------


def capability(trace: Trace, budgets: Budgets) -> Verdict:
    """No unit is ever offered more than its own maximum output (its branch-circuit setting)."""
    used = {"pilot_tolerance_a": budgets.pilot_tolerance_a, "reallocation_s": budgets.reallocation_s}
    tl = Timeline(trace)
    violations: list[Violation] = []
    judged = 0
    reported: set[str] = set()
    for s in trace.samples:
        net, before = tl.network(s.t), tl.network(s.t - budgets.reallocation_s)
        for u, pilot in s.pilot.items():
            judged += 1
            cap = max(net.caps[u], before.caps[u])
            if pilot is not None and pilot > cap + budgets.pilot_tolerance_a and u not in reported:
                reported.add(u)
                violations.append(Violation(s.t, (u,), {"pilot": pilot, "capability": cap},
                                            "offered more than its own maximum output"))
    return _verdict("capability", violations, judged, "pilot samples", used, "no sample")


# -- the leader keeps a lost follower's share in reserve ----------------------------------------------------


def reserve_kept(trace: Trace, budgets: Budgets) -> Verdict:
    """While followers are cut off (Wi-Fi or breaker), the other members are offered no more than the limit
    minus the lost followers' fair limits, from `fallback_s` after the loss until they return or are removed."""
    used = {"fallback_s": budgets.fallback_s, "pilot_tolerance_a": budgets.pilot_tolerance_a}
    tl = Timeline(trace)
    lost: list[tuple[str, float, float]] = []
    for unit in trace.units:
        for history in (tl.wifi[unit], tl.power[unit]):
            for start, end in _spans(history, trace.end):
                net = tl.network(start)
                if unit in net.followers:
                    removed = next((e.t for e in trace.events if e.action == "remove" and e.unit == unit
                                    and start <= e.t < end), None)
                    lost.append((unit, start, removed if removed is not None else end))
    violations: list[Violation] = []
    judged = 0
    reported = 0.0
    for s in trace.samples:
        net = tl.network(s.t)
        if not net.leader or not tl.powered(net.leader, s.t) or not tl.wifi_up(net.leader, s.t):
            continue
        gone = {u for u, a, b in lost if a + budgets.fallback_s <= s.t < b and u in net.members}
        if not gone:
            continue
        judged += 1
        reserve = sum(net.fair(u) for u in gone)
        others = {u: s.pilot.get(u) for u in net.members if u not in gone}
        offered = sum(p for p in others.values() if p is not None)
        allowed = net.limit - reserve + budgets.pilot_tolerance_a * len(others)
        if offered > allowed and s.t - reported >= budgets.fallback_s:
            reported = s.t
            violations.append(Violation(s.t, tuple(others), {"offered": offered, "limit": net.limit,
                                                             "reserve": reserve, **others},
                                        f"the others are offered the share kept for lost {','.join(sorted(gone))}",
                                        f"fallback_s={budgets.fallback_s:g}"))
    return _verdict("reserve kept", violations, judged, "samples with a lost follower", used,
                    "no follower was lost long enough")


def summary(verdicts: list[Verdict]) -> dict[str, Any]:
    """Verdicts as plain data, for reports."""
    return {v.check: {"passed": v.passed, "summary": v.summary, "violations": [str(x) for x in v.violations]}
            for v in verdicts}
