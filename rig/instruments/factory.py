"""Open every instrument a rack file names, with the driver it names; close them all again.

This is the only place that maps a driver name to a driver class. It knows addresses, not simulation: a
simulated rack reaches here with loopback addresses and the LJM stand-in's module name, a lab rack with VISA
resource strings and `labjack.ljm`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rig.config import Rack
from rig.instruments.can_ev import CanEvEmulator
from rig.instruments.chroma_load import Chroma63800
from rig.instruments.errors import InstrumentError
from rig.instruments.labjack_t7 import LabJackT7, load_ljm
from rig.instruments.service_console import ServiceConsole
from rig.instruments.unit_api import UnitApi
from rig.instruments.yokogawa_wt import AnalyzerSetup, YokogawaWT


@dataclass
class Instruments:
    """The open drivers of one rack, by the names the rack file gives them."""

    loads: dict[str, Chroma63800] = field(default_factory=dict)
    analyzers: dict[str, YokogawaWT] = field(default_factory=dict)
    labjacks: dict[str, LabJackT7] = field(default_factory=dict)
    consoles: dict[str, ServiceConsole] = field(default_factory=dict)
    ev_emulators: dict[str, CanEvEmulator] = field(default_factory=dict)
    apis: dict[str, UnitApi] = field(default_factory=dict)
    """Unit API clients by unit name."""

    def all(self) -> list[Any]:
        return [*self.loads.values(), *self.analyzers.values(), *self.labjacks.values(),
                *self.consoles.values(), *self.ev_emulators.values(), *self.apis.values()]

    def close(self) -> None:
        for driver in self.all():
            try:
                driver.close()
            except Exception:
                pass


class InstrumentsMissing(InstrumentError):
    """Instruments of the rack that could not be opened: one line each, so a rack without its hardware says at
    once everything that is missing (a rig fault: the night cannot run)."""

    def __init__(self, rack: str, problems: list[InstrumentError], total: int) -> None:
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(", ".join(p.instrument for p in problems), "")
        self.message = f"rack {rack!r}: {len(problems)} of {total} instruments cannot be opened:\n{lines}"

    def __str__(self) -> str:
        return self.message


def analyzer_setup(cfg: Any) -> AnalyzerSetup:
    """The analyzer settings a rack file's instrument table asks for, with the rig's defaults."""
    return AnalyzerSetup(wiring=cfg.wiring or "P1W2",
                         current_range_a=None if cfg.sensor_range_v is not None else (cfg.current_range_a or 30.0),
                         sensor_range_v=cfg.sensor_range_v, sensor_ratio_mv_per_a=cfg.sensor_ratio_mv_per_a,
                         update_s=cfg.update_s or 0.5)


def open_instrument(name: str, cfg: Any, inst: Instruments) -> None:
    """Open one instrument of a rack file with the driver it names, and file it under its role in `inst`."""
    if cfg.driver == "chroma63800":
        inst.loads[name] = Chroma63800(name, cfg.address, cfg.timeout_s, cfg.baud_rate)
    elif cfg.driver == "yokogawa_wt":
        inst.analyzers[name] = YokogawaWT(name, cfg.address, cfg.timeout_s, analyzer_setup(cfg), cfg.baud_rate)
    elif cfg.driver == "labjack_t7":
        inst.labjacks[name] = LabJackT7(name, cfg.address, load_ljm(cfg.ljm))
    elif cfg.driver == "service_console":
        inst.consoles[name] = ServiceConsole(name, cfg.address, cfg.timeout_s)
    elif cfg.driver == "can_ev_emulator":
        inst.ev_emulators[name] = CanEvEmulator(name, cfg.address, cfg.can_interface, cfg.bitrate, cfg.timeout_s)
    else:  # pragma: no cover - the rack file's Literal type refuses other names
        raise InstrumentError(name, f"no driver {cfg.driver!r}")


def open_instruments(rack: Rack) -> Instruments:
    """Open every instrument. Each is tried even when an earlier one failed; if any failed, those open are
    closed again and one InstrumentsMissing names every instrument that failed, one line each."""
    inst = Instruments()
    problems: list[InstrumentError] = []
    try:
        for name, cfg in rack.instruments.items():
            try:
                open_instrument(name, cfg, inst)
            except InstrumentError as exc:
                problems.append(exc if exc.instrument == name else InstrumentError(name, exc.message))
        if problems:
            raise InstrumentsMissing(rack.name, problems, len(rack.instruments))
        for unit in rack.units:
            inst.apis[unit.name] = UnitApi(f"{unit.name}-api", unit.api.rstrip("/"), read_timeout_s=unit.api_timeout_s)
    except BaseException:
        inst.close()
        raise
    return inst
