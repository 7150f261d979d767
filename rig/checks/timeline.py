"""The network over time, rebuilt from a trace's events, and small helpers every check shares.

A check never asks an instrument or the firmware what the network is: the rack's own actions (commission,
set_limit, remove, trip, cut_wifi, plug...) say what it should be at every moment. An event the timeline does
not know (a note, a safety record, anything added later) does not change the network.

A sample's current may be None: the instrument took no reading that tick. Every check treats None as "not
measured" (never 0 A, never a violation); `measured()` is the one place that reads a current.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field, replace
from typing import Any

from rig import gpm
from rig.trace import Sample, Trace

NETWORK_EVENTS = frozenset({
    "commission", "set_limit", "enable", "remove", "add_follower", "set_max_output", "trip", "restore",
    "cut_wifi", "restore_wifi", "plug", "set_demand", "unplug",
})
"""The events that change what the network should be doing; any other event is ignored."""

EPS = 1e-9


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
        """The unit's fallback (fair) limit: network limit / network size, bounded by its capability."""
        return gpm.fair_limit(self.limit, self.size, self.caps[unit])


def _outputs(data: dict[str, Any], units: dict[str, Any]) -> dict[str, float]:
    """Each member's maximum output set while commissioning (`outputs`: by unit, or in member order), if any."""
    outputs = data.get("outputs")
    if isinstance(outputs, dict):
        return {u: float(a) for u, a in outputs.items() if u in units and a is not None}
    if isinstance(outputs, list):
        members = [data["leader"], *data["followers"]]
        return {u: float(a) for u, a in zip(members, outputs, strict=False) if u in units and a is not None}
    return {}


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
        self.lowered: list[tuple[float, float, float]] = []
        """(t, old limit, new limit) of every lowering of the network limit."""
        self.disabled: list[float] = []
        """Times the network was disabled (after having been enabled)."""
        self.removals: list[tuple[float, str]] = []
        self.unit_events: dict[str, list[float]] = {u: [] for u in units}
        """Times of every event that names the unit."""
        for e in trace.events:
            if e.action not in NETWORK_EVENTS:
                continue
            n = self._nets[-1]
            new: Network | None = None
            if e.unit in self.unit_events:
                self.unit_events[e.unit].append(e.t)
            if e.action == "commission":
                new = replace(n, leader=e.data["leader"], followers=tuple(e.data["followers"]),
                              limit=float(e.data["limit"]), enabled=bool(e.data["enabled"]),
                              caps={**n.caps, **_outputs(e.data, units)})
            elif e.action == "set_limit":
                limit = float(e.data["limit"])
                if limit < n.limit:
                    self.lowered.append((e.t, n.limit, limit))
                new = replace(n, limit=limit)
            elif e.action == "enable":
                if n.enabled and not e.data["on"]:
                    self.disabled.append(e.t)
                new = replace(n, enabled=bool(e.data["on"]))
            elif e.action == "remove" and e.unit in n.followers:
                self.removals.append((e.t, e.unit))
                new = replace(n, followers=tuple(f for f in n.followers if f != e.unit))
            elif e.action == "add_follower" and e.unit not in n.members:
                new = replace(n, followers=(*n.followers, e.unit))
            elif e.action == "set_max_output" and e.unit in units:
                new = replace(n, caps={**n.caps, e.unit: float(e.data["amps"])})
            elif e.action in ("trip", "restore") and e.unit in units:
                self.power[e.unit].append((e.t, e.action == "restore"))
            elif e.action in ("cut_wifi", "restore_wifi") and e.unit in units:
                self.wifi[e.unit].append((e.t, e.action == "restore_wifi"))
            elif e.action in ("plug", "set_demand") and e.unit in units:
                self.demand[e.unit].append((e.t, float(e.data["demand_a"])))
            elif e.action == "unplug" and e.unit in units:
                self.demand[e.unit].append((e.t, None))
            if new is not None:
                self._times.append(e.t)
                self._nets.append(new)
            self.changes.append(e.t)
            if e.action in ("restore", "add_follower"):
                self.reboots.append(e.t)

    def network(self, t: float) -> Network:
        return self._nets[bisect.bisect_right(self._times, t + EPS) - 1]

    def highest_limit(self, start: float, end: float) -> float:
        """The highest network limit in force at any moment from `start` to `end`."""
        first = bisect.bisect_right(self._times, start + EPS) - 1
        last = bisect.bisect_right(self._times, end + EPS) - 1
        return max(n.limit for n in self._nets[first:last + 1])

    def highest_cap(self, unit: str, start: float, end: float) -> float:
        first = bisect.bisect_right(self._times, start + EPS) - 1
        last = bisect.bisect_right(self._times, end + EPS) - 1
        return max(n.caps[unit] for n in self._nets[first:last + 1])

    @staticmethod
    def _state(history: list[tuple[float, Any]], t: float, default: Any) -> Any:
        i = bisect.bisect_right(history, t + EPS, key=lambda item: item[0])
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
        i = bisect.bisect_right(self.changes, t + EPS)
        return self.changes[i - 1] if i else float("-inf")

    def last_reboot(self, t: float) -> float:
        i = bisect.bisect_right(self.reboots, t + EPS)
        return self.reboots[i - 1] if i else float("-inf")

    def next_unit_event(self, unit: str, t: float) -> float:
        """The first event naming `unit` after `t` (inf when none)."""
        times = self.unit_events[unit]
        i = bisect.bisect_right(times, t + EPS)
        return times[i] if i < len(times) else float("inf")

    def commissioned_at(self) -> float | None:
        return next((e.t for e in self.trace.events if e.action == "commission"), None)

    def healthy(self, t: float) -> bool:
        """Every member powered and on Wi-Fi."""
        net = self.network(t)
        return all(self.powered(u, t) and self.wifi_up(u, t) for u in net.members)

    def hears_leader(self, unit: str, t: float) -> bool:
        """Whether a member can hear its leader at `t`: both powered, both on Wi-Fi (the leader hears itself)."""
        net = self.network(t)
        if net.leader is None or unit not in net.members:
            return True
        if unit == net.leader:
            return True
        return (self.powered(net.leader, t) and self.wifi_up(net.leader, t) and self.wifi_up(unit, t))

    def event_times(self) -> list[float]:
        return sorted(set(self.changes))


def samples_from(trace: Trace, start: float, end: float = float("inf")) -> list[Sample]:
    """The samples taken at or after `start` and before `end`."""
    times = [s.t for s in trace.samples]
    lo = bisect.bisect_left(times, start - EPS)
    hi = bisect.bisect_left(times, end - EPS) if end != float("inf") else len(times)
    return trace.samples[lo:hi]


def sample_at(trace: Trace, t: float) -> Sample | None:
    """The last sample taken at or before `t`."""
    times = [s.t for s in trace.samples]
    i = bisect.bisect_right(times, t + EPS)
    return trace.samples[i - 1] if i else None


def measured(sample: Sample, unit: str) -> float | None:
    """The unit's measured current in this sample, or None when the instrument took no reading."""
    value = sample.current.get(unit)
    return None if value is None else float(value)


def spans(history: list[tuple[float, bool]], end: float) -> list[tuple[float, float]]:
    """(down, up) spans of a True/False history (False = down); a span still open ends at `end`."""
    out, down = [], None
    for t, up in history:
        if not up and down is None:
            down = t
        elif up and down is not None:
            out.append((down, t))
            down = None
    if down is not None:
        out.append((down, end))
    return out


def pilot_accuracy(trace: Trace, unit: str) -> float:
    """How far the rig's own measurement of `unit`'s offer may be off (the trace header's `pilot_accuracy_a`, from
    the pilot's front end; 0 in a trace that does not say). Every pilot comparison allows it on top of its budget:
    the rig never blames a firmware for its own measurement error."""
    return float((trace.header.get("pilot_accuracy_a") or {}).get(unit, 0.0))
