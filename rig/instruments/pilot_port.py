"""The pilot role: present a vehicle's state on a unit's pilot and measure the pilot's duty and level.

Two instruments can play it, and a rack may mix them: a LabJack T7 (resistor relays on digital lines, duty on a
pulse-width input, level on an analog input) and a CAN EV emulator (one node per unit). The rack sees only
`PilotPort`: one port per instrument, each read in one exchange per tick.
"""

from __future__ import annotations

from typing import Protocol

from rig.config import CanPilotRef, PilotRef
from rig.config import Rack as RackConfig
from rig.instruments.can_ev import CanEvEmulator
from rig.instruments.labjack_t7 import LabJackT7, PilotReading
from rig.pilot import PilotState


class PilotPort(Protocol):
    """The pilots of the units wired to one instrument."""

    name: str
    units: list[str]

    def prepare(self) -> None:
        """Put the instrument in its measuring mode (once, when the rack is brought up)."""

    def present(self, unit: str, state: PilotState) -> None:
        """Present a vehicle state on the unit's pilot; done when this returns."""

    def release_all(self) -> None:
        """Every pilot of this port to state A (no vehicle): part of the rack's safe state."""

    def read(self) -> list[PilotReading]:
        """Every unit's pilot, in the order of `units`, in one exchange."""


class LabJackPilots:
    """Pilots on a LabJack T7: B and C resistor relays, a pulse-width input and an analog input each."""

    def __init__(self, name: str, lj: LabJackT7, refs: dict[str, PilotRef]) -> None:
        self.name = name
        self.units = list(refs)
        self._lj = lj
        self._refs = refs
        self._channels = [(r.duty_line, r.voltage) for r in refs.values()]

    def prepare(self) -> None:
        self._lj.enable_pulse_in([duty for duty, _ in self._channels])

    def present(self, unit: str, state: PilotState) -> None:
        ref = self._refs[unit]
        self._lj.write_lines(self._lj.pilot_lines(state, ref.b_line, ref.c_line))

    def release_all(self) -> None:
        lines: dict[str, bool] = {}
        for ref in self._refs.values():
            lines.update({ref.b_line: False, ref.c_line: False})
        self._lj.write_lines(lines)

    def read(self) -> list[PilotReading]:
        return self._lj.read_pilots(self._channels)


class CanPilots:
    """Pilots on a CAN EV emulator: one node per unit."""

    def __init__(self, name: str, ev: CanEvEmulator, refs: dict[str, CanPilotRef]) -> None:
        self.name = name
        self.units = list(refs)
        self._ev = ev
        self._nodes = {unit: ref.node for unit, ref in refs.items()}
        self._order = list(self._nodes.values())

    def prepare(self) -> None:
        """Nothing to configure; the emulator answering is checked by the first read."""

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

    def read(self) -> list[PilotReading]:
        return self._ev.read_pilots(self._order)


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
            ports[name] = LabJackPilots(name, labjacks[name], refs)  # type: ignore[arg-type]
    return ports
