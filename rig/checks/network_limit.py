"""The network limit, judged as the panel breaker feeding the network would judge it.

Seed 000 (Network Limit): "This represents the continuous current which the network will not exceed."

Two things are judged. What the units advertise: the pilots never sum above the limit in force (a lowered
limit is in force `limit_lowered_s` after the command). What the network draws: the measured network current
may rise above the limit plus the measurement tolerance only in short excursions while vehicles follow a
lowered pilot, and a breaker forgives one such excursion, not a series. So every excursion is counted, and
each is judged by its length (`overshoot_s`), its height (`overshoot_peak_pct`), and, over any rolling window of
`overshoot_window_s`, by how many there are (`overshoot_count`) and how much overshoot they add up to
(`overshoot_area_s` amp-seconds per amp of limit).

A unit cut off from its leader may keep what it had been given until its fallback deadline, and its vehicle
follow a vehicle's response later (the fair fallback check's budgets): within that span it counts at most at
its fallback ceiling here, so cut-offs that overlap are not blamed twice for what each is allowed on its own.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from rig.budgets import Budgets
from rig.checks.fallback import CutOff, cut_offs
from rig.checks.timeline import EPS, Timeline, measured, pilot_accuracy, samples_from
from rig.checks.verdict import Verdict, Violation, verdict
from rig.trace import Trace

CHECK = "network limit"


@dataclass
class Excursion:
    """One stretch of consecutive measured samples above limit + tolerance."""

    start: float
    end: float
    peak_pct: float
    peak_t: float
    peak_total: float
    peak_limit: float
    area_as: float
    units: tuple[str, ...]


def network_limit(trace: Trace, budgets: Budgets, tolerance_a: float) -> Verdict:
    """The advertised pilots never sum above the limit in force; the measured network current overshoots the
    limit + `tolerance_a` only in excursions that are short, low, few and small in sum (see the module)."""
    b = budgets
    used = {"overshoot_s": b.overshoot_s, "overshoot_peak_pct": b.overshoot_peak_pct,
            "overshoot_window_s": b.overshoot_window_s, "overshoot_area_s": b.overshoot_area_s,
            "overshoot_count": b.overshoot_count, "limit_lowered_s": b.limit_lowered_s,
            "vehicle_response_s": b.vehicle_response_s, "pilot_tolerance_a": b.pilot_tolerance_a,
            "measurement_tolerance_a": tolerance_a}
    tl = Timeline(trace)
    start = tl.commissioned_at()
    if start is None:
        return verdict(CHECK, [], 0, "samples", used, "no network was commissioned")
    violations: list[Violation] = []
    judged = measured_samples = 0
    reported_offer: dict[str, float] = {}
    excursions: list[Excursion] = []
    open_exc: Excursion | None = None
    samples = samples_from(trace, start)
    # a cut-off unit may hold what it had been given until its fallback deadline, and its vehicle follow a
    # vehicle's response later: within that budget it counts at most at its fallback ceiling here (what it holds
    # beyond is the fallback's budget, judged by the fair fallback check), so two cut-offs that overlap are not
    # blamed on the network for what each is allowed on its own
    grace = [(c.unit, c.start, c.start + b.fallback_s + b.vehicle_response_s, _ceiling(tl, c))
             for c in cut_offs(trace, tl) if c.kind != "boot"]
    for i, s in enumerate(samples):
        net = tl.network(s.t)
        members = net.members
        capped = {u: ceiling for u, a, z, ceiling in grace if a < s.t + EPS and s.t < z - EPS}
        judged += 1
        # what is advertised: a lowered limit is in force limit_lowered_s after the command
        pilot_limit = tl.highest_limit(s.t - b.limit_lowered_s, s.t)
        pilots = {u: s.pilot.get(u) for u in members}
        offered = sum(min(p, capped.get(u, p)) for u, p in pilots.items() if p is not None)
        slack = sum(b.pilot_tolerance_a + pilot_accuracy(trace, u) for u, p in pilots.items() if p is not None)
        if offered > pilot_limit + slack:
            late = any(t + b.limit_lowered_s <= s.t + EPS < t + b.limit_lowered_s + b.reallocation_s
                       and new < old for t, old, new in tl.lowered)
            rid = "network-limit.lowered-late" if late else "network-limit.offered"
            if s.t - reported_offer.get(rid, float("-inf")) >= b.reallocation_s:  # one report per episode
                reported_offer[rid] = s.t
                what = "a lowered limit" if late else "the limit"
                violations.append(Violation(
                    s.t, tuple(members), {"sum": offered, "limit": pilot_limit, **pilots},
                    f"advertised pilots sum to {offered:.2f} A over {what} of {pilot_limit:g} A",
                    f"limit_lowered_s={b.limit_lowered_s:g}" if late else f"pilot_tolerance_a={b.pilot_tolerance_a:g}",
                    rid))
        # what is drawn: only samples where every member's current was measured
        currents = {u: measured(s, u) for u in members}
        if any(v is None for v in currents.values()):
            continue
        measured_samples += 1
        limit = tl.highest_limit(s.t - b.limit_lowered_s - b.vehicle_response_s, s.t)
        total = sum(min(v, capped.get(u, v)) for u, v in currents.items() if v is not None)
        over = total - (limit + tolerance_a)
        nxt = samples[i + 1].t if i + 1 < len(samples) else s.t + float(trace.header.get("period_s", 0.5))
        if over > EPS:
            pct = 100.0 * (total - limit - tolerance_a) / limit if limit > 0 else float("inf")
            drawing = tuple(u for u, v in currents.items() if v and v > tolerance_a)
            if open_exc is None:
                open_exc = Excursion(s.t, nxt, pct, s.t, total, limit, 0.0, drawing)
            open_exc.end = nxt
            open_exc.area_as += over * (nxt - s.t)
            if pct > open_exc.peak_pct:
                open_exc.peak_pct, open_exc.peak_t, open_exc.peak_total, open_exc.peak_limit = pct, s.t, total, limit
            open_exc.units = tuple(dict.fromkeys((*open_exc.units, *drawing)))
        elif open_exc is not None:
            open_exc.end = s.t
            excursions.append(open_exc)
            open_exc = None
    if open_exc is not None:
        excursions.append(open_exc)
    violations += _judge_excursions(excursions, b, tolerance_a)
    violations.sort(key=lambda v: v.t)
    notes = [] if measured_samples else ["measured current: not exercised (no sample had every member's current)"]
    if excursions:
        notes.append(f"{len(excursions)} excursion(s), longest {max(e.end - e.start for e in excursions):.1f} s, "
                     f"highest +{max(e.peak_pct for e in excursions):.1f} %")
    if measured_samples == 0:
        return verdict(CHECK, [], 0, "samples", used, "no sample after commissioning had every member's current "
                       "measured")
    return verdict(CHECK, violations, judged, "samples", used, "no sample after commissioning", notes)


def _ceiling(tl: Timeline, cut: CutOff) -> float:
    """The most a cut-off unit may hold once fallen back: its fair limit, or for the isolated leader what its
    followers' fair limits leave of the limit."""
    net = tl.network(cut.start)
    if cut.kind == "leader":
        return min(net.caps[cut.unit], net.limit - sum(net.fair(f) for f in net.followers))
    return net.fair(cut.unit)


def _judge_excursions(excursions: list[Excursion], b: Budgets, tolerance_a: float) -> list[Violation]:
    found: list[Violation] = []
    for e in excursions:
        length = e.end - e.start
        values = {"network": e.peak_total, "limit": e.peak_limit, "peak_pct": e.peak_pct, "length_s": length}
        if length > b.overshoot_s + EPS:
            found.append(Violation(e.start, e.units, values,
                                   f"measured network current above {e.peak_limit:g} A + {tolerance_a:g} A for "
                                   f"{length:.1f} s (peak at t={e.peak_t:.1f} s)",
                                   f"overshoot_s={b.overshoot_s:g}", "network-limit.too-long"))
        if e.peak_pct > b.overshoot_peak_pct + EPS:
            found.append(Violation(e.peak_t, e.units, values,
                                   f"measured network current {e.peak_total:.1f} A is {e.peak_pct:.1f} % over the "
                                   f"{e.peak_limit:g} A limit (+{tolerance_a:g} A)",
                                   f"overshoot_peak_pct={b.overshoot_peak_pct:g}", "network-limit.too-high"))
    # rolling windows: how many excursions start within one, and how much overshoot they add up to
    window: deque[Excursion] = deque()
    area = 0.0
    count_reported = area_reported = float("-inf")
    for e in excursions:
        window.append(e)
        area += e.area_as
        while window and window[0].start < e.start - b.overshoot_window_s + EPS:
            area -= window.popleft().area_as
        if len(window) > b.overshoot_count and e.start - count_reported >= b.overshoot_window_s:
            count_reported = e.start
            found.append(Violation(e.start, e.units, {"excursions": float(len(window))},
                                   f"{len(window)} excursions above the limit within {b.overshoot_window_s:g} s "
                                   f"(from t={window[0].start:.1f} s)",
                                   f"overshoot_count={b.overshoot_count}", "network-limit.too-many"))
        allowed = b.overshoot_area_s * e.peak_limit
        if area > allowed + EPS and e.start - area_reported >= b.overshoot_window_s:
            area_reported = e.start
            found.append(Violation(e.start, e.units, {"overshoot_as": area, "allowed_as": allowed},
                                   f"overshoot adds up to {area:.1f} A*s within {b.overshoot_window_s:g} s "
                                   f"(from t={window[0].start:.1f} s)",
                                   f"overshoot_area_s={b.overshoot_area_s:g}", "network-limit.accumulated"))
    return found
