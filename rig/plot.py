"""A trace as a picture: what an engineer looks at first when a scenario failed overnight.

One PNG per test, about 1200 px wide, sharing one time axis: at the top the network's measured current (and the
sum of the advertised pilots) against the network limit, then one lane per unit, stacked, with its advertised
pilot and its measured current. Faults the rack injected (breaker trips, Wi-Fi cuts, removals) and network
changes (commissioning, limit changes) are vertical lines across the picture, named on the unit they hit; the
deadlines the checks judge by (a cut-off unit's fallback deadline and its vehicle's, a removed unit's 6 A
deadline and its return after the breaker cycle, a limit change's settle time) are dashed lines on the lane they
concern, with the fair limit or the 6 A hold drawn where it applies. When a check failed, each of its violations
is marked where and when it happened: a red band over the time it lasted, on the lane of the unit it concerns (on
the network panel when it concerns several), labelled with the check and the time; the title names the failed
checks. Everything else comes from the trace alone (its header carries the budgets it was judged by), so any
trace file can be drawn again later: `python -m rig.plot reports/latest/traces/<test>.jsonl out.png`.

Rendering uses matplotlib's Agg canvas directly (no pyplot state, no GUI), and is kept cheap because a night
draws a plot per test: two axes only (matplotlib spends most of its time on each axes' ticks), one empty figure
per lane count reused from plot to plot, a legend drawn once, and a palette PNG (a few tens of KB). About 150 ms
of CPU per plot here; the report hooks draw them in a worker process while the next tests run
(rig/plot_worker.py).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from rig import gpm
from rig.trace import Event, Trace

FAULTS = {
    "trip": "trip",
    "restore": "breaker closed",
    "cut_wifi": "Wi-Fi cut",
    "restore_wifi": "Wi-Fi back",
    "remove": "removed",
}
"""Actions drawn as solid vertical lines (on every panel), with the label shown on the unit's panel."""

NETWORK_ACTIONS = {"commission": "commissioned", "set_limit": "limit", "set_limit_refused": "limit refused",
                   "enable": "enable"}
"""Network-wide actions, drawn on every panel and named on the network panel."""

VEHICLE_ACTIONS = {"plug": "plug", "unplug": "unplug", "set_demand": "demand"}
"""Vehicle actions, shown as small ticks on the unit's panel."""

WIDTH_IN, DPI = 12.0, 100
"""1200 px: wide enough for an eight-hour soak's events to stay apart, and for a report page's width."""
TITLE_PT, LABEL_PT, TICK_PT, NOTE_PT = 11.5, 10.0, 9.0, 8.0
VIOLATION_COLOUR = "#e74c3c"
MAX_MARK_LABELS = 8
"""Violation spans beyond this many are drawn, not labelled (the check's report lists them all)."""

FAULT_COLOUR = "#c0392b"
DEADLINE_COLOUR = "#8e44ad"
LIMIT_COLOUR = "#c0392b"
PILOT_COLOUR = "#2471a3"
CURRENT_COLOUR = "#e67e22"
FAIR_COLOUR = "#27ae60"


@dataclass(frozen=True)
class Deadline:
    """A moment a check starts judging, drawn as a dashed line on `unit`'s panel (None: the network panel)."""

    t: float
    unit: str | None
    label: str
    row: int = 0
    """Which line of labels it goes on, so that deadlines close together stay readable."""


@dataclass(frozen=True)
class Band:
    """A ceiling that applies to `unit` between `start` and `end` (a fair limit, the 6 A hold)."""

    unit: str
    start: float
    end: float
    value: float
    label: str


@dataclass(frozen=True)
class Mark:
    """Where and when a failed check found the firmware wrong: from `start` to `end`, on `unit`'s lane (None: the
    network panel, for a violation about several units)."""

    check: str
    start: float
    end: float
    unit: str | None
    rule: str


def violation_marks(verdicts: list[Any], period_s: float) -> list[Mark]:
    """The failed verdicts' violations as marks: consecutive violations of one check about the same units (no
    more than two sampling periods apart) are one span."""
    marks: list[Mark] = []
    for verdict in verdicts:
        if getattr(verdict, "passed", True):
            continue
        open_spans: dict[tuple[str, ...], list[Any]] = {}
        for v in sorted(verdict.violations, key=lambda v: v.t):
            key = tuple(v.units)
            span = open_spans.get(key)
            if span is not None and v.t - span[1] <= 2 * period_s + 1e-9:
                span[1] = v.t
                continue
            if span is not None:
                marks.append(_mark(verdict.check, key, *span))
            open_spans[key] = [v.t, v.t, v.rule]
        marks.extend(_mark(verdict.check, key, *span) for key, span in open_spans.items())
    return sorted(marks, key=lambda m: m.start)


def _mark(check: str, units: tuple[str, ...], start: float, end: float, rule: str) -> Mark:
    return Mark(check, start, end, units[0] if len(units) == 1 else None, rule)


def _members_over_time(trace: Trace) -> list[tuple[float, list[str], float]]:
    """(time, members, limit) at every network change, from the trace's events."""
    changes: list[tuple[float, list[str], float]] = []
    members: list[str] = []
    limit = 0.0
    for e in trace.events:
        if e.action == "commission":
            members = [e.data["leader"], *e.data["followers"]]
            limit = float(e.data["limit"])
        elif e.action == "set_limit":
            limit = float(e.data["limit"])
        elif e.action == "remove" and e.unit in members:
            members = [m for m in members if m != e.unit]
        else:
            continue
        changes.append((e.t, list(members), limit))
    return changes


def _first(events: list[Event], action: str, unit: str | None, after: float) -> Event | None:
    return next((e for e in events if e.action == action and e.unit == unit and e.t >= after), None)


def _fair(limit: float, size: int, capability: float) -> float:
    # drawn from the rules in rig.gpm, not from the checks: the picture must not share a check's mistakes
    return gpm.fair_limit(limit, size, capability)


def deadlines_and_bands(trace: Trace) -> tuple[list[Deadline], list[Band]]:
    """The deadlines and ceilings the budgets in the trace's header put on the scenario."""
    b: dict[str, float] = trace.header.get("budgets", {})
    fallback = b.get("fallback_s", 0.0)
    response = b.get("vehicle_response_s", 0.0)
    removal = b.get("removal_s", 0.0)
    reboot = b.get("reboot_s", 0.0)
    realloc = b.get("reallocation_s", 0.0)
    caps = {u: float(v.get("capability_a", 0.0)) for u, v in trace.units.items()}
    changes = _members_over_time(trace)
    ev = trace.events
    deadlines: list[Deadline] = []
    bands: list[Band] = []

    def network_at(t: float) -> tuple[list[str], float]:
        members: list[str] = []
        limit = 0.0
        for when, m, lim in changes:
            if when > t + 1e-9:
                break
            members, limit = m, lim
        return members, limit

    for e in ev:
        if e.action in ("cut_wifi", "trip"):
            members, limit = network_at(e.t)
            if not members or e.unit not in members:
                continue
            restore = _first(ev, "restore_wifi" if e.action == "cut_wifi" else "restore", e.unit, e.t)
            end = restore.t if restore else trace.end
            leader = members[0]
            cut = members[1:] if e.unit == leader else ([e.unit] if e.action == "cut_wifi" else [])
            for unit in cut:
                fair = _fair(limit, len(members), caps.get(unit, 0.0))
                deadlines.append(Deadline(e.t + fallback, unit, f"fallback {fallback:g} s"))
                if response:
                    deadlines.append(Deadline(e.t + fallback + response, unit, f"+response {response:g} s", 1))
                bands.append(Band(unit, e.t + fallback, end, fair, f"fair {fair:g} A"))
        elif e.action == "remove" and e.unit:
            trip = _first(ev, "trip", e.unit, e.t)
            deadlines.append(Deadline(e.t + removal, e.unit, f"6 A by {removal:g} s"))
            bands.append(Band(e.unit, e.t + removal, trip.t if trip else trace.end, 6.0, "hold 6 A"))
            restore = _first(ev, "restore", e.unit, trip.t) if trip else None
            if restore is not None:
                deadlines.append(Deadline(restore.t + reboot, e.unit, f"back by {reboot:g} s", 1))
        elif e.action == "set_limit" and realloc:
            deadlines.append(Deadline(e.t + realloc, None, f"settle {realloc:g} s"))
    return deadlines, bands


def _shown_units(trace: Trace) -> list[str]:
    """Units in any network of the trace, or that drew or were offered current; all units if none."""
    shown: set[str] = set()
    for _, members, _ in _members_over_time(trace):
        shown.update(members)
    shown.update(e.unit for e in trace.events if e.unit and e.action in VEHICLE_ACTIONS)
    names = list(trace.units)
    return [u for u in names if u in shown] or names


_BLANK: dict[tuple[int, int], tuple[Any, Any, Any]] = {}


def _legend_handles() -> list[Any]:
    from matplotlib.lines import Line2D

    return [
        Line2D([], [], color=PILOT_COLOUR, lw=0.9, ls="--", label="pilot (advertised)"),
        Line2D([], [], color=CURRENT_COLOUR, lw=1.2, label="current (measured)"),
        Line2D([], [], color=LIMIT_COLOUR, lw=1.4, label="network limit"),
        Line2D([], [], color=FAIR_COLOUR, lw=1.4, ls=":", label="fair limit / 6 A hold"),
        Line2D([], [], color=FAULT_COLOUR, lw=0.8, label="fault injected"),
        Line2D([], [], color=DEADLINE_COLOUR, lw=0.9, ls="--", label="deadline (budget)"),
        Line2D([], [], color="#95a5a6", lw=0.6, ls="-.", label="vehicle action"),
        Line2D([], [], color=VIOLATION_COLOUR, lw=6, alpha=0.35, label="violation (check failed)"),
    ]


def _blank(lanes: int, dpi: int) -> tuple[Any, Any, Any]:
    """An empty figure with its two axes for `lanes` unit lanes, built once and emptied for every plot: building
    axes is a third of matplotlib's time, and a night draws the same few shapes a hundred times."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    key = (lanes, dpi)
    if key not in _BLANK:
        height = 2.8 + 1.0 * lanes
        fig = Figure(figsize=(WIDTH_IN, height), dpi=dpi)
        FigureCanvasAgg(fig)
        net_ax, lane_ax = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [1.7, 1.0 * lanes],
                                                                         "hspace": 0.06})
        fig.subplots_adjust(left=0.075, right=0.83, top=1 - 0.55 / height, bottom=0.55 / height)
        net_ax.legend(handles=_legend_handles(), loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=NOTE_PT + 1,
                      frameon=False)  # the same key on every plot: drawn from stand-in lines, kept with the figure
        _BLANK[key] = (fig, net_ax, lane_ax)
    fig, net_ax, lane_ax = _BLANK[key]
    for artist in [*fig.texts, *net_ax.lines, *net_ax.texts, *net_ax.collections, *net_ax.patches,
                   *lane_ax.lines, *lane_ax.texts, *lane_ax.collections, *lane_ax.patches]:
        artist.remove()
    for ax in (net_ax, lane_ax):
        ax.relim()
        ax.autoscale()
    return fig, net_ax, lane_ax


def render_png(trace: Trace, title: str = "", dpi: int = DPI, marks: list[Mark] | None = None) -> bytes:
    """The trace as a PNG (see the module docstring for what is drawn), with the violations in `marks`.

    Two axes only, for speed (matplotlib spends most of its time on each axes' ticks): the network panel, and
    one panel holding every unit as a lane of its own, stacked top to bottom at a common amp scale.
    """
    marks = marks or []
    units = _shown_units(trace)
    samples = trace.samples
    ts = [s.t for s in samples]
    changes = _members_over_time(trace)
    deadlines, bands = deadlines_and_bands(trace)
    caps = [float(trace.units[u].get("capability_a", 48.0)) for u in units]
    lane = max([*caps, 6.0]) * 1.3
    base = {u: (len(units) - 1 - i) * lane for i, u in enumerate(units)}

    fig, net_ax, lanes = _blank(len(units), dpi)
    height = fig.get_figheight()
    failed = list(dict.fromkeys(m.check for m in marks))
    if failed:
        title = f"{title}   FAILED: {', '.join(failed)}" if title else f"FAILED: {', '.join(failed)}"
    if title:
        fig.text(0.075, 1 - 0.12 / height, title, fontsize=TITLE_PT, ha="left", va="top",
                 color=VIOLATION_COLOUR if failed else "black", fontweight="bold" if failed else "normal")

    # network panel: measured total of the members in force, advertised total, and the limit
    totals: list[float] = []
    offered: list[float] = []
    k = -1
    members: list[str] = []
    for s in samples:
        while k + 1 < len(changes) and changes[k + 1][0] <= s.t + 1e-9:
            k += 1
            members = changes[k][1]
        who = members or units
        totals.append(sum(s.current.get(u, 0.0) for u in who))
        offered.append(sum(p for u in who if (p := s.pilot.get(u)) is not None))
    net_ax.plot(ts, offered, drawstyle="steps-post", color=PILOT_COLOUR, lw=0.9, ls="--", label="pilots (sum)")
    net_ax.plot(ts, totals, color=CURRENT_COLOUR, lw=1.2, label="measured (sum)")
    if changes:
        lx = [c[0] for c in changes] + [max(trace.end, changes[-1][0])]
        ly = [c[2] for c in changes] + [changes[-1][2]]
        net_ax.plot(lx, ly, drawstyle="steps-post", color=LIMIT_COLOUR, lw=1.4, label="network limit")
    net_ax.set_ylabel("network (A)", fontsize=LABEL_PT)
    net_ax.set_ylim(bottom=0, top=max([*totals, *offered, *(c[2] for c in changes), 1.0]) * 1.3)

    # unit lanes: pilot and current, each lane from its base up to its base + lane height
    for u in units:
        y0 = base[u]
        if (len(units) - 1 - units.index(u)) % 2:
            lanes.axhspan(y0, y0 + lane, color="#f4f6f7", lw=0)
        lanes.axhline(y0, color="#bdc3c7", lw=0.6)
        lanes.plot(ts, [float("nan") if (p := s.pilot.get(u)) is None else y0 + p for s in samples],
                   drawstyle="steps-post", color=PILOT_COLOUR, lw=0.9, ls="--", label="pilot")
        lanes.plot(ts, [y0 + s.current.get(u, 0.0) for s in samples], color=CURRENT_COLOUR, lw=1.2,
                   label="current")
        lanes.text(-0.04, y0 + lane * 0.45, u, transform=lanes.get_yaxis_transform(), fontsize=LABEL_PT + 0.5,
                   fontweight="bold", va="center", ha="right")
    for band in bands:
        if band.unit in base and band.end > band.start:
            y = base[band.unit] + band.value
            lanes.hlines(y, band.start, band.end, colors=FAIR_COLOUR, lw=1.4, linestyles=":",
                         label="fair limit / 6 A hold")
            lanes.text(band.end, y, f"{band.label} ", fontsize=NOTE_PT, color=FAIR_COLOUR, va="bottom", ha="right")
    lanes.set_yticks([base[u] + cap for u, cap in zip(units, caps, strict=True)], [f"{c:g} A" for c in caps])
    lanes.set_ylim(-lane * 0.02, lane * len(units))

    for e in trace.events:
        if e.action in FAULTS or e.action in NETWORK_ACTIONS:
            colour = FAULT_COLOUR if e.action in FAULTS else "#7f8c8d"
            net_ax.axvline(e.t, color=colour, lw=0.8, alpha=0.8)
            lanes.axvline(e.t, color=colour, lw=0.8, alpha=0.8)
            label = FAULTS.get(e.action) or NETWORK_ACTIONS[e.action]
            if e.action in ("set_limit", "set_limit_refused"):
                label = f"{label} {e.data.get('limit', 0):g} A"
            if e.unit in base:
                lanes.text(e.t, base[e.unit] + lane * 0.97, f" {label}", fontsize=NOTE_PT, color=colour, va="top",
                           ha="left")
            else:
                net_ax.text(e.t, 0.97, f" {label}", transform=net_ax.get_xaxis_transform(), fontsize=NOTE_PT,
                            color=colour, va="top", ha="left")
        elif e.action in VEHICLE_ACTIONS and e.unit in base:
            text = VEHICLE_ACTIONS[e.action]
            if "demand_a" in e.data:
                text += f" {e.data['demand_a']:g} A"
            lanes.vlines(e.t, base[e.unit], base[e.unit] + lane * 0.9, colors="#95a5a6", lw=0.6, linestyles="-.")
            lanes.text(e.t, base[e.unit] + lane * 0.03, f" {text}", fontsize=NOTE_PT - 0.5, color="#7f8c8d",
                       va="bottom", ha="left")
    for d in deadlines:
        if d.unit is None:
            net_ax.axvline(d.t, color=DEADLINE_COLOUR, lw=0.9, ls="--")
            net_ax.text(d.t, 0.8 - 0.12 * d.row, f" {d.label}", transform=net_ax.get_xaxis_transform(),
                        fontsize=NOTE_PT, color=DEADLINE_COLOUR, va="top", ha="left")
        elif d.unit in base:
            lanes.vlines(d.t, base[d.unit], base[d.unit] + lane, colors=DEADLINE_COLOUR, lw=0.9, linestyles="--")
            lanes.text(d.t, base[d.unit] + lane * (0.8 - 0.16 * d.row), f" {d.label}", fontsize=NOTE_PT,
                       color=DEADLINE_COLOUR, va="top", ha="left")

    _draw_marks(marks, net_ax, lanes, base, lane, max(trace.end, 1.0))

    from matplotlib.ticker import MaxNLocator

    net_ax.yaxis.set_major_locator(MaxNLocator(4))
    lanes.xaxis.set_major_locator(MaxNLocator(12))
    for ax in (net_ax, lanes):
        ax.tick_params(labelsize=TICK_PT)
        ax.grid(True, axis="x", lw=0.3, alpha=0.5)
        ax.margins(x=0.01)
    lanes.set_xlabel("rack time (s)", fontsize=LABEL_PT)
    # a palette PNG: the picture has a dozen colours, and a quarter of the bytes matters in a one-file report
    from PIL import Image

    fig.canvas.draw()
    image = Image.frombuffer("RGBA", fig.canvas.get_width_height(), fig.canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
    buf = io.BytesIO()
    image.convert("RGB").quantize(48, method=Image.Quantize.FASTOCTREE).save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def _draw_marks(marks: list[Mark], net_ax: Any, lanes: Any, base: dict[str, float], lane: float,
                duration: float) -> None:
    """Each violation: a red band over its time on its unit's lane (or the network panel), a label with the
    check and the time for the first few."""
    minimum = duration / 200  # a one-sample violation still shows
    for i, m in enumerate(marks):
        start, end = m.start, max(m.end, m.start + minimum)
        if m.unit in base:
            y0 = base[m.unit]
            lanes.fill_between([start, end], y0, y0 + lane, color=VIOLATION_COLOUR, alpha=0.3, lw=0)
            ax, y, transform = lanes, y0 + lane * 0.45, None
        else:
            net_ax.axvspan(start, end, color=VIOLATION_COLOUR, alpha=0.25, lw=0)
            ax, y, transform = net_ax, 0.62 - 0.1 * (i % 3), net_ax.get_xaxis_transform()
        if i < MAX_MARK_LABELS:
            when = f"t={m.start:.1f} s" if m.end - m.start < 1e-9 else f"t={m.start:.1f}–{m.end:.1f} s"
            who = f" {m.unit}" if m.unit else ""
            kwargs = {"transform": transform} if transform is not None else {}
            ax.text(start, y, f"✕ {m.check}{who} {when}", fontsize=NOTE_PT + 0.5, color="#922b21",
                    fontweight="bold", va="center", ha="left", **kwargs,
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8})


def render_to(trace: Trace, title: str, dest: str, marks: list[Mark] | None = None) -> float:
    """Render to the file `dest` (written whole, then renamed into place); returns the CPU seconds it took.
    What the report's worker process runs, so that drawing overlaps the next test instead of delaying it."""
    import os
    import time

    start = time.process_time()
    png = render_png(trace, title, marks=marks)
    tmp = f"{dest}.tmp"
    with open(tmp, "wb") as f:
        f.write(png)
    os.replace(tmp, dest)
    return time.process_time() - start


def render_file(trace_path: str, out: str, title: str = "") -> None:
    """Redraw a trace file as a PNG (e.g. `python -m rig.plot reports/traces/x.jsonl x.png`)."""
    from rig.trace import read_trace

    with open(out, "wb") as f:
        f.write(render_png(read_trace(trace_path), title))


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m rig.plot", description="draw a trace file as a PNG")
    p.add_argument("trace")
    p.add_argument("png")
    args = p.parse_args(argv)
    render_file(args.trace, args.png, title=args.trace)
    return 0



if __name__ == "__main__":
    raise SystemExit(main())
