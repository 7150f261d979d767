"""The CAN EV emulator driver against the simulated emulator on python-can's `virtual` bus, faults included; the
rack file's CAN pilots; and a unit of the simulated rack driven through it."""

from __future__ import annotations

import itertools
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import can
import pytest
from support import one_line

from rig.budgets import load_manifest
from rig.config import CanPilotRef, PilotRef, RackFileError, load_rack
from rig.instruments.can_ev import CanEvEmulator, load_dbc
from rig.instruments.errors import InstrumentError, InstrumentGarbage, InstrumentTimeout
from rig.pilot import PilotState, duty_to_amps, state_from_volts
from rig.rack import open_rack
from rig.sim.can_ev import SimulatedEvEmulator
from rig.sim.rack_sim import SimulatedRack, SimulationError
from rig.sim.world import World

ROOT = Path(__file__).resolve().parents[1]
SIM6 = ROOT / "racks" / "sim-6.toml"
TIMEOUT_S = 0.3
_channels = itertools.count(1)


@pytest.fixture
def channel() -> str:
    return f"test-can-ev-{next(_channels)}"


@pytest.fixture
def emulator(world: World, channel: str) -> Iterator[SimulatedEvEmulator]:
    sim = SimulatedEvEmulator(world, "ev1", channel).start()
    yield sim
    sim.stop()


@pytest.fixture
def ev(emulator: SimulatedEvEmulator, channel: str) -> Iterator[CanEvEmulator]:
    drv = CanEvEmulator("ev1", channel, interface="virtual", timeout_s=TIMEOUT_S)
    yield drv
    drv.close()


def test_sim6_drives_wc6_through_the_can_emulator() -> None:
    rack = load_rack(SIM6)
    assert rack.unit("wc6").pilot == CanPilotRef(instrument="ev1", node=1)
    assert rack.instruments["ev1"].driver == "can_ev_emulator"
    assert rack.instruments["ev1"].can_interface == "virtual"
    assert all(isinstance(u.pilot, PilotRef) for u in rack.units if u.name != "wc6")


def test_the_dbc_describes_the_three_frames() -> None:
    db = load_dbc()
    assert {m.name for m in db.messages} == {"EV_Command", "EV_StatusRequest", "EV_Status"}
    status = db.get_message_by_name("EV_Status")
    assert status.length == 8
    assert status.get_signal_by_name("Fault").choices[2] == "RelayStuck"


# -- the pilot role -------------------------------------------------------------------------------------


def test_states_a_b_c_switch_the_units_resistors(ev: CanEvEmulator, world: World) -> None:
    wc6 = world.units["wc6"]
    for state in (PilotState.B, PilotState.C, PilotState.A):
        status = ev.set_state(1, state)
        assert wc6.pilot_state() == state.value
        assert status.state is state
        assert state_from_volts(status.high_v) is state
    assert not wc6.b_closed and not wc6.c_closed


def test_duty_and_level_are_the_units_pilot(ev: CanEvEmulator, world: World) -> None:
    wc6 = world.units["wc6"]
    ev.set_state(1, PilotState.C)
    for amps in (6.0, 32.0, 48.0):
        wc6.pwm_amps = amps
        (reading,) = ev.read_pilots([1])
        assert duty_to_amps(reading.duty_pct) == pytest.approx(amps, abs=0.01)
        assert reading.high_v == pytest.approx(6.0)
    wc6.pwm_amps = None
    (reading,) = ev.read_pilots([1])
    assert reading.duty_pct is None and duty_to_amps(reading.duty_pct) is None


def test_an_unpowered_unit_reads_no_pwm_and_no_level(ev: CanEvEmulator, world: World) -> None:
    world.units["wc6"].pwm_amps = 32.0
    world.set_breaker(world.units["wc6"], closed=False)
    (status,) = ev.status([1])
    assert status.duty_pct is None and status.high_v == 0.0


def test_stale_replies_and_other_traffic_are_skipped(ev: CanEvEmulator, world: World, channel: str) -> None:
    """A reply to an earlier request (its counter) and frames of other devices never pass for the answer."""
    status = load_dbc().get_message_by_name("EV_Status")
    world.units["wc6"].pwm_amps = 20.0
    with can.Bus(interface="virtual", channel=channel) as other:
        stale = status.encode({"Node": 1, "Counter": 250, "PilotState": 2, "Fault": 0, "PwmDuty": 80.0,
                               "PilotHigh": 6.0, "PwmPresent": 1})
        other.send(can.Message(arbitration_id=status.frame_id, is_extended_id=False, data=stale))
        other.send(can.Message(arbitration_id=0x123, is_extended_id=False, data=b"\x01\x02"))
        (reading,) = ev.read_pilots([1])
    assert duty_to_amps(reading.duty_pct) == pytest.approx(20.0, abs=0.01)
    assert reading.high_v == pytest.approx(12.0)


def test_a_node_nobody_serves_times_out_naming_it(ev: CanEvEmulator) -> None:
    with pytest.raises(InstrumentTimeout) as info:
        ev.status([1, 7])
    assert "node 7" in one_line(info.value) and info.value.instrument == "ev1"


# -- faults --------------------------------------------------------------------------------------------


def test_a_silent_emulator_times_out_within_the_timeout(ev: CanEvEmulator, emulator: SimulatedEvEmulator) -> None:
    emulator.fault = "silent"
    start = time.monotonic()
    with pytest.raises(InstrumentTimeout) as info:
        ev.read_pilots([1])
    assert TIMEOUT_S * 0.9 <= time.monotonic() - start < TIMEOUT_S + 1.0
    text = one_line(info.value)
    assert text.startswith("ev1: no EV_Status from node 1 on virtual:")
    with pytest.raises(InstrumentTimeout):
        ev.set_state(1, PilotState.B)
    emulator.fault = None
    assert ev.set_state(1, PilotState.B).state is PilotState.B


def test_a_garbled_status_frame_is_garbage(ev: CanEvEmulator, emulator: SimulatedEvEmulator) -> None:
    emulator.fault = "garbage"
    with pytest.raises(InstrumentGarbage) as info:
        ev.read_pilots([1])
    assert "does not decode" in one_line(info.value)
    emulator.fault = None
    ev.read_pilots([1])


def test_impossible_values_are_garbage(ev: CanEvEmulator, channel: str, emulator: SimulatedEvEmulator) -> None:
    """A frame that decodes but cannot be a measurement (state 5, duty over 100 %)."""
    emulator.fault = "silent"
    status = load_dbc().get_message_by_name("EV_Status")
    data = bytearray(status.encode({"Node": 1, "Counter": 0, "PilotState": 0, "Fault": 0, "PwmDuty": 0,
                                    "PilotHigh": 12.0, "PwmPresent": 0}))
    data[1] = (ev._counter + 1) % 256  # the counter of the request about to be sent
    data[2] = 0x05  # PilotState 5
    with can.Bus(interface="virtual", channel=channel) as other:
        other.send(can.Message(arbitration_id=status.frame_id, is_extended_id=False, data=bytes(data)))
        with pytest.raises(InstrumentGarbage, match="impossible values: state 5"):
            ev.read_pilots([1])


def test_bus_off_is_a_rig_fault_naming_it(ev: CanEvEmulator, emulator: SimulatedEvEmulator) -> None:
    emulator.fault = "bus_off"
    with pytest.raises(InstrumentError) as info:
        ev.set_state(1, PilotState.B)
    assert not isinstance(info.value, InstrumentTimeout | InstrumentGarbage)
    assert "reports bus-off" in one_line(info.value)


def test_the_emulators_own_fault_is_reported_by_its_name(ev: CanEvEmulator, emulator: SimulatedEvEmulator) -> None:
    emulator.fault = "fault"
    with pytest.raises(InstrumentError, match=r"^ev1: node 1 reports RelayStuck \(EV_Status Fault=2\)$"):
        ev.read_pilots([1])


def test_a_bus_that_went_down_under_the_driver_cannot_send(ev: CanEvEmulator) -> None:
    ev._bus.shutdown()  # as socketcan refuses to send once the interface is down
    with pytest.raises(InstrumentError) as info:
        ev.set_state(1, PilotState.A)
    assert "cannot send EV_Command" in one_line(info.value) and "bus is down or off" in str(info.value)


def test_reopen_after_the_bus_went_down(ev: CanEvEmulator, world: World) -> None:
    ev._bus.shutdown()
    with pytest.raises(InstrumentError):
        ev.read_pilots([1])
    ev.reopen()
    assert ev.set_state(1, PilotState.B).state is PilotState.B
    assert world.units["wc6"].pilot_state() == "B"


def test_a_closed_driver_refuses_calls(ev: CanEvEmulator) -> None:
    ev.close()
    ev.close()
    with pytest.raises(InstrumentError, match="was closed"):
        ev.read_pilots([1])


@pytest.mark.parametrize(("interface", "channel", "says"), [
    ("no_such_interface", "x", "cannot open CAN bus no_such_interface:x"),
    ("socketcan", "rigtest-can9", "sudo ip link set rigtest-can9 up type can bitrate 500000"),
])
def test_a_bus_that_cannot_be_opened_is_an_instrument_error(interface: str, channel: str, says: str) -> None:
    with pytest.raises(InstrumentError) as info:
        CanEvEmulator("ev9", channel, interface=interface, timeout_s=TIMEOUT_S)
    assert says in one_line(info.value) and info.value.instrument == "ev9"


def test_the_simulated_emulator_refuses_an_unknown_fault(emulator: SimulatedEvEmulator) -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        emulator.fault = "smoke"


# -- the rack file -------------------------------------------------------------------------------------


def _sim6_with(tmp_path: Path, old: str, new: str) -> Path:
    text = SIM6.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    path = tmp_path / "rack.toml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


WC6_PILOT = 'pilot = { instrument = "ev1", node = 1 }'


@pytest.mark.parametrize(("old", "new", "message"), [
    (WC6_PILOT, 'pilot = { instrument = "load1a", node = 1 }',
     "units.5.pilot.instrument: unit 'wc6' uses 'load1a' as ev_emulator, but it is a chroma63800"),
    (WC6_PILOT, 'pilot = { instrument = "ev1", node = 0 }', "units.5.pilot.node: Input should be greater than"),
    (WC6_PILOT, 'pilot = { instrument = "ev1", node = 1, colour = "red" }', "units.5.pilot.colour: unknown key"),
    (WC6_PILOT, 'pilot = { instrument = "t7-pilots", node = 1 }',
     "units.5.pilot.instrument: unit 'wc6' uses 't7-pilots' as ev_emulator, but it is a labjack_t7"),
    ('pilot = { instrument = "t7-pilots", b_line = "EIO4", c_line = "EIO5", front_end = "divider", level = "AIN2", '
     'ratio = 4.0 }',
     'pilot = { instrument = "ev1", node = 1 }', "units.5.pilot.node: line node 1 of 'ev1' is used twice"),
    ('driver = "can_ev_emulator"', 'driver = "can_ev_emulator"\nmodel = "X1"',
     "instruments.ev1.model: a can_ev_emulator does not name its model"),
    ('bitrate = 500000', 'bitrate = 5', "instruments.ev1.bitrate: Input should be greater than or equal to 10000"),
])
def test_can_pilot_mistakes_are_one_line_naming_the_key(tmp_path: Path, old: str, new: str, message: str) -> None:
    path = _sim6_with(tmp_path, old, new)
    with pytest.raises(RackFileError) as info:
        load_rack(path)
    assert one_line(info.value) .startswith(f"{path}: {message}")


def test_a_labjack_pilot_missing_a_line_names_the_line(tmp_path: Path) -> None:
    path = _sim6_with(tmp_path, WC6_PILOT, 'pilot = { instrument = "t7-pilots", b_line = "CIO2", c_line = "CIO3" }')
    with pytest.raises(RackFileError, match=r"units\.5\.pilot\.front_end: Field required"):
        load_rack(path)


def test_a_simulated_rack_serves_only_virtual_can(tmp_path: Path) -> None:
    path = _sim6_with(tmp_path, 'can_interface = "virtual"', 'can_interface = "socketcan"')
    sim = SimulatedRack(load_rack(path))
    with pytest.raises(SimulationError, match="ev1: CAN interface 'socketcan'"):
        sim.start()


# -- a unit of the simulated rack, driven through the CAN emulator ---------------------------------------


def test_the_rack_charges_wc6_through_the_can_emulator(tmp_path: Path) -> None:
    config = load_rack(SIM6)
    manifest = load_manifest(ROOT / config.firmware.manifest)
    with open_rack(config, manifest, tmp_path / "trace.jsonl") as rack:
        assert set(rack.pilots) == {"t7-pilots", "t7-relays", "ev1"} and rack.pilots["ev1"].units == ["wc6"]
        ev: Any = rack.inst.ev_emulators["ev1"]
        rack.plug("wc6", 16)
        rack.wait(15)
        assert rack.last is not None
        assert rack.last.state["wc6"] == "C"
        assert rack.last.pilot["wc6"] == pytest.approx(48.0, abs=0.01)  # a standalone unit offers all it may
        assert rack.last.current["wc6"] == pytest.approx(16.0, abs=0.5)
        rack.unplug("wc6")
        rack.wait(1)
        assert rack.last.state["wc6"] == "A"
        assert ev.status([1])[0].state is PilotState.A


def test_the_sim6_rack_file_keeps_its_can_table() -> None:
    data = tomllib.loads(SIM6.read_text(encoding="utf-8"))
    assert data["instruments"]["ev1"] == {"driver": "can_ev_emulator", "address": "sim-ev1",
                                          "can_interface": "virtual", "bitrate": 500000}
