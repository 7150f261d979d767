"""Everything the rack reads and drives through its instruments, so that rig/rack.py only orchestrates.

`RackIO` sets every instrument up and reads its settings back (`prepare`), takes one tick's measurements
(`read`), presents vehicle states, switches and sets loads, and drives relay lines. It is also where the rig
checks its own measurements before a firmware check may use them (DESIGN rule 11):

- the analyzer's `NAN` is "no reading this update": that unit's current is None for the tick; a streak of
  NAN longer than the analyzer's `nan_budget_s` is a rig fault (`AnalyzerNoData`);
- each tick each unit's analyzer reading is cross-checked with its load group. With `crosscheck_readback =
  "every_tick"` every load that is on is read back (`MEAS:CURR?`, summed over the group) every tick. With the
  default "on_mismatch" the analyzer is first compared with what the loads were told to sink, and only where
  the two differ by more than the tolerance are the loads read back, and the readback decides: a load that
  sinks what it was told agrees with an analyzer that reads it, and reading 18 loads every tick would cost more
  than the tick (about 100 us per query in simulation, ~10 ms on a serial load). Loads that are off sink nothing
  and are not asked. A disagreement with the readback beyond `crosscheck_tolerance_a` that lasts longer than
  `crosscheck_s` is a rig fault carrying both readings (`CrossCheckFailed`);
- a load whose readback falls below its setpoint while its unit offers current in state C is asked for its
  protection bits (`PROT?`); set bits are a rig fault naming them (`LoadProtectionTrip`);
- a demand above what a unit's load group can sink at the rack's supply voltage is refused (`LoadTooSmall`).
All of these are InstrumentErrors: the test is broken, never failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rig.config import Rack as RackConfig
from rig.instruments.errors import InstrumentError
from rig.instruments.factory import Instruments
from rig.instruments.pilot_port import PilotPort, pilot_ports
from rig.pilot import PilotState, duty_to_amps, state_from_volts

PROTECTION_CHECK_TOLERANCE_A = 1.0
"""How far below its setpoint a load's readback may be before its protection bits are read."""


class CrossCheckFailed(InstrumentError):
    """The analyzer and a unit's load readback disagree for longer than the rack file allows."""

    def __init__(self, instrument: str, message: str, analyzer_a: float, load_a: float) -> None:
        super().__init__(instrument, message)
        self.analyzer_a = analyzer_a
        self.load_a = load_a


class AnalyzerNoData(InstrumentError):
    """The analyzer has answered NAN for an element for longer than its budget."""


class LoadTooSmall(InstrumentError):
    """A demand the unit's loads cannot sink: the scenario asks for more than the rack can emulate."""


@dataclass(frozen=True)
class UnitReading:
    """One unit in one tick, with what it was derived from."""

    pilot_a: float | None
    state: str
    current_a: float | None
    duty_pct: float | None
    high_v: float
    low_v: float | None
    load_a: float | None
    """The load group's readback, None when it was not read this tick (loads off, or the analyzer read what the
    loads were told to sink)."""


@dataclass(frozen=True)
class Reading:
    """One tick of the whole rack."""

    pilot: dict[str, float | None]
    state: dict[str, str]
    current: dict[str, float | None]
    units: dict[str, UnitReading]


class RackIO:
    """The instruments of one rack, seen as the rack needs them."""

    def __init__(self, config: RackConfig, instruments: Instruments) -> None:
        self.config = config
        self.inst = instruments
        self.units = {u.name: u for u in config.units}
        self.pilots: dict[str, PilotPort] = pilot_ports(config, instruments.labjacks, instruments.ev_emulators)
        self.port_of = {unit: port for port in self.pilots.values() for unit in port.units}
        self.analyzer_groups: dict[str, list[tuple[str, int]]] = {}
        for u in config.units:
            self.analyzer_groups.setdefault(u.analyzer.instrument, []).append((u.name, u.analyzer.element))
        self.sink_limits = {u.name: {load: config.instruments[load].sink_limit_a(config.supply_v)
                                     for load in u.loads} for u in config.units}
        self.nan_budget = {name: config.instruments[name].nan_budget_s or 2.0 for name in self.analyzer_groups}
        self._on: dict[str, bool] = {u: False for u in self.units}
        self._setpoint: dict[str, float] = {u: 0.0 for u in self.units}
        self._nan_since: dict[str, float] = {}
        self._disagree_since: dict[str, float] = {}

    # -- set-up ----------------------------------------------------------------------------------------

    def prepare(self) -> dict[str, dict[str, str]]:
        """Set every instrument up and return each one's settings as read back (`rig doctor` prints them)."""
        settings: dict[str, dict[str, str]] = {}
        for name, load in self.inst.loads.items():
            settings[name] = load.setup()
        for name, analyzer in self.inst.analyzers.items():
            settings[name] = analyzer.configure([el for _, el in self.analyzer_groups.get(name, [])])
        for name, port in self.pilots.items():
            settings.setdefault(name, {}).update(port.prepare())
        return settings

    def sink_limit_a(self, unit: str) -> float:
        """The most current the unit's load group sinks at the supply voltage."""
        return sum(self.sink_limits[unit].values())

    # -- one tick ----------------------------------------------------------------------------------------

    def read(self, now: float) -> Reading:
        """Every pilot and current, cross-checked; raises a rig fault when the rig cannot trust them."""
        readings = {}
        for port in self.pilots.values():
            readings.update(zip(port.units, port.read(now), strict=True))
        current: dict[str, float | None] = {}
        for name, group in self.analyzer_groups.items():
            values = self.inst.analyzers[name].read_currents()
            for (unit, element), value in zip(group, values, strict=True):
                current[unit] = value
                self._no_data(name, unit, element, value, now)
        pilot = {u: duty_to_amps(r.duty_pct) for u, r in readings.items()}
        state = {u: state_from_volts(r.high_v).value for u, r in readings.items()}
        loads = self._cross_check(current, pilot, state, now)
        units = {u: UnitReading(pilot[u], state[u], current.get(u), r.duty_pct, r.high_v, r.low_v, loads.get(u))
                 for u, r in readings.items()}
        return Reading(pilot, state, current, units)

    def _no_data(self, analyzer: str, unit: str, element: int, value: float | None, now: float) -> None:
        if value is not None:
            self._nan_since.pop(unit, None)
            return
        since = self._nan_since.setdefault(unit, now)
        if now - since > self.nan_budget[analyzer] + 1e-9:
            raise AnalyzerNoData(analyzer, f"element {element} ({unit}) has answered NAN (no data) for "
                                           f"{now - since:.1f} s since t={since:.1f} s, over the "
                                           f"{self.nan_budget[analyzer]:g} s budget (nan_budget_s)")

    def _cross_check(self, current: dict[str, float | None], pilot: dict[str, float | None],
                     state: dict[str, str], now: float) -> dict[str, float]:
        tol, allowed = self.config.crosscheck_tolerance_a, self.config.crosscheck_s
        readback: dict[str, float] = {}
        every_tick = self.config.crosscheck_readback == "every_tick"
        for unit in self.units:
            analyzer_a = current.get(unit)
            if not self._on[unit]:
                load_a = 0.0
            elif every_tick or analyzer_a is None or abs(analyzer_a - self._setpoint[unit]) > tol:
                load_a = self._readback(unit)
                readback[unit] = load_a
            else:
                load_a = analyzer_a  # the analyzer reads what the loads were told to sink
            if analyzer_a is not None and abs(analyzer_a - load_a) > tol:
                since = self._disagree_since.setdefault(unit, now)
                if now - since > allowed + 1e-9:
                    u = self.units[unit]
                    raise CrossCheckFailed(
                        u.analyzer.instrument,
                        f"{unit}: analyzer element {u.analyzer.element} reads {analyzer_a:.2f} A, load "
                        f"{'+'.join(u.loads)} reads back {load_a:.2f} A, apart by more than {tol:g} A for "
                        f"{now - since:.1f} s since t={since:.1f} s (crosscheck_tolerance_a, crosscheck_s)",
                        analyzer_a, load_a)
            else:
                self._disagree_since.pop(unit, None)
            if self._on[unit] and pilot.get(unit) is not None and state.get(unit) == PilotState.C.value \
                    and load_a < self._setpoint[unit] - PROTECTION_CHECK_TOLERANCE_A:
                self._check_protection(unit)
        return readback

    def _readback(self, unit: str) -> float:
        return sum(self.inst.loads[load].measure_current() for load in self.units[unit].loads)

    def _check_protection(self, unit: str) -> None:
        for load in self.units[unit].loads:
            trip = self.inst.loads[load].tripped()
            if trip is not None:
                raise type(trip)(trip.instrument, f"{trip.message} while {unit}'s vehicle draws "
                                                  f"{self._setpoint[unit]:.1f} A")

    # -- actions -------------------------------------------------------------------------------------------

    def present(self, unit: str, state: PilotState) -> None:
        self.port_of[unit].present(unit, state)

    def check_demand(self, unit: str, amps: float) -> None:
        """Refuse a demand the unit's loads cannot sink, naming the unit and its loads."""
        limit = self.sink_limit_a(unit)
        if amps > limit + 1e-9:
            loads = self.units[unit].loads
            raise LoadTooSmall(",".join(loads), f"{unit}'s vehicle would draw {amps:g} A, but load(s) "
                                                f"{', '.join(loads)} sink at most {limit:.1f} A at "
                                                f"{self.config.supply_v:g} V")

    def draw(self, unit: str, amps: float) -> None:
        """Set the unit's loads to sink `amps` together, each in proportion to what it can sink."""
        limits = self.sink_limits[unit]
        total = sum(limits.values())
        for load, limit in limits.items():
            self.inst.loads[load].set_current(amps * limit / total)
        self._setpoint[unit] = amps

    def load_on(self, unit: str) -> None:
        for load in self.units[unit].loads:
            self.inst.loads[load].on()
        self._on[unit] = True

    def load_off(self, unit: str) -> None:
        self._on[unit] = False
        for load in self.units[unit].loads:
            self.inst.loads[load].off()
        self.draw(unit, 0.0)

    def set_relay(self, ref: Any, energised: bool) -> None:
        self.inst.labjacks[ref.instrument].write_lines({ref.line: energised})

    # -- the safe state (best effort: every step is tried, the failures are returned) ----------------------

    def loads_off(self) -> list[str]:
        problems = []
        for unit in self.units:
            self._on[unit] = False
            self._setpoint[unit] = 0.0
        for name, load in self.inst.loads.items():
            try:
                load.off()
                load.set_current(0.0)
            except Exception as exc:
                problems.append(f"{name}: {exc}")
        return problems

    def release_pilots(self) -> list[str]:
        problems = []
        for name, port in self.pilots.items():
            try:
                port.release_all()
            except Exception as exc:
                problems.append(f"{name}: {exc}")
        return problems

    def release_relays(self) -> list[str]:
        problems = []
        lines: dict[str, dict[str, bool]] = {}
        for u in self.config.units:
            lines.setdefault(u.breaker_relay.instrument, {})[u.breaker_relay.line] = False
            lines.setdefault(u.wifi_relay.instrument, {})[u.wifi_relay.line] = False
        for name, values in lines.items():
            try:
                self.inst.labjacks[name].write_lines(values)
            except Exception as exc:
                problems.append(f"{name}: {exc}")
        return problems

    # -- health --------------------------------------------------------------------------------------------

    def health(self) -> list[str]:
        """A look at each instrument's own error and protection state, changing nothing it drives: what the
        analyzers' error queues and the loads' protection bits say (an empty list when all is well)."""
        problems = []
        for name, analyzer in self.inst.analyzers.items():
            try:
                error = analyzer.errors()
                if error:
                    problems.append(f"{name}: reports {error}")
            except Exception as exc:
                problems.append(f"{name}: {exc}")
        for name, load in self.inst.loads.items():
            try:
                trip = load.tripped()
                if trip is not None:
                    problems.append(str(trip))
            except Exception as exc:
                problems.append(f"{name}: {exc}")
        return problems
