"""The assembled rack: the actions a test plan takes, and the only place where time passes.

A test plan plugs vehicles, trips breakers, cuts Wi-Fi, removes units, sets the limit, and waits. Every
action goes through a driver and is written to the trace as an event. `wait()` and `wait_until()` are where
time passes (DESIGN rule 2): each tick sleeps one sampling period on the rack's clock (the wall clock in the
lab, the world's virtual clock in simulation), then reads every pilot and current, runs the vehicle
emulation, and appends a sample to the trace.

A rack is brought up once per run (`opened_rack`) and serves test after test, each writing its own trace
(`begin_test` / `end_test`), as a lab rack does: its units keep the network they were commissioned as, so tests
that need the same network share one commissioning (`ensure_network`), and every unit's firmware version is
read once, before any pairing takes followers off the lab LAN.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from rig.budgets import Budgets, Manifest
from rig.checks import Timeline, firmware_requirement
from rig.clock import WallClock
from rig.commissioning import commissioner_for, operator_dir
from rig.commissioning.plan import NetworkPlan
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
    shielded,
    take_charge,
)
from rig.trace import Event, Sample, Trace, TraceWriter
from rig.vehicle import Vehicle

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


class UnitIdentityError(InstrumentError):
    """The unit answering at a unit's API address is not the unit the rack file names (another serial number):
    every reading of it would be about the wrong unit, so the rack cannot be used (a rig fault)."""


class CrossCheckError(InstrumentError):
    """Two independent measurements of the same thing disagree beyond their tolerance: the rig cannot tell which
    is right, so nothing measured then can judge the firmware (a rig fault carrying both readings)."""


@dataclass
class UnitIdentity:
    """What a unit's API said about itself when the rack was brought up, before any pairing."""

    firmware_version: str
    serial_number: str


class Rack:
    """One rack, real or simulated, ready for a test plan."""

    def __init__(self, config: RackConfig, clock: Any, instruments: Instruments, manifest: Manifest,
                 vehicle_delay_s: float | None = None, state_dir: Path | None = None,
                 say: Callable[[str], None] | None = None) -> None:
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
        self.state_dir = Path(state_dir) if state_dir is not None else Path("reports")
        self.writer: TraceWriter | None = None
        """The trace of the test running now (begin_test / end_test)."""
        self.last: Sample | None = None
        self.listeners: list[RackListener] = []
        self.safety = RackSafety(None, config.name, None)
        """The unsafe marker (rig/safety.py): given a path when the rack is brought up; written before the rack
        leaves its safe state, removed when safe() succeeds."""
        self.load_guard = LoadGuard(self)
        self.sim: Any = None
        """The simulated rack behind a simulated rack file (for the rig's own fault-injection tests); None in the
        lab. Drivers never see it."""
        self.commissioner = commissioner_for(config, self.state_dir, say)
        self.network: NetworkPlan | None = None
        """The network the units were last commissioned as and still are, as far as the rig knows; None when no
        network is commissioned or a test changed it (removed a unit, set a limit...) or ended broken."""
        self.commissionings = 0
        """Networks commissioned this run (by console or by the operator)."""
        self.commissioning_s = 0.0
        """Rack time spent commissioning this run: on a real rack a commissioning takes longer than in simulation
        (rig/tiers.py estimates a real rack's night from it)."""
        self.power_cycles = 0
        """Units powered up again this run (a breaker closed by a test or by the safe state): each is a reboot that a
        real unit may take longer over than a simulated one."""
        self.units_seen: dict[str, UnitIdentity] = {}
        """Each unit's firmware version and serial number, read from its API when the rack was brought up."""
        self.brought_up = False
        self._reprepare = False
        """A test ended on a rig fault: the next one sets every instrument up again first."""
        self._tripped: set[str] = set()
        """Units whose breaker the rig holds open now."""
        self._last_network: NetworkPlan | None = None
        """The network last commissioned, even after a test changed it: who was a follower, for recovery."""
        self._next_api_check = 0.0
        self._leader_seen: list[tuple[float, float | None, str | None]] = []
        self._leader_api: list[tuple[float, float, bool]] = []

    # -- set-up ------------------------------------------------------------------------------------------

    def prepare(self) -> None:
        """Put every instrument in its starting mode (settings read back into the trace header) and the rack in
        its safe state."""
        self.settings = self.io.prepare()
        if self.writer is not None:
            self.writer.note_header(instrument_settings=self.settings)
        self.safe()

    def safe(self) -> list[str]:
        """Loads off, pilots to state A, breakers closed, Wi-Fi antennas connected. Best effort: every step
        is tried even if an earlier one fails; the failures are returned (and logged in the trace)."""
        self.vehicles.clear()
        problems = [*self.io.loads_off(), *self.io.release_pilots(), *self.io.release_relays()]
        powered_up = sorted(self._tripped)
        self._tripped.clear()
        self.power_cycles += len(powered_up)
        self._event("safe_state", problems=problems, powered_up=powered_up)
        self.safety.restored(problems)
        return problems

    def read_versions(self) -> dict[str, str]:
        """Every unit's firmware version, as read from its API when the rack was brought up (before any pairing:
        a follower's API is not reachable from the lab LAN once it is paired)."""
        return {name: unit.firmware_version for name, unit in self.units_seen.items()}

    def _identify_units(self) -> None:
        """Read every unit's version and serial number from its API, and check that each is the unit the rack
        file names. A unit that does not answer may be a follower of an earlier network: it is made standalone
        (reset at its console, or by the operator) and read again."""
        missing = self._read_identities(list(self.units))
        if missing and self.commissioner.method == "console":
            from rig.commissioning.console import ConsoleCommissioner

            before = dict.fromkeys(missing, None)
            for u in missing:
                self.console(u, "gpm reset")
            ConsoleCommissioner()._await_reboot(self, missing, before, f"{', '.join(missing)} back after gpm reset")
            missing = self._read_identities(missing)
        elif missing:
            self.commissioner.reach(self, missing)
            missing = self._read_identities(missing)
        if missing:
            raise InstrumentError(", ".join(f"{u}-api" for u in missing), "no firmware version could be read "
                                  "from the unit's API; the rig needs it before commissioning any network")
        versions = self.read_versions()
        self._event("units_identified", None, versions=versions,
                    serials={u: i.serial_number for u, i in self.units_seen.items()})

    def _read_identities(self, units: list[str]) -> list[str]:
        """Read the given units' /api/1/version; return the units that did not answer."""
        missing = []
        for name in units:
            try:
                version = self.poll_api(name).version()
            except InstrumentError:
                missing.append(name)
                continue
            wanted = self.units[name].serial
            if wanted is not None and version.serial_number != wanted:
                raise UnitIdentityError(f"{name}-api", f"{self.units[name].api} answers as serial "
                                        f"{version.serial_number!r}, but the rack file says {name} is {wanted!r}: "
                                        "another unit answers at this address (check the address or the rack file)")
            self.units_seen[name] = UnitIdentity(version.firmware_version, version.serial_number)
        return missing

    def poll_api(self, unit: str) -> Any:
        """A unit's API driver without the retry on a fresh connection: for reads the rig repeats anyway while it
        waits for something (a reboot, a cross-check), where a missed answer is an answer ("not yet")."""
        api = self.inst.apis[unit]
        return getattr(api, "driver", api)

    # -- one test after another ----------------------------------------------------------------------------

    def _header(self) -> dict[str, Any]:
        return {
            "rack": self.config.name,
            "simulated": self.config.simulated,
            "period_s": self.period,
            "measurement_tolerance_a": self.tolerance_a,
            "build": self.manifest.build,
            "expected_version": self.manifest.version,
            "budgets": self.budgets.model_dump(),
            "vehicle_delay_s": self.vehicle_delay_s,
            "commissioning": self.commissioner.method,
            "pilot_accuracy_a": {u: self.io.port_of[u].accuracy_a(u) for u in self.units},
            "units": {u.name: {"capability_a": u.capability_a, "nameplate_a": u.nameplate_a,
                               "breaker_a": u.breaker_a} for u in self.config.units},
        }

    def begin_test(self, trace_path: Path) -> None:
        """Start a test's trace. The first test of a run also brings the rack up (recorded in its trace): the
        unsafe marker of an earlier run is honoured, every instrument put in its mode, the rack made safe, and
        every unit identified."""
        self.writer = TraceWriter(trace_path, self._header())
        self.last = None
        self.load_guard = LoadGuard(self)
        self._next_api_check = self.now
        self._leader_seen.clear()
        self._leader_api.clear()
        if not self.brought_up:
            take_charge(self, self.state_dir)
            self.prepare()
            self._identify_units()
            self.brought_up = True
        elif self.safety.problems:
            take_charge(self, self.state_dir)  # an earlier test left the rack unsafe: restore it before anything
            self.prepare()
        elif self._reprepare:
            self.prepare()  # after a rig fault: every instrument set up and read back again (a latched load cleared)
        else:
            self.writer.note_header(instrument_settings=self.settings)
        self._reprepare = False
        if self.units_seen:
            self.writer.note_header(firmware_versions=self.read_versions(),
                                    serials={u: i.serial_number for u, i in self.units_seen.items()})

    def end_test(self, broken: bool = False) -> list[str]:
        """Leave the rack safe after a test and wait until the network it kept is back; close the test's trace.
        A test that ended broken leaves the network in an unknown state: the next test commissions it again."""
        if self.writer is None:
            return []
        try:
            with shielded():
                problems = self.safe()
            if broken:
                self.network = None
                self._reprepare = True
            if not problems:
                self._await_recovery()
        finally:
            self.writer.close()
        return problems

    def _await_recovery(self) -> None:
        """Units whose power the test cycled are rebooting; the next test must find them back. A leader or a
        standalone unit is back when its API answers; a follower (not reachable once paired) when the leader's
        console lists it online. What cannot be seen (a follower on an operator-commissioned rack) is given its
        whole budget: `reboot_s` after its power came back."""
        cycled: dict[str, float] = {}
        for e in self.trace.events:
            if e.action == "restore" and e.unit:
                cycled[e.unit] = e.t
            elif e.action == "safe_state":
                for u in e.data.get("powered_up") or []:
                    cycled[u] = e.t
        if not cycled:
            return
        budget = max(0.0, max(cycled.values()) + self.budgets.reboot_s - self.now)
        plan = self._last_network
        followers = [u for u in cycled if plan is not None and u in plan.followers]
        if followers and self.commissioner.method != "console":
            self.wait(budget)
            return
        from rig.commissioning.console import parse_status

        def answers(u: str) -> bool:
            try:
                self.poll_api(u).version()
            except InstrumentError:
                return False
            return True

        def back(r: Rack) -> bool:
            if not all(answers(u) for u in cycled if u not in followers):
                return False
            if not followers:
                return True
            assert plan is not None
            if not answers(plan.leader):
                return False
            try:
                online = parse_status(r.console(plan.leader, "gpm status")).get("online", "")
            except InstrumentError:
                return False
            return set(followers) <= set(filter(None, online.split(",")))

        try:
            self.wait_until(back, budget, f"{', '.join(sorted(cycled))} back after their power was cycled")
        except ConditionTimeout:
            self.network = None  # not back within the budget: commission anew rather than judge a broken network

    def ensure_network(self, plan: NetworkPlan) -> NetworkPlan:
        """Bring the rack to `plan`: nothing to do when its units are already that network (the test's trace
        records it as commissioned then, `reused`), else commission it."""
        if self.network == plan:
            self._commissioned(plan, reused=True)
            return plan
        return self._commission(plan)

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
                self._blame_instruments(what)
                raise ConditionTimeout(f"{what}: not within {timeout:g} s (from t={start:.1f} s)")
            self.clock.sleep(self.period)
            self._tick()
        return self.now - start

    def health(self) -> list[str]:
        """What the instruments themselves report as wrong (error queues, protection bits), read-only."""
        problems: list[str] = []
        rack_io = getattr(self, "io", None)
        if rack_io is not None and hasattr(rack_io, "health"):
            problems += rack_io.health()
        return problems

    def _blame_instruments(self, what: str) -> None:
        """Before a timeout is called the firmware's fault: if an instrument reports a problem, the rig could not
        see what it waited for, and the test is broken, not failed."""
        problems = self.health()
        if problems:
            raise InstrumentError("rack", f"{what}: not seen in time, and the instruments report a problem, so the "
                                          f"firmware is not judged: {'; '.join(problems)}")

    def _tick(self) -> None:
        now = self.now
        reading = self.io.read(now)
        pilot = reading.pilot
        for unit, vehicle in self.vehicles.items():
            amps = self.load_guard.clamp(unit, vehicle.step(now, pilot.get(unit)), now, pilot.get(unit))
            self.io.draw(unit, amps)
        self.last = Sample(now, pilot, reading.current, reading.state)
        assert self.writer is not None, "no test trace begun"
        self.writer.sample(self.last)
        self._cross_check_leader(self.last)
        for listener in self.listeners:
            listener.on_sample(self, self.last)

    def _cross_check_leader(self, sample: Sample) -> None:
        """Every `api_check_s`, the leader's own API against the instruments: its vehicle current against the
        analyzer, its vehicle_connected against the pilot state the probe measures. The two are not taken at the same
        instant (the API is read between ticks, while the vehicle may be changing its draw), so a reading is judged
        once the samples of a few seconds around it are in: it must lie within `api_tolerance_a` of what the
        analyzer measured then, and the probe must have seen the same connection state then. Only the leader: a
        follower's API is not reachable once paired (FACTS.md)."""
        plan = self.network
        if plan is None or self.config.api_check_s <= 0:
            return
        leader = plan.leader
        around = 2.0 + 2 * self.period
        self._leader_seen.append((sample.t, sample.current.get(leader), sample.state.get(leader)))
        while self._leader_seen and self._leader_seen[0][0] < sample.t - 3 * around:
            self._leader_seen.pop(0)
        for reading in [r for r in self._leader_api if r[0] + around <= sample.t + 1e-9]:
            self._leader_api.remove(reading)
            self._judge_leader_reading(leader, reading, around)
        if sample.t < self._next_api_check - 1e-9:
            return
        self._next_api_check = sample.t + self.config.api_check_s
        try:
            vitals = self.poll_api(leader).vitals()  # a missed reading is simply not compared
        except InstrumentError:
            return  # the leader's API is not always reachable (rebooting after pairing); the instruments judge
        self._leader_api.append((sample.t, vitals.vehicle_current_a, vitals.vehicle_connected))

    def _judge_leader_reading(self, leader: str, reading: tuple[float, float, bool], around: float) -> None:
        t, api_a, connected = reading
        near = [(c, st) for ts, c, st in self._leader_seen if abs(ts - t) <= around + 1e-9]
        currents = [c for c, _ in near if c is not None]
        states = {st for _, st in near if st in ("A", "B", "C")}
        tol = self.config.api_tolerance_a
        problems = []
        if currents and api_a == api_a and not (min(currents) - tol <= api_a <= max(currents) + tol):
            problems.append(f"its API said {api_a:.1f} A, the analyzer measured {min(currents):.1f}-"
                            f"{max(currents):.1f} A within {around:g} s of it")
        if states and all((st in ("B", "C")) != connected for st in states):
            problems.append(f"its API said vehicle_connected={connected}, the pilot probe measured state(s) "
                            f"{', '.join(sorted(states))}")
        if problems:
            raise CrossCheckError(f"{leader}-api", f"leader {leader} and the instruments disagree at t={t:.1f} s: "
                                  f"{'; '.join(problems)}")

    # -- actions -------------------------------------------------------------------------------------------

    def _event(self, action: str, unit: str | None = None, **data: Any) -> None:
        event = Event(self.now, action, unit, data)
        if self.writer is not None:  # between tests (the rack left safe at the end of a run) there is no trace
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
        self._tripped.add(unit)
        self._relay(self._unit(unit).breaker_relay, True)
        self._event("trip", unit)

    def restore_breaker(self, unit: str) -> None:
        self._relay(self._unit(unit).breaker_relay, False)
        self._tripped.discard(unit)
        self.power_cycles += 1
        self._event("restore", unit)

    def cut_wifi(self, unit: str) -> None:
        self.safety.leaving(f"cut_wifi {unit}")
        self._relay(self._unit(unit).wifi_relay, True)
        self._event("cut_wifi", unit)

    def restore_wifi(self, unit: str) -> None:
        self._relay(self._unit(unit).wifi_relay, False)
        self._event("restore_wifi", unit)

    # -- the network: commissioning and changes while a test runs -------------------------------------------

    def console(self, unit: str, command: str) -> str:
        name = self._unit(unit).console
        if name is None:
            raise InstrumentError(unit, "has no service console in the rack file")
        return self.inst.consoles[name].command(command)

    def status(self, unit: str) -> dict[str, str]:
        """The unit's `gpm status` as a dict (console commissioning only)."""
        from rig.commissioning.console import parse_status

        return parse_status(self.console(unit, "gpm status"))

    def _leader(self) -> str:
        leader = Timeline(self.trace).network(self.now).leader
        if leader is None:
            raise RuntimeError("no network commissioned")
        return leader

    def commission(self, leader: str, followers: list[str] | tuple[str, ...], limit_a: float,
                   enabled: bool = True, outputs: dict[str, float] | None = None) -> NetworkPlan:
        """Commission this network now, whatever the units were (a plan that declares its network gets it from
        `ensure_network` before it starts instead)."""
        return self._commission(NetworkPlan(leader, tuple(followers), float(limit_a), enabled,
                                            tuple((outputs or {}).items())))

    def _commission(self, plan: NetworkPlan) -> NetworkPlan:
        for name in plan.members:
            self._unit(name)
        verdict = firmware_requirement(self.read_versions(), plan.members)
        if not verdict.passed:
            self._event("commission_refused", None, reason=verdict.summary)
            raise FirmwareRefused(verdict.report())
        self.network = None
        started = self.now
        self.commissioner.commission(self, plan)
        self.network = self._last_network = plan
        self.commissionings += 1
        self._commissioned(plan, reused=False)
        self.wait(COMMISSION_SETTLE_S)
        self.commissioning_s += self.now - started
        return plan

    def _commissioned(self, plan: NetworkPlan, reused: bool) -> None:
        """Write the network in force into the trace: the checks rebuild it from these events."""
        self._event("commission", None, leader=plan.leader, followers=list(plan.followers), limit=plan.limit_a,
                    enabled=plan.enabled, outputs=dict(plan.outputs), method=self.commissioner.method,
                    reused=reused, network=plan.key)
        for unit in plan.members:
            amps = plan.output(unit, self.units[unit].capability_a)
            if amps != self.units[unit].capability_a:
                self._event("set_max_output", unit, amps=float(amps))

    def _changed(self, **change: Any) -> None:
        """The network was changed while the test runs: the rig now knows it as this. A test that puts it back as
        it was leaves it for the next test that needs it; one that does not, leaves the next to commission anew."""
        if self.network is not None:
            self.network = dataclasses.replace(self.network, **change)

    def set_limit(self, limit_a: float) -> str:
        """Ask the leader for a new network limit; returns its reply (an out-of-range limit is refused)."""
        reply = self.commissioner.set_limit(self, self._leader(), limit_a)
        if reply.startswith("OK"):
            self._changed(limit_a=float(limit_a))
            self._event("set_limit", None, limit=float(limit_a))
        else:
            self._event("set_limit_refused", None, limit=float(limit_a), reply=reply)
        return reply

    def enable(self, on: bool = True) -> None:
        self.commissioner.enable(self, self._leader(), on)
        self._changed(enabled=bool(on))
        self._event("enable", None, on=on)

    def add_follower(self, unit: str) -> None:
        """Pair one more follower at the leader, which reboots and drops its Wi-Fi for a while (seed 004)."""
        self.commissioner.add(self, self._leader(), unit)
        if self.network is not None:
            self._changed(followers=(*self.network.followers, unit))
        self._event("add_follower", unit)

    def set_max_output(self, unit: str, amps: float) -> None:
        """Set a unit's branch-circuit setting, as the installer does for a unit on a smaller breaker (seed 004's
        60/60/50/20 A example)."""
        self.commissioner.set_output(self, unit, amps)
        if self.network is not None:
            self._changed(outputs=tuple({**dict(self.network.outputs), unit: float(amps)}.items()))
        self._event("set_max_output", unit, amps=float(amps))

    def remove_unit(self, unit: str) -> None:
        """Remove a follower from the network at the leader, as the commissioning tool does. The removed unit holds
        6 A until its breaker is cycled: the network is one smaller from now on."""
        self.commissioner.remove(self, self._leader(), unit)
        if self.network is not None:
            self._changed(followers=tuple(f for f in self.network.followers if f != unit))
        self._event("remove", unit)

    # -- facts for plans --------------------------------------------------------------------------------

    def fair_limit(self, unit: str) -> float:
        """The unit's fair limit in the network as the trace's events describe it now."""
        net = Timeline(self.trace).network(self.now)
        if not net.members:
            raise RuntimeError("no network commissioned")
        return net.fair(unit)

    @property
    def trace(self) -> Trace:
        assert self.writer is not None, "no test trace begun"
        return self.writer.trace

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        close = getattr(self.commissioner, "close", None)
        if close is not None:
            close()


@contextlib.contextmanager
def opened_rack(config: RackConfig, manifest: Manifest, model: str | None = None,
                vehicle_delay_s: float | None = None, state_dir: Path | None = None,
                say: Callable[[str], None] | None = None) -> Iterator[Rack]:
    """Open every instrument of the rack (starting the simulated world first when the rack file has [sim]) and
    yield the rack, ready for `begin_test`; on every way out put it in its safe state and close what was opened.

    Safety (rig/safety.py): the rack's unsafe marker lives in `state_dir` (default reports/); if an earlier run
    left the rack unsafe, its safe state is restored before anything else (in the first test's trace). Every
    driver call is retried `instrument_retries` times on a fresh connection, and with `trip_level_a` in the rack
    file the protection interlock watches the measured network current."""
    sim = None
    instruments = None
    rack = None
    state_dir = Path("reports") if state_dir is None else Path(state_dir)
    refuse_if_in_use(config, state_dir)
    try:
        if config.sim is not None:
            from rig.sim.rack_sim import SimulatedRack

            sim = SimulatedRack(config, model, operator_dir=operator_dir(config, state_dir))
            bound, clock = sim.start(), sim.clock
        else:
            bound, clock = config, WallClock()
        instruments = open_instruments(bound)
        guards = guard_instruments(instruments, config.instrument_retries, None)
        rack = Rack(bound, clock, instruments, manifest, vehicle_delay_s, state_dir, say)
        rack.sim = sim
        for guard in guards:
            guard.notify = retry_notifier(rack)
        if config.trip_level_a is not None:
            rack.listeners.append(ProtectionInterlock(config.trip_level_a))
        yield rack
    finally:
        try:
            if rack is not None and rack.brought_up:
                if rack.writer is not None and rack.writer.closed:
                    rack.writer = None  # the safe state on leaving is not any test's: kept out of their traces
                leave_safe(rack)
        finally:
            if rack is not None:
                rack.close()
            if instruments is not None:
                instruments.close()
            if sim is not None:
                sim.stop()


@contextlib.contextmanager
def open_rack(config: RackConfig, manifest: Manifest, trace_path: Path, model: str | None = None,
              vehicle_delay_s: float | None = None, state_dir: Path | None = None) -> Iterator[Rack]:
    """A rack brought up for one trace: `opened_rack` and one `begin_test`. For what runs one scenario on its own
    (a benchmark, the gate's version check, the rig's own tests)."""
    state_dir = Path(trace_path).parent.parent if state_dir is None else Path(state_dir)
    with opened_rack(config, manifest, model, vehicle_delay_s, state_dir) as rack:
        rack.begin_test(Path(trace_path))
        yield rack
