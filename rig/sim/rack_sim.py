"""Bring a simulated rack up from its rack file: the world, and a device server for every address in it.

Each instrument of a simulated rack file has a loopback address (port 0 asks for a free port). Starting the
rack starts a server speaking that instrument's real protocol there, and hands back the same rack file with the
ports filled in. From then on the rig talks to it exactly as it talks to a lab rack.
"""

from __future__ import annotations

import itertools
import re
import threading
from pathlib import Path
from typing import Any

from rig.config import Rack, import_model
from rig.sim import ljm_standin
from rig.sim.api_server import UnitApiServer
from rig.sim.can_ev import SimulatedEvEmulator
from rig.sim.chroma_load import ChromaLoad
from rig.sim.console_device import ServiceConsole
from rig.sim.line_server import LineServer
from rig.sim.operator_standin import OperatorStandIn
from rig.sim.world import World
from rig.sim.yokogawa_wt import YokogawaWT

_VISA_SOCKET = re.compile(r"^TCPIP0?::(127\.0\.0\.1|localhost)::(\d+)::SOCKET$", re.IGNORECASE)
_SOCKET_URL = re.compile(r"^socket://(127\.0\.0\.1|localhost):(\d+)$")
_HTTP_URL = re.compile(r"^http://(127\.0\.0\.1|localhost):(\d+)/?$")


_virtual_channels = itertools.count(1)

POWER_ON_S = 10.0
"""World time that has passed since the rack was switched on when the rig opens it."""


class SimulationError(ValueError):
    """A simulated rack file whose addresses the simulator cannot serve."""


def _port(pattern: re.Pattern[str], address: str, what: str) -> int:
    m = pattern.match(address)
    if m is None:
        raise SimulationError(f"{what}: {address!r} is not a loopback address the simulated rack can serve")
    return int(m.group(2))


class SimulatedRack:
    """The world plus its device servers; `start()` returns the rack file bound to the servers' ports."""

    def __init__(self, rack: Rack, model: str | None = None, operator_dir: Path | None = None) -> None:
        if rack.sim is None:
            raise SimulationError(f"rack {rack.name!r} has no [sim] table")
        self.rack = rack
        self.model_spec = model or rack.sim.model
        self.world = World(rack, import_model(self.model_spec), rack.sim.seed, rack.sim.wifi_latency_s)
        self.servers: dict[str, Any] = {}
        self.api_servers: dict[str, UnitApiServer] = {}
        self.labjacks: dict[str, ljm_standin.SimulatedT7] = {}
        self.bound: Rack | None = None
        self.operator: OperatorStandIn | None = None
        if rack.commissioning.method == "operator" and rack.sim.operator:
            if operator_dir is None:
                raise SimulationError(f"rack {rack.name!r}: the simulated operator needs the request directory")
            self.operator = OperatorStandIn(self.world, operator_dir)
            self.operator.start()

    @property
    def clock(self) -> Any:
        return self.world.clock

    def start(self) -> Rack:
        instruments = {}
        try:
            for i, (name, inst) in enumerate(self.rack.instruments.items(), start=1):
                instruments[name] = inst.model_copy(update={"address": self._serve(name, inst, i)})
            units = []
            for cfg in self.rack.units:
                server = UnitApiServer(self.world, cfg.name, port=_port(_HTTP_URL, cfg.api, f"unit {cfg.name} api"))
                server.start()
                self.api_servers[cfg.name] = server
                units.append(cfg.model_copy(update={"api": server.url}))
        except BaseException:
            self.stop()
            raise
        # the rack is switched on before the night starts: the units have booted when the rig first looks
        self.world.advance(POWER_ON_S)
        self.bound = self.rack.model_copy(update={"instruments": instruments, "units": units})
        return self.bound

    def _serve(self, name: str, inst: Any, index: int) -> str:
        if inst.driver == "chroma63800":
            unit = self.world.wiring.load.get(name)
            if unit is None:
                raise SimulationError(f"load {name!r} is wired to no unit")
            server = LineServer(ChromaLoad(self.world, unit, f"{inst.model or '63804'}000{index:04d}",
                                           inst.model or "63804"), _port(_VISA_SOCKET, inst.address, name))
            self.servers[name] = server.start()
            return f"TCPIP::127.0.0.1::{server.port}::SOCKET"
        if inst.driver == "yokogawa_wt":
            server = LineServer(YokogawaWT(self.world, name), _port(_VISA_SOCKET, inst.address, name))
            self.servers[name] = server.start()
            return f"TCPIP::127.0.0.1::{server.port}::SOCKET"
        if inst.driver == "service_console":
            unit = self.world.wiring.console.get(name)
            if unit is None:
                raise SimulationError(f"console {name!r} is wired to no unit")
            server = LineServer(ServiceConsole(self.world, unit.name), _port(_SOCKET_URL, inst.address, name),
                                terminator="")
            self.servers[name] = server.start()
            return f"socket://127.0.0.1:{server.port}"
        if inst.driver == "labjack_t7":
            device = ljm_standin.SimulatedT7(self.world, name, serial=470010000 + index)
            ljm_standin.register(inst.address, device)
            self.labjacks[inst.address] = device
            return inst.address
        if inst.driver == "can_ev_emulator":
            if inst.can_interface != "virtual":
                raise SimulationError(f"{name}: CAN interface {inst.can_interface!r} is not one the simulated rack "
                                      f"can serve (use can_interface = \"virtual\")")
            # a channel of its own per start, as port 0 is: frames of an earlier rack never reach this one
            channel = f"{inst.address}-{next(_virtual_channels)}"
            self.servers[name] = SimulatedEvEmulator(self.world, name, channel).start()
            return channel
        raise SimulationError(f"{name}: no simulated device for driver {inst.driver!r}")

    def stop(self) -> None:
        """Stop every server at once: each waits up to one poll interval, so in turn they would add up."""
        if self.operator is not None:
            self.operator.stop()
        stoppers = [threading.Thread(target=s.stop) for s in [*self.servers.values(), *self.api_servers.values()]]
        for t in stoppers:
            t.start()
        for t in stoppers:
            t.join(timeout=5)
        for identifier in self.labjacks:
            ljm_standin.unregister(identifier)
        self.servers.clear()
        self.api_servers.clear()
        self.labjacks.clear()
