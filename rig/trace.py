"""The trace: every tick's measurements and every action, appended to disk as they are taken.

One JSON-lines file per test. The first line is the header (rack, units, budgets, sampling period); then
each line is a sample (`"s"`: time, per-unit pilot amps, currents, pilot states) or an event (`"e"`: an action
of the rack). Each line is flushed when written, so a run killed mid-scenario keeps everything up to its last
tick, and `read_trace` accepts a file whose last line was cut short.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from rig.secrets import redact


@dataclass(frozen=True)
class Sample:
    """What the instruments measured at time `t` (seconds of rack time)."""

    t: float
    pilot: dict[str, float | None]
    """Advertised amps from the measured duty cycle; None when the pilot shows no PWM."""
    current: dict[str, float | None]
    """Measured current per unit (power analyzer); None when the analyzer had no reading this tick (NAN),
    written as null."""
    state: dict[str, str]
    """Pilot state per unit from the measured positive level."""


@dataclass(frozen=True)
class Event:
    """An action of the rack at time `t`: what was done, to which unit, with which values."""

    t: float
    action: str
    unit: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Trace:
    """A whole trace in memory: what the checks read."""

    header: dict[str, Any]
    samples: list[Sample] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    @property
    def units(self) -> dict[str, dict[str, Any]]:
        return self.header["units"]

    @property
    def end(self) -> float:
        return self.samples[-1].t if self.samples else 0.0

    def as_judged(self) -> Trace:
        """The part of the trace its test's checks judged: up to `judged_at` (the rack time of the verdicts; in a
        trace written before it was noted, up to its last safe state, the one at the test's end). After it the rig
        only tidied up (the safe state, a power-cycled unit's recovery), with no vehicle's demand on record, so
        judging it would blame the firmware for the rig's housekeeping."""
        cut = self.header.get("judged_at")
        if cut is None:
            cut = max((e.t for e in self.events if e.action == "safe_state"), default=None)
        if cut is None:
            return self
        eps = 1e-6
        return Trace(self.header, [s for s in self.samples if s.t <= cut + eps],
                     [e for e in self.events if e.t <= cut + eps])


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


class TraceWriter:
    """Appends samples and events to a file as they happen, and keeps the same trace in memory."""

    def __init__(self, path: str | Path, header: dict[str, Any]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.trace = Trace(header=header)
        self._file: TextIO | None = self.path.open("w", encoding="utf-8")
        self._write({"header": header})

    def _write(self, record: dict[str, Any]) -> None:
        if self._file is None:
            return
        self._file.write(redact(json.dumps(record, separators=(",", ":"))) + "\n")  # no secret ever on disk
        self._file.flush()

    def sample(self, sample: Sample) -> None:
        self.trace.samples.append(sample)
        self._write({
            "s": round(sample.t, 3),
            "p": {k: _round(v) for k, v in sample.pilot.items()},
            "i": {k: _round(v) for k, v in sample.current.items()},
            "v": sample.state,
        })

    def event(self, event: Event) -> None:
        self.trace.events.append(event)
        self._write({"e": event.action, "t": round(event.t, 3), "u": event.unit, "d": event.data})

    def note_header(self, **items: Any) -> None:
        """Add facts learnt after the start (firmware versions); written as a header update line."""
        self.trace.header.update(items)
        self._write({"header_update": items})

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    @property
    def closed(self) -> bool:
        return self._file is None


def read_trace(path: str | Path) -> Trace:
    """Read a trace file back; a last line cut short by a killed run is ignored."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    trace: Trace | None = None
    for number, line in enumerate(lines, start=1):
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines):
                break
            raise ValueError(f"{path}:{number}: not a trace line") from None
        if "header" in rec:
            trace = Trace(header=rec["header"])
        elif trace is None:
            raise ValueError(f"{path}: the first line is not a trace header")
        elif "header_update" in rec:
            trace.header.update(rec["header_update"])
        elif "s" in rec:
            trace.samples.append(Sample(rec["s"], rec["p"], rec["i"], rec["v"]))
        elif "e" in rec:
            trace.events.append(Event(rec["t"], rec["e"], rec.get("u"), rec.get("d") or {}))
    if trace is None:
        raise ValueError(f"{path}: empty trace")
    return trace


def to_csv(trace: Trace) -> str:
    """The samples as CSV (one row per tick, columns per unit) with events in a last column."""
    names = list(trace.units)
    cols = ["t_s"] + [f"{n}_{q}" for n in names for q in ("pilot_a", "current_a", "state")] + ["events"]
    events: dict[float, list[str]] = {}
    for e in trace.events:
        key = max((s.t for s in trace.samples if s.t <= e.t + 1e-9), default=0.0)
        events.setdefault(key, []).append(f"{e.action}{'(' + e.unit + ')' if e.unit else ''}")
    rows = [",".join(cols)]
    for s in trace.samples:
        cells = [f"{s.t:.3f}"]
        for n in names:
            p = s.pilot.get(n)
            i = s.current.get(n)
            cells += ["" if p is None else f"{p:.2f}", "" if i is None else f"{i:.2f}", s.state.get(n, "")]
        cells.append(" ".join(events.get(s.t, [])))
        rows.append(",".join(cells))
    return "\n".join(rows) + "\n"
