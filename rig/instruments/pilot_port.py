"""The pilot role: present a vehicle's state on a unit's pilot and measure the pilot's duty and level.

Two instruments can play it, and a rack may mix them: a LabJack T7 (resistor relays on digital lines; each pilot
measured by its front end: a comparator on a pulse-width line plus a peak-detected level, or a divider into an
analog input that is streamed) and a CAN EV emulator (one node per unit). The rack sees only `PilotPort`: one
port per instrument, read once per tick (one eReadNames for the comparators, one stream window for the dividers).
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from rig.config import DEFAULT_STREAM_SCAN_HZ, DEFAULT_STREAM_WINDOW_SCANS, CanPilotRef, PilotRef
from rig.config import Rack as RackConfig
from rig.instruments.can_ev import CanEvEmulator
from rig.instruments.labjack_t7 import LabJackT7, PilotReading
from rig.instruments.pilot_samples import pilot_from_samples
from rig.pilot import PilotState

MIN_PULSE_INTERVAL_S = 0.002
"""Two 1 kHz PWM periods: the least time after a reset read in which Pulse Width In can measure a new period."""


class PilotPort(Protocol):
    """The pilots of the units wired to one instrument."""

    name: str
    units: list[str]

    def prepare(self) -> dict[str, str]:
        """Put the instrument in its measuring mode (once, when the rack is brought up); returns the settings
        read back."""

    def present(self, unit: str, state: PilotState) -> None:
        """Present a vehicle state on the unit's pilot; done when this returns."""

    def release_all(self) -> None:
        """Every pilot of this port to state A (no vehicle): part of the rack's safe state."""

    def read(self, now: float | None = None) -> list[PilotReading]:
        """Every unit's pilot, in the order of `units`, in one exchange; `now` is the rack time of the tick."""


AMPS_PER_DUTY_PCT = 0.6
"""J1772's slope from duty to advertised amps between 10 % and 85 % (rig/pilot.py)."""


class LabJackPilots:
    """Pilots on a LabJack T7: B and C resistor relays and a measuring front end each."""

    def __init__(self, name: str, lj: LabJackT7, refs: dict[str, PilotRef], settings: Any = None) -> None:
        self.name = name
        self.units = list(refs)
        self._lj = lj
        self._refs = refs
        self._pulse = [(u, (r.duty_line or "", r.level, r.ratio)) for u, r in refs.items()
                       if r.front_end == "comparator"]
        self._streamed = [(u, r.level, r.ratio) for u, r in refs.items() if r.front_end == "divider"]
        self.clock_divisor = getattr(settings, "clock_divisor", None) or 1
        self.scan_hz = getattr(settings, "stream_scan_hz", None) or DEFAULT_STREAM_SCAN_HZ
        self.window_scans = getattr(settings, "stream_window_scans", None) or DEFAULT_STREAM_WINDOW_SCANS
        self.actual_scan_hz: float | None = None
        self._last: tuple[float, list[PilotReading]] | None = None

    def prepare(self) -> dict[str, str]:
        settings: dict[str, str] = {}
        if self._pulse:
            settings.update(self._lj.configure_clock(self.clock_divisor))
            settings.update(self._lj.enable_pulse_in([duty for _, (duty, _, _) in self._pulse]))
        if self._streamed:
            settings.update(self._lj.stream_settings())
            _, actual = self._lj.stream_window([ain for _, ain, _ in self._streamed], self.scan_hz, self.window_scans)
            self.actual_scan_hz = actual
            settings["stream"] = (f"{actual:.1f} scans/s, {self.window_scans} scans per tick "
                                  f"({1000 * self.window_scans / actual:.1f} ms) of {len(self._streamed)} input(s); "
                                  f"duty resolution {self.resolution_pct():.2f} %")
        return settings

    def accuracy_a(self, unit: str) -> float:
        """A comparator into Pulse Width In: two ticks of the clock (1 kHz PWM: 80 000 ticks at 80 MHz) and up to
        0.5 us of skew between the comparator's rising and falling edges, 0.05 % of duty; a streamed divider: up
        to four samples of its window misplaced at the edges of the periods it counts (0.27 % at 1500 scans).
        In amps at 0.6 A per % of duty, J1772's slope up to 51 A."""
        ref = self._refs[unit]
        if ref.front_end == "comparator":
            ticks = 2 * self.clock_divisor / 80_000
            duty_pct = 100 * (ticks + 0.5e-6 / 1e-3)
        else:
            duty_pct = 100 * 4 / self.window_scans
        return round(duty_pct * AMPS_PER_DUTY_PCT, 3)

    def resolution_pct(self) -> float:
        """Duty resolution of a streamed window when the stream clock walks through the PWM's phase."""
        return 100.0 / self.window_scans

    def present(self, unit: str, state: PilotState) -> None:
        ref = self._refs[unit]
        self._lj.write_lines(self._lj.pilot_lines(state, ref.b_line, ref.c_line))

    def release_all(self) -> None:
        lines: dict[str, bool] = {}
        for ref in self._refs.values():
            lines.update({ref.b_line: False, ref.c_line: False})
        self._lj.write_lines(lines)

    def read(self, now: float | None = None) -> list[PilotReading]:
        if now is not None and self._last is not None and now - self._last[0] < MIN_PULSE_INTERVAL_S:
            # a pulse-width read with reset needs a whole new PWM period; a tick this close to the last one
            # (a wait's remainder) keeps the reading measured less than two periods ago
            return self._last[1]
        got: dict[str, PilotReading] = {}
        if self._pulse:
            readings = self._lj.read_pulse([channel for _, channel in self._pulse])
            got.update(zip((u for u, _ in self._pulse), readings, strict=True))
        if self._streamed:
            windows, _ = self._lj.stream_window([ain for _, ain, _ in self._streamed], self.scan_hz,
                                                self.window_scans)
            for (unit, _, ratio), samples in zip(self._streamed, windows, strict=True):
                got[unit] = pilot_from_samples(np.asarray(samples, dtype=float) * ratio)
        readings = [got[u] for u in self.units]
        if now is not None:
            self._last = (now, readings)
        return readings


class CanPilots:
    """Pilots on a CAN EV emulator: one node per unit."""

    def __init__(self, name: str, ev: CanEvEmulator, refs: dict[str, CanPilotRef]) -> None:
        self.name = name
        self.units = list(refs)
        self._ev = ev
        self._nodes = {unit: ref.node for unit, ref in refs.items()}
        self._order = list(self._nodes.values())

    def prepare(self) -> dict[str, str]:
        """Nothing to configure; the emulator answering is checked by the first read."""
        return {}

    def present(self, unit: str, state: PilotState) -> None:
        self._ev.set_state(self._nodes[unit], state)

    def release_all(self) -> None:
        problems = []
        for node in self._order:  # every node is tried, whatever the one before did
            try:
                self._ev.set_state(node, PilotState.A)
            except Exception as exc:
                problems.append(exc)
        if problems:
            raise problems[0]

    def read(self, now: float | None = None) -> list[PilotReading]:
        return self._ev.read_pilots(self._order)

    def accuracy_a(self, unit: str) -> float:
        """Two steps of the emulator's duty signal (0.01 % each, rig/dbc/ev_emulator.dbc), in amps."""
        return round(2 * 0.01 * AMPS_PER_DUTY_PCT, 3)


def pilot_ports(config: RackConfig, labjacks: dict[str, LabJackT7],
                ev_emulators: dict[str, CanEvEmulator]) -> dict[str, PilotPort]:
    """One port per instrument that carries pilots, by instrument name, units in rack-file order."""
    by_instrument: dict[str, dict[str, PilotRef | CanPilotRef]] = {}
    for u in config.units:
        by_instrument.setdefault(u.pilot.instrument, {})[u.name] = u.pilot
    ports: dict[str, PilotPort] = {}
    for name, refs in by_instrument.items():
        if name in ev_emulators:
            ports[name] = CanPilots(name, ev_emulators[name], refs)  # type: ignore[arg-type]
        else:
            ports[name] = LabJackPilots(name, labjacks[name], refs,  # type: ignore[arg-type]
                                        config.instruments.get(name))
    return ports
