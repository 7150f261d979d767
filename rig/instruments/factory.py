"""Open every instrument a rack file names, with the driver it names; close them all again.

This is the only place that maps a driver name to a driver class. It knows addresses, not simulation: a
simulated rack reaches here with loopback addresses and the LJM stand-in's module name, a lab rack with VISA
resource strings and `labjack.ljm`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rig.config import Rack
from rig.instruments.chroma_load import Chroma63800
from rig.instruments.errors import InstrumentError
from rig.instruments.labjack_t7 import LabJackT7, load_ljm
from rig.instruments.service_console import ServiceConsole
from rig.instruments.unit_api import UnitApi
from rig.instruments.yokogawa_wt import YokogawaWT


@dataclass
class Instruments:
    """The open drivers of one rack, by the names the rack file gives them."""

    loads: dict[str, Chroma63800] = field(default_factory=dict)
    analyzers: dict[str, YokogawaWT] = field(default_factory=dict)
    labjacks: dict[str, LabJackT7] = field(default_factory=dict)
    consoles: dict[str, ServiceConsole] = field(default_factory=dict)
    apis: dict[str, UnitApi] = field(default_factory=dict)
    """Unit API clients by unit name."""

    def all(self) -> list[Any]:
        return [*self.loads.values(), *self.analyzers.values(), *self.labjacks.values(),
                *self.consoles.values(), *self.apis.values()]

    def close(self) -> None:
        for driver in self.all():
            try:
                driver.close()
            except Exception:
                pass


def open_instruments(rack: Rack) -> Instruments:
    """Open every instrument; if one cannot be opened, close those already open and raise its error."""
    inst = Instruments()
    try:
        for name, cfg in rack.instruments.items():
            if cfg.driver == "chroma63800":
                inst.loads[name] = Chroma63800(name, cfg.address, cfg.timeout_s)
            elif cfg.driver == "yokogawa_wt":
                inst.analyzers[name] = YokogawaWT(name, cfg.address, cfg.timeout_s)
            elif cfg.driver == "labjack_t7":
                inst.labjacks[name] = LabJackT7(name, cfg.address, load_ljm(cfg.ljm))
            elif cfg.driver == "service_console":
                inst.consoles[name] = ServiceConsole(name, cfg.address, cfg.timeout_s)
            else:  # pragma: no cover - the rack file's Literal type refuses other names
                raise InstrumentError(name, f"no driver {cfg.driver!r}")
        for unit in rack.units:
            inst.apis[unit.name] = UnitApi(f"{unit.name}-api", unit.api.rstrip("/"))
    except BaseException:
        inst.close()
        raise
    return inst
