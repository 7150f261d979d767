"""The assembled rack: the actions a test plan takes, and the only place where time passes.

A test plan plugs vehicles, trips breakers, cuts Wi-Fi, removes units, sets the limit, and waits. Every
action goes through a driver and is written to the trace as an event. `wait()` and `wait_until()` are where
time passes (DESIGN rule 2): each tick sleeps one sampling period on the rack's clock (the wall clock in the
lab, the world's virtual clock in simulation), then reads every pilot and current, runs the vehicle
emulation, and appends a sample to the trace.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from rig import gpm
from rig.budgets import Budgets, Manifest
from rig.checks import Timeline, firmware_requirement
from rig.clock import WallClock
from rig.config import Rack as RackConfig
from rig.instruments.errors import InstrumentError
from rig.instruments.factory import Instruments, open_instruments
from rig.pilot import PilotState
from rig.rack_io import RackIO
from rig.safety import (
    LoadGuard,
    ProtectionInterlock,
    RackSafety,
    guard_instruments,
    leave_safe,
    refuse_if_in_use,
    retry_notifier,
    take_charge,
)
from rig.secrets import wifi_password
from rig.trace import Event, Sample, TraceWriter
from rig.vehicle import Vehicle

STARTUP_S = 8.0
"""Rack time allowed after opening for freshly powered units to boot before they are spoken to."""


COMMISSION_SETTLE_S = 5.0
"""Rack time a freshly formed network is given before a test acts on it: the leader has just rebooted and
listens to its followers before it first allocates."""


class RackListener(Protocol):
    """Something that follows the rack as it runs (live progress, report steps, the protection interlock).
    Both methods are optional in practice: implement the ones you need, leave the other a no-op."""

    def on_sample(self, rack: Rack, sample: Sample) -> None: ...

    def on_event(self, rack: Rack, event: Event) -> None: ...


class FirmwareRefused(AssertionError):
    """A unit's firmware is too old for the network asked for: the rig refuses to commission it."""


class ConditionTimeout(AssertionError):
    """What a test waited for did not happen in time: the firmware's failure, so an AssertionError."""


@dataclass(frozen=True)
class NetworkPlan:
    """The network a test commissions."""

    leader: str
    followers: tuple[str, ...]
    limit_a: float
    enabled: bool = True

    @property
    def members(self) -> list[str]:
        return [self.leader, *self.followers]


class Rack:
    """One rack, real or simulated, ready for a test plan."""

    def __init__(self, config: RackConfig, clock: Any, instruments: Instruments, manifest: Manifest,
                 trace_path: Path, vehicle_delay_s: float | None = None) -> None:
        self.config = config
        self.clock = clock
        self.inst = instruments
        self.manifest = manifest
        self.budgets: Budgets = manifest.budgets
        self.period = config.sample_period_s
        self.tolerance_a = config.measurement_tolerance_a
        self.vehicle_delay_s = self.budgets.vehicle_response_s if vehicle_delay_s is None else vehicle_delay_s
        self.vehicles: dict[str, Vehicle] = {}
        self.units = {u.name: u for u in config.units}
        self.io = RackIO(config, instruments)
        """Everything read and driven through the instruments (rig/rack_io.py)."""
        self.pilots = self.io.pilots
        """The pilot role, one port per instrument (LabJack lines or CAN EV emulator nodes)."""
        self.settings: dict[str, dict[str, str]] = {}
        """Every instrument's settings as read back by prepare()."""
        header = {
            "rack": config.name,
            "simulated": config.simulated,
            "period_s": self.period,
            "measurement_tolerance_a": self.tolerance_a,
            "build": manifest.build,
            "expected_version": manifest.version,
            "budgets": self.budgets.model_dump(),
            "vehicle_delay_s": self.vehicle_delay_s,
            "units": {u.name: {"capability_a": u.capability_a, "nameplate_a": u.nameplate_a,
                               "breaker_a": u.breaker_a} for u in config.units},
        }
        self.writer = TraceWriter(trace_path, header)
        self.last: Sample | None = None
        self.listeners: list[RackListener] = []
        self.safety = RackSafety(None, config.name, trace_path)
        """The unsafe marker (rig/safety.py): open_rack gives it a path; written before the rack leaves its safe
        state, removed when safe() succeeds."""
        self.load_guard = LoadGuard(self)
        self.sim: Any = None
        """The simulated rack behind a simulated rack file (for the rig's own fault-injection tests); None in the
        lab. Drivers never see it."""

    # -- set-up ------------------------------------------------------------------------------------------

    def prepare(self) -> None:
        """Put every instrument in its starting mode (settings read back into the trace header) and the rack in
        its safe state."""
        self.settings = self.io.prepare()
        self.writer.note_header(instrument_settings=self.settings)
        self.safe()

    def safe(self) -> list[str]:
        """Loads off, pilots to state A, breakers closed, Wi-Fi antennas connected. Best effort: every step
        is tried even if an earlier one fails; the failures are returned (and logged in the trace)."""
        self.vehicles.clear()
        problems = [*self.io.loads_off(), *self.io.release_pilots(), *self.io.release_relays()]
        self._event("safe_state", problems=problems)
        self.safety.restored(problems)
        return problems

    def read_versions(self) -> dict[str, str]:
        """Every unit's firmware version from its API, recorded in the trace header."""
        versions = {name: api.version().firmware_version for name, api in self.inst.apis.items()}
        self.writer.note_header(firmware_versions=versions)
        return versions

    # -- time ------------------------------------------------------------------------------------------

    @property
    def now(self) -> float:
        return self.clock.now()

    def wait(self, seconds: float) -> None:
        """Let `seconds` of rack time pass, sampling every period."""
        end = self.now + seconds
        while self.now < end - 1e-9:
            self.clock.sleep(min(self.period, end - self.now))
            self._tick()

    def wait_until(self, condition: Callable[[Rack], bool], timeout: float, what: str) -> float:
        """Sample until `condition(rack)` holds; return how long it took, or fail naming `what`."""
        start = self.now
        while not condition(self):
            if self.now - start >= timeout:
                raise ConditionTimeout(f"{what}: not within {timeout:g} s (from t={start:.1f} s)")
            self.clock.sleep(self.period)
            self._tick()
        return self.now - start

    def _tick(self) -> None:
        now = self.now
        reading = self.io.read(now)
        pilot = reading.pilot
        for unit, vehicle in self.vehicles.items():
            amps = self.load_guard.clamp(unit, vehicle.step(now, pilot.get(unit)), now, pilot.get(unit))
            self.io.draw(unit, amps)
        self.last = Sample(now, pilot, reading.current, reading.state)
        self.writer.sample(self.last)
        for listener in self.listeners:
            listener.on_sample(self, self.last)

    # -- actions -------------------------------------------------------------------------------------------

    def _event(self, action: str, unit: str | None = None, **data: Any) -> None:
        event = Event(self.now, action, unit, data)
        self.writer.event(event)
        for listener in self.listeners:
            listener.on_event(self, event)

    def _unit(self, name: str) -> Any:
        if name not in self.units:
            raise KeyError(f"rack {self.config.name!r} has no unit {name!r}")
        return self.units[name]

    def _pilot(self, unit: str, state: PilotState) -> None:
        self._unit(unit)
        self.io.present(unit, state)

    def plug(self, unit: str, demand_a: float, response_delay_s: float | None = None) -> None:
        """Connect an emulated vehicle that wants `demand_a` (state B, then C if it wants current)."""
        self._unit(unit)
        self.io.check_demand(unit, demand_a)
        delay = self.vehicle_delay_s if response_delay_s is None else response_delay_s
        vehicle = Vehicle(demand_a=demand_a, response_delay_s=delay)
        self.safety.leaving(f"plug {unit}")
        self.io.draw(unit, 0.0)
        self.io.load_on(unit)
        self.vehicles[unit] = vehicle
        self._pilot(unit, vehicle.state)
        self._event("plug", unit, demand_a=demand_a, response_delay_s=delay)

    def unplug(self, unit: str) -> None:
        self._unit(unit)
        self.vehicles.pop(unit, None)
        self.io.load_off(unit)
        self._pilot(unit, PilotState.A)
        self._event("unplug", unit)

    def set_demand(self, unit: str, demand_a: float) -> None:
        """What the vehicle wants changes (a smaller onboard charger, a tapering battery)."""
        vehicle = self.vehicles[unit]
        self.io.check_demand(unit, demand_a)
        vehicle.set_demand(demand_a)
        self.io.draw(unit, vehicle.draw_a)
        self._pilot(unit, vehicle.state)
        self._event("set_demand", unit, demand_a=demand_a)

    def _relay(self, ref: Any, energised: bool) -> None:
        self.io.set_relay(ref, energised)

    def trip_breaker(self, unit: str) -> None:
        self.safety.leaving(f"trip {unit}")
        self._relay(self._unit(unit).breaker_relay, True)
        self._event("trip", unit)

    def restore_breaker(self, unit: str) -> None:
        self._relay(self._unit(unit).breaker_relay, False)
        self._event("restore", unit)

    def cut_wifi(self, unit: str) -> None:
        self.safety.leaving(f"cut_wifi {unit}")
        self._relay(self._unit(unit).wifi_relay, True)
        self._event("cut_wifi", unit)

    def restore_wifi(self, unit: str) -> None:
        self._relay(self._unit(unit).wifi_relay, False)
        self._event("restore_wifi", unit)

    # -- commissioning through the service console ----------------------------------------------------------

    def console(self, unit: str, command: str) -> str:
        name = self._unit(unit).console
        if name is None:
            raise InstrumentError(unit, "has no service console in the rack file")
        return self.inst.consoles[name].command(command)

    def status(self, unit: str) -> dict[str, str]:
        """The unit's `gpm status` as a dict."""
        return dict(re.findall(r"(\w+)=(\S*)", self.console(unit, "gpm status")))

    def _leader_command(self, command: str) -> str:
        """A command to the leader of the network as the trace's events describe it now."""
        leader = Timeline(self.trace).network(self.now).leader
        if leader is None:
            raise RuntimeError("no network commissioned")
        return self.console(leader, command)

    def commission(self, leader: str, followers: list[str] | tuple[str, ...], limit_a: float,
                   enabled: bool = True, timeout_s: float = 90.0) -> NetworkPlan:
        """Form the network from scratch: reset members that belong to another network, pair the followers
        at the leader (which reboots), set the limit and enable. Fails if the network does not form."""
        plan = NetworkPlan(leader, tuple(followers), float(limit_a), enabled)
        for name in plan.members:
            self._unit(name)
        gpm.check_network_size(len(plan.members))
        versions = self.trace.header.get("firmware_versions", {})
        verdict = firmware_requirement(versions, plan.members)
        if not verdict.passed:
            self._event("commission_refused", None, reason=verdict.summary)
            raise FirmwareRefused(verdict.report())
        reset = [u for u in self.units if self.units[u].console and self.status(u).get("role") != "standalone"]
        for u in reset:
            self.console(u, "gpm reset")
        if reset:
            self.wait(STARTUP_S + 2)
        self._pair(leader, plan.followers)
        self._expect_ok(self.console(leader, f"gpm form {','.join(plan.followers)}"), f"gpm form at {leader}")
        self.wait(STARTUP_S + 2)
        want = set(plan.followers)

        def formed(rack: Rack) -> bool:
            online = rack.status(leader).get("online", "")
            return want <= set(filter(None, online.split(",")))

        self.wait_until(formed, timeout_s, f"network {plan.members} formed at {leader}")
        self._expect_ok(self.console(leader, f"gpm limit {limit_a:g}"), f"gpm limit at {leader}")
        self._expect_ok(self.console(leader, f"gpm enable {int(enabled)}"), f"gpm enable at {leader}")
        self._event("commission", None, leader=leader, followers=list(plan.followers), limit=plan.limit_a,
                    enabled=enabled)
        self.wait(COMMISSION_SETTLE_S)
        return plan

    def _pair(self, leader: str, followers: list[str] | tuple[str, ...]) -> None:
        """Give the leader each follower's Wi-Fi password, as the installer does when pairing: the leader joins
        each follower's own Wi-Fi. The password comes from rig/secrets.py and is redacted wherever it is shown."""
        for unit in followers:
            password = wifi_password(unit, simulated=self.config.simulated)
            self._expect_ok(self.console(leader, f"gpm pair {unit} {password}"), f"gpm pair {unit}")

    def _expect_ok(self, reply: str, what: str) -> None:
        if not reply.startswith("OK"):
            raise ConditionTimeout(f"{what} refused: {reply}")

    def set_limit(self, limit_a: float) -> str:
        """Ask the leader for a new network limit; returns its reply (an out-of-range limit is refused)."""
        reply = self._leader_command(f"gpm limit {limit_a:g}")
        if reply.startswith("OK"):
            self._event("set_limit", None, limit=float(limit_a))
        else:
            self._event("set_limit_refused", None, limit=float(limit_a), reply=reply)
        return reply

    def enable(self, on: bool = True) -> None:
        self._expect_ok(self._leader_command(f"gpm enable {int(on)}"), "gpm enable")
        self._event("enable", None, on=on)

    def add_follower(self, unit: str) -> None:
        """Pair one more follower at the leader, which reboots and drops its Wi-Fi for a while (seed 004)."""
        leader = Timeline(self.trace).network(self.now).leader
        if leader is None:
            raise RuntimeError("no network commissioned")
        self._pair(leader, [unit])
        self._expect_ok(self.console(leader, f"gpm add {unit}"), f"gpm add {unit} at {leader}")
        self._event("add_follower", unit)

    def set_max_output(self, unit: str, amps: float) -> None:
        """Set a unit's branch-circuit setting at its own console, as the installer does for a unit on a smaller
        breaker (seed 004's 60/60/50/20 A example)."""
        self._expect_ok(self.console(unit, f"gpm output {amps:g}"), f"gpm output on {unit}")
        self._event("set_max_output", unit, amps=float(amps))

    def remove_unit(self, unit: str) -> None:
        """Remove a follower from the network at the leader, as the commissioning wizard does."""
        self._expect_ok(self._leader_command(f"gpm remove {unit}"), f"gpm remove {unit}")
        self._event("remove", unit)

    # -- facts for plans --------------------------------------------------------------------------------

    def fair_limit(self, unit: str) -> float:
        """The unit's fair limit in the network as the trace's events describe it now."""
        net = Timeline(self.trace).network(self.now)
        if not net.members:
            raise RuntimeError("no network commissioned")
        return net.fair(unit)

    @property
    def trace(self) -> Any:
        return self.writer.trace

    def close(self) -> None:
        self.writer.close()


@contextlib.contextmanager
def open_rack(config: RackConfig, manifest: Manifest, trace_path: Path, model: str | None = None,
              vehicle_delay_s: float | None = None, state_dir: Path | None = None) -> Iterator[Rack]:
    """Bring the rack up (starting the simulated world first when the rack file has [sim]), yield it ready,
    and on every way out put it in its safe state and close what was opened.

    Safety (rig/safety.py): the rack's unsafe marker lives in `state_dir` (default: the trace directory's
    parent, reports/); if an earlier run left the rack unsafe, its safe state is restored before anything else.
    Every driver call is retried `instrument_retries` times on a fresh connection, and with `trip_level_a` in
    the rack file the protection interlock watches the measured network current."""
    sim = None
    instruments = None
    rack = None
    state_dir = Path(trace_path).parent.parent if state_dir is None else Path(state_dir)
    refuse_if_in_use(config, state_dir)
    try:
        if config.sim is not None:
            from rig.sim.rack_sim import SimulatedRack

            sim = SimulatedRack(config, model)
            bound, clock = sim.start(), sim.clock
        else:
            bound, clock = config, WallClock()
        instruments = open_instruments(bound)
        guards = guard_instruments(instruments, config.instrument_retries, None)
        rack = Rack(bound, clock, instruments, manifest, trace_path, vehicle_delay_s)
        rack.sim = sim
        for guard in guards:
            guard.notify = retry_notifier(rack)
        take_charge(rack, state_dir)
        if config.trip_level_a is not None:
            rack.listeners.append(ProtectionInterlock(config.trip_level_a))
        rack.prepare()
        rack.read_versions()
        yield rack
    finally:
        try:
            if rack is not None:
                leave_safe(rack)
                rack.close()
        finally:
            if instruments is not None:
                instruments.close()
            if sim is not None:
                sim.stop()
