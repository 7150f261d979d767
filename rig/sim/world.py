"""The simulated world: a virtual clock, the wiring of the rack, breakers, the Wi-Fi mesh and the units.

The world is the physics behind the device servers. It knows which load feeds which unit's contactor, which
LabJack line trips which breaker, which analyzer element measures which unit. Its time moves only when the
rack's clock asks it to (`advance`), so a 30-minute scenario runs in seconds and is the same every time for
the same seed. Every entry point takes the world's lock, because the device servers answer from their own
threads.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import random
import threading
from dataclasses import dataclass, field
from typing import Any

from rig.config import CanPilotRef, Rack
from rig.config import Unit as UnitConfig
from rig.sim.firmware_api import TICK_S

BOOT_S = 5.0
"""Time from power-on until the firmware runs; the pilot shows no PWM meanwhile."""


class VirtualClock:
    """World time in seconds. `sleep()` advances the world instead of waiting, so nothing blocks."""

    def __init__(self, world: World) -> None:
        self._world = world

    def now(self) -> float:
        return self._world.now

    def sleep(self, seconds: float) -> None:
        self._world.advance(seconds)


@dataclass
class SimUnit:
    """One unit's board: what the firmware drives and what the instruments see."""

    world: World
    config: UnitConfig
    serial: str
    nvram: dict[str, Any] = field(default_factory=dict)
    powered: bool = True
    wifi_up: bool = True
    b_closed: bool = False
    c_closed: bool = False
    pwm_amps: float | None = None
    contactor: bool = False
    load_on: bool = False
    load_setpoint_a: float = 0.0
    powered_since: float = 0.0
    firmware: Any = None
    session_start: float | None = None
    energy_wh: float = 0.0
    joined: str | None = None
    """Whose Wi-Fi the unit's client has joined: None for the site LAN, a leader's name for a follower. Kept like
    the unit's Wi-Fi configuration, across power cycles. A unit off the site LAN is not reachable from the rig."""
    sinks: list[Any] = field(default_factory=list)
    """The simulated loads wired to this unit (rig/sim/chroma_load.py), each with `sink() -> amps`; when there
    are none, `load_on` and `load_setpoint_a` stand for one ideal load (the rig's own driver tests set them)."""
    last_pwm_amps: float | None = None
    """The last offer the PWM carried before it stopped: what a pulse-width register still holds (T7 datasheet)."""

    # -- the Board protocol ------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def capability_a(self) -> float:
        return self.config.capability_a

    @property
    def nameplate_a(self) -> float:
        return self.config.nameplate_a

    def now(self) -> float:
        return self.world.now

    def pilot_state(self) -> str:
        if not self.b_closed:
            return "A"
        return "C" if self.c_closed else "B"

    def set_pilot(self, amps: float | None) -> None:
        if amps is not None and not 6.0 <= amps <= 80.0:
            raise ValueError(f"{self.name}: a pilot cannot advertise {amps} A")
        if amps is not None:
            self.last_pwm_amps = amps
        self.pwm_amps = amps

    def set_contactor(self, closed: bool) -> None:
        self.contactor = closed

    def measured_current(self) -> float:
        return self.true_current()

    def send(self, to: str, message: dict[str, Any]) -> None:
        self.world.mesh_send(self.name, to, message)

    def reboot(self) -> None:
        self.world.schedule_reboot(self)

    def join_wifi(self, leader: str | None) -> None:
        self.joined = leader

    @property
    def on_site_lan(self) -> bool:
        """Whether the rig can reach the unit's local API: not once it is a follower on its leader's Wi-Fi."""
        return self.joined is None

    # -- physics ---------------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.powered and self.firmware is not None

    def true_current(self) -> float:
        """Current through the unit: what its loads sink when power and contactor are on and the pilot is in C."""
        if not (self.powered and self.contactor and self.pilot_state() == "C"):
            return 0.0
        if self.sinks:
            return sum(load.sink() for load in self.sinks)
        return self.load_setpoint_a if self.load_on else 0.0

    @functools.cached_property
    def line_v(self) -> float:
        """The supply voltage at the unit (the rack file's `supply_v`): what the loads sink power from."""
        return float(getattr(self.world.rack, "supply_v", 240.0))

    def pilot_duty(self) -> float | None:
        """Duty cycle in percent, or None for no PWM (unpowered, booting, or PWM stopped)."""
        if not self.running or self.pwm_amps is None:
            return None
        amps = self.pwm_amps
        return amps / 0.6 if amps <= 51.0 else amps / 2.5 + 64.0

    def pilot_high_v(self) -> float:
        if not self.powered:
            return 0.0
        return {"A": 12.0, "B": 9.0, "C": 6.0}[self.pilot_state()]

    def power_off(self) -> None:
        self.powered = False
        self.firmware = None
        self.pwm_amps = None
        self.contactor = False

    def power_on(self) -> None:
        self.powered = True
        self.powered_since = self.world.now
        self.world.schedule_boot(self)


class World:
    """All simulated units, their wiring and the mesh; advanced only by the rack's clock."""

    def __init__(self, rack: Rack, model: type, seed: int = 1, wifi_latency_s: float = 0.2) -> None:
        self.rack = rack
        self.model = model
        self.now = 0.0
        self.lock = threading.RLock()
        self.clock = VirtualClock(self)
        self.random = random.Random(seed)
        self.wifi_latency_s = wifi_latency_s
        self.units: dict[str, SimUnit] = {}
        for i, cfg in enumerate(rack.units, start=1):
            # a unit's serial is its own (from the seed, as a factory gives it), never the rack file's: the rack file
            # says which unit should be at this place, and the rig checks that the one answering is that unit
            self.units[cfg.name] = SimUnit(world=self, config=cfg, serial=f"SIM{seed:04d}{i:03d}")
        self._queue: list[tuple[float, int, str, Any]] = []
        self._seq = itertools.count()
        self._next_tick = TICK_S
        self.actors: list[Any] = []
        """What acts on the units as world time passes besides their firmware: a simulated operator (its
        `act(now)` runs every firmware tick)."""
        for unit in self.units.values():
            unit.power_on()
        self.wiring = Wiring(self)

    # -- time --------------------------------------------------------------------------------------------

    def advance(self, seconds: float) -> None:
        """Move world time forward, running firmware ticks and delivering messages in order."""
        with self.lock:
            end = self.now + seconds
            while True:
                due = min(self._next_tick, self._queue[0][0] if self._queue else float("inf"))
                if due > end + 1e-9:
                    break
                self.now = due
                while self._queue and self._queue[0][0] <= self.now + 1e-9:
                    _, _, kind, payload = heapq.heappop(self._queue)
                    self._run(kind, payload)
                if self._next_tick <= self.now + 1e-9:
                    self._tick_units()
                    self._next_tick += TICK_S
            self.now = end

    def _at(self, when: float, kind: str, payload: Any) -> None:
        heapq.heappush(self._queue, (when, next(self._seq), kind, payload))

    def _run(self, kind: str, payload: Any) -> None:
        if kind == "boot":
            unit, since = payload
            if unit.powered and unit.powered_since == since:
                unit.firmware = self.model(unit)
        elif kind == "deliver":
            sender, to, message = payload
            dest = self.units.get(to)
            if dest is not None and dest.running and dest.wifi_up and self.units[sender].wifi_up:
                dest.firmware.on_message(sender, message)
        elif kind == "reboot":
            unit = payload
            if unit.powered:
                unit.firmware = None
                unit.pwm_amps = None
                unit.contactor = False
                unit.powered_since = self.now
                self._at(self.now + BOOT_S, "boot", (unit, unit.powered_since))

    def _tick_units(self) -> None:
        for actor in list(self.actors):
            actor.act(self.now)
        for unit in self.units.values():
            if unit.running:
                unit.firmware.tick()
            current = unit.true_current()
            if current > 0:
                unit.energy_wh += current * unit.line_v * TICK_S / 3600.0

    def schedule_boot(self, unit: SimUnit) -> None:
        self._at(self.now + BOOT_S, "boot", (unit, unit.powered_since))

    def schedule_reboot(self, unit: SimUnit) -> None:
        self._at(self.now + 0.01, "reboot", unit)

    def mesh_send(self, sender: str, to: str, message: dict[str, Any]) -> None:
        src = self.units[sender]
        if not (src.running and src.wifi_up):
            return
        jitter = self.random.uniform(0.0, self.wifi_latency_s / 2)
        self._at(self.now + self.wifi_latency_s + jitter, "deliver", (sender, to, dict(message)))

    # -- what the instruments do to the world -------------------------------------------------------------

    def set_breaker(self, unit: SimUnit, closed: bool) -> None:
        with self.lock:
            if closed and not unit.powered:
                unit.power_on()
            elif not closed and unit.powered:
                unit.power_off()

    def console(self, unit_name: str, line: str) -> str:
        """One service-console command to a unit; a unit without running firmware does not answer."""
        with self.lock:
            unit = self.units[unit_name]
            if not unit.running:
                return ""
            return unit.firmware.on_console(line)


class Wiring:
    """Which instrument channel is connected to which unit, taken from the rack file."""

    def __init__(self, world: World) -> None:
        rack = world.rack
        self.load: dict[str, SimUnit] = {}
        self.element: dict[tuple[str, int], SimUnit] = {}
        self.lines: dict[tuple[str, str], tuple[SimUnit, str]] = {}
        self.duty: dict[tuple[str, str], SimUnit] = {}
        """Comparator outputs on pulse-width lines: (instrument, line) -> unit."""
        self.ain: dict[tuple[str, str], tuple[SimUnit, str, float]] = {}
        """Analog inputs: (instrument, AIN) -> (unit, "peak" or "divider", ratio), as the rack file's front end
        describes the wiring."""
        self.console: dict[str, SimUnit] = {}
        self.ev: dict[tuple[str, int], SimUnit] = {}
        """CAN EV emulator nodes: (instrument, node) -> unit."""
        for cfg in rack.units:
            unit = world.units[cfg.name]
            for load in cfg.loads:
                self.load[load] = unit
            self.element[(cfg.analyzer.instrument, cfg.analyzer.element)] = unit
            if isinstance(cfg.pilot, CanPilotRef):
                self.ev[(cfg.pilot.instrument, cfg.pilot.node)] = unit
            else:
                self.lines[(cfg.pilot.instrument, cfg.pilot.b_line)] = (unit, "b")
                self.lines[(cfg.pilot.instrument, cfg.pilot.c_line)] = (unit, "c")
                if cfg.pilot.duty_line is not None:
                    self.duty[(cfg.pilot.instrument, cfg.pilot.duty_line)] = unit
                kind = "peak" if cfg.pilot.front_end == "comparator" else "divider"
                self.ain[(cfg.pilot.instrument, cfg.pilot.level)] = (unit, kind, cfg.pilot.ratio)
            self.lines[(cfg.breaker_relay.instrument, cfg.breaker_relay.line)] = (unit, "breaker")
            self.lines[(cfg.wifi_relay.instrument, cfg.wifi_relay.line)] = (unit, "wifi")
            if cfg.console:
                self.console[cfg.console] = unit
