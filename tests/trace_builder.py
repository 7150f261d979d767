"""Hand-built traces for the checks' unit tests: a few lines say what the rack did and what was measured.

A check is a pure function of a trace, so its every boundary can be tested without a rack: exactly at a budget,
just over it, an excursion that ends and starts again, a reading the instrument did not take (None).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rig.budgets import Budgets
from rig.trace import Event, Sample, Trace

B = Budgets()
TOL = 0.5
PERIOD = 0.5


class TraceBuilder:
    """Events and samples on a rack of `units` (all 48 A units unless `caps` says otherwise)."""

    def __init__(self, units: tuple[str, ...] = ("wc1", "wc2", "wc3"), caps: dict[str, float] | None = None) -> None:
        caps = caps or {}
        self.header: dict[str, Any] = {
            "rack": "hand-built", "period_s": PERIOD, "measurement_tolerance_a": TOL, "budgets": B.model_dump(),
            "units": {u: {"capability_a": caps.get(u, 48.0), "nameplate_a": 48.0, "breaker_a": 60} for u in units},
        }
        self.units = units
        self.events: list[Event] = []
        self.samples: dict[float, Sample] = {}

    def event(self, t: float, action: str, unit: str | None = None, **data: Any) -> TraceBuilder:
        self.events.append(Event(t, action, unit, data))
        return self

    def commission(self, t: float, limit: float, size: int | None = None, enabled: bool = True) -> TraceBuilder:
        members = self.units[: size or len(self.units)]
        return self.event(t, "commission", leader=members[0], followers=list(members[1:]), limit=limit,
                          enabled=enabled)

    def hold(self, start: float, end: float, pilot: dict[str, float | None] | None = None,
             current: dict[str, float | None] | None = None) -> TraceBuilder:
        """Samples every period from `start` up to (not including) `end`: these pilots and currents, the units
        not named showing no PWM and drawing 0 A. Later calls overwrite earlier samples at the same times."""
        t = start
        while t < end - 1e-9:
            p = {u: None for u in self.units} | (pilot or {})
            i: dict[str, float | None] = {u: 0.0 for u in self.units} | (current or {})
            self.samples[round(t, 6)] = Sample(round(t, 6), p, i, {u: "C" if p[u] else "A" for u in self.units})
            t += PERIOD
        return self

    def build(self) -> Trace:
        return Trace(dict(self.header), [self.samples[k] for k in sorted(self.samples)],
                     sorted(self.events, key=lambda e: e.t))

    def write(self, path: Path, judged: list[dict[str, Any]] | None = None) -> Path:
        """Write it as the rack does (header, samples and events in time order, a header update at the end)."""
        trace = self.build()
        lines = [json.dumps({"header": trace.header})]
        records = [(s.t, 0, {"s": s.t, "p": s.pilot, "i": s.current, "v": s.state}) for s in trace.samples]
        records += [(e.t, 1, {"e": e.action, "t": e.t, "u": e.unit, "d": e.data}) for e in trace.events]
        lines += [json.dumps(r) for _, _, r in sorted(records, key=lambda x: (x[0], x[1]))]
        if judged is not None:
            lines.append(json.dumps({"header_update": {"judged": judged}}))
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path


def rules(verdict: Any) -> list[str]:
    return verdict.rules
