"""Fair fallback: a unit that cannot hear its leader falls back to its fair limit, and never raises itself.

Seed 000 (Fallback (Fair) Limit): "The maximum safe fallback current for a unit if communication is lost.
Equal to (network limit) / (network size) bounded to within a single unit's capability." Seed 000 (Leader):
"the sole controller of current allocation".

Every cut-off is judged, whatever its length and whoever is cut off:
- a follower whose own Wi-Fi is cut, or whose leader's Wi-Fi is cut or breaker tripped (overlapping causes
  make one cut-off, from the first cause to the last);
- the leader itself while its Wi-Fi is cut: it is then the isolated unit;
- a follower that powers up (its breaker closed again) while it cannot hear its leader.

Rules. Until its fallback deadline (`fallback_s` after the cut) a cut-off unit may keep what it had been
given, never more: the leader is the sole controller of allocation, and only the fallback gives a unit a
limit of its own. From the deadline until the link returns its pilot is at most its fair limit, and its current
too once a vehicle had `vehicle_response_s` to follow. A short cut therefore never raises a unit above what it
had been given or its fair limit, whichever is lower. A follower that powers up without its leader has been
given nothing: its ceiling is its fair limit from the start. The isolated leader allocates to itself, so until
the deadline it may take what it had not given its followers; from the deadline its ceiling is what its
followers' fair limits leave of the limit (its own fair limit when no follower's capability bounds theirs).
"""

from __future__ import annotations

from dataclasses import dataclass

from rig.budgets import Budgets
from rig.checks.timeline import EPS, Timeline, measured, pilot_accuracy, sample_at, samples_from
from rig.checks.verdict import Verdict, Violation, verdict
from rig.trace import Trace

CHECK = "fair fallback"


@dataclass(frozen=True)
class CutOff:
    """A unit that could not hear its leader (or, for the leader, any follower) from `start` to `end`."""

    unit: str
    start: float
    end: float
    cause: str
    kind: str = "cut"
    """"cut" (it was running when the link went), "boot" (it powered up without its leader) or "leader"
    (the leader itself, isolated)."""


def _cut_now(tl: Timeline, unit: str, t: float) -> str | None:
    """Why `unit` (a powered member) cannot hear its leader at `t`, or None when it can."""
    net = tl.network(t)
    if net.leader is None or unit not in net.members or not tl.powered(unit, t):
        return None
    if unit == net.leader:
        return "own Wi-Fi cut (isolated leader)" if net.followers and not tl.wifi_up(unit, t) else None
    if not tl.wifi_up(unit, t):
        return "own Wi-Fi cut"
    if not tl.powered(net.leader, t):
        return "leader breaker tripped"
    if not tl.wifi_up(net.leader, t):
        return "leader Wi-Fi cut"
    return None


def cut_offs(trace: Trace, tl: Timeline | None = None) -> list[CutOff]:
    """Every span in which a powered member could not hear its leader (or the leader any follower), and why."""
    tl = tl or Timeline(trace)
    times = tl.event_times()
    found: list[CutOff] = []
    for unit in trace.units:
        open_at: float | None = None
        cause = kind = ""
        for i, t in enumerate(times):
            why = _cut_now(tl, unit, t)
            if why and open_at is None:
                open_at, cause = t, why
                was_off = not tl.powered(unit, t - 1e-6)
                net = tl.network(t)
                kind = "leader" if unit == net.leader else ("boot" if was_off else "cut")
            elif not why and open_at is not None:
                found.append(CutOff(unit, open_at, t, cause, kind))
                open_at = None
            if i == len(times) - 1 and open_at is not None:
                found.append(CutOff(unit, open_at, max(trace.end, open_at), cause, kind))
    return sorted(found, key=lambda c: (c.start, c.unit))


def fair_fallback(trace: Trace, budgets: Budgets, tolerance_a: float) -> Verdict:
    """Every cut-off unit keeps at most what it had been given until `fallback_s`, then at most its fair limit
    (its current too, `vehicle_response_s` later) until the link returns; see the module for every case."""
    b = budgets
    used = {"fallback_s": b.fallback_s, "vehicle_response_s": b.vehicle_response_s,
            "pilot_tolerance_a": b.pilot_tolerance_a, "measurement_tolerance_a": tolerance_a}
    tl = Timeline(trace)
    violations: list[Violation] = []
    judged = 0
    unmeasured = 0
    chain: dict[str, tuple[float, float]] = {}
    """Per unit: (start, end) of its last cut-off chain. A link back for less than `fallback_s` need not have been
    noticed (a unit is given `fallback_s` to notice a change of its link, either way), so a cut that follows such
    a short reconnection continues the earlier one: its deadline and what the unit had been given count from
    the chain's start."""
    for cut in cut_offs(trace, tl):
        net = tl.network(cut.start)
        u = cut.unit
        last = chain.get(u)
        since = last[0] if last is not None and cut.start - last[1] < b.fallback_s - EPS else cut.start
        chain[u] = (since, cut.end)
        if cut.kind == "leader":
            ceiling = min(net.caps[u], net.limit - sum(net.fair(f) for f in net.followers))
            rid, what = "fair-fallback.isolated-leader", "what its followers' fair limits leave"
        else:
            ceiling = net.fair(u)
            rid, what = "fair-fallback.pilot", "its fair limit"
        before = sample_at(trace, cut.start)
        given = (before.pilot.get(u) if before is not None else None) or 0.0
        first = sample_at(trace, since)
        given_then = (first.pilot.get(u) if first is not None else None) or 0.0
        if cut.kind == "leader":
            # the leader allocates to itself: what it had not given its followers is its own to take
            given_away = sum((before.pilot.get(f) or 0.0) for f in net.followers) if before is not None else 0.0
            given = max(given, net.limit - given_away)
        if cut.kind == "boot":
            given, deadline = ceiling, cut.start  # powered up without its leader: given nothing, fair at most
        else:
            deadline = cut.start + b.fallback_s
        current_from = deadline + b.vehicle_response_s
        samples = [s for s in samples_from(trace, cut.start, cut.end)
                   if s.t > cut.start + EPS and tl.powered(u, s.t) and u in tl.network(s.t).members]
        if not samples:
            continue
        judged += 1
        currents_seen = False
        acc = pilot_accuracy(trace, u)
        for s in samples:
            pilot = s.pilot.get(u)
            if s.t < deadline - EPS:
                # a cut following a reconnection too short to be noticed may also be the earlier cut going on:
                # then the unit keeps what it had been given then, or (past that cut's deadline) its fair limit
                allowed = given if since == cut.start else max(
                    given, given_then if s.t < since + b.fallback_s - EPS else ceiling)
                if pilot is not None and pilot > allowed + b.pilot_tolerance_a + 2 * acc:  # two readings compared
                    violations.append(Violation(
                        s.t, (u,), {"pilot": pilot, "given": given, "fair": ceiling},
                        f"raised itself {s.t - cut.start:.1f} s into a cut-off ({cut.cause} at t={cut.start:.1f} s)"
                        f" above the {given:g} A it had been given", f"fallback_s={b.fallback_s:g}",
                        "fair-fallback.raised"))
                    break
                continue
            if pilot is not None and pilot > ceiling + b.pilot_tolerance_a + acc:
                kind_rid = "fair-fallback.boot" if cut.kind == "boot" else rid
                when = (f"{s.t - cut.start:.1f} s after powering up without its leader" if cut.kind == "boot"
                        else f"{s.t - cut.start:.1f} s after {cut.cause} at t={cut.start:.1f} s")
                violations.append(Violation(
                    s.t, (u,), {"pilot": pilot, "ceiling": ceiling}, f"pilot over {what} {when}",
                    f"pilot_tolerance_a={b.pilot_tolerance_a:g}" if cut.kind == "boot"
                    else f"fallback_s={b.fallback_s:g}", kind_rid))
                break
            current = measured(s, u)
            if s.t >= current_from - EPS:
                if current is None:
                    continue
                currents_seen = True
                if current > ceiling + tolerance_a:
                    violations.append(Violation(
                        s.t, (u,), {"current": current, "ceiling": ceiling},
                        f"draws over {what} {s.t - cut.start:.1f} s after {cut.cause} at t={cut.start:.1f} s",
                        f"fallback_s+vehicle_response_s={b.fallback_s + b.vehicle_response_s:g}",
                        "fair-fallback.current"))
                    break
        if cut.end > current_from and not currents_seen:
            unmeasured += 1
    notes = [f"current not measured in {unmeasured} cut-off(s) long enough to judge it"] if unmeasured else []
    return verdict(CHECK, violations, judged, "cut-off(s)", used, "no unit was cut off from its leader", notes)
