"""The LabJack T7 driver against the LJM stand-in wired into a simulated world, and against a missing LJM."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from support import one_line

from rig.instruments.errors import InstrumentError
from rig.instruments.labjack_t7 import NATIVE_HINT, LabJackT7, dio_number, load_ljm
from rig.pilot import PilotState, duty_to_amps, state_from_volts
from rig.sim import ljm_standin
from rig.sim.ljm_standin import SimulatedT7
from rig.sim.world import BOOT_S, World

_ids = itertools.count(1)


@pytest.fixture
def register() -> Iterator[Callable[[SimulatedT7], str]]:
    """Register simulated T7s under fresh identifiers; unregister them afterwards."""
    identifiers: list[str] = []

    def add(device: SimulatedT7) -> str:
        identifier = f"TEST-T7-{next(_ids)}"
        ljm_standin.register(identifier, device)
        identifiers.append(identifier)
        return identifier

    yield add
    for identifier in identifiers:
        ljm_standin.unregister(identifier)


@pytest.fixture
def pilots_device(world: World) -> SimulatedT7:
    return SimulatedT7(world, "t7-pilots", serial=1)


@pytest.fixture
def pilots(pilots_device: SimulatedT7, register: Callable[[SimulatedT7], str]) -> Iterator[LabJackT7]:
    t7 = LabJackT7("t7", register(pilots_device), ljm_standin)
    yield t7
    t7.close()


@pytest.fixture
def relays(world: World, register: Callable[[SimulatedT7], str]) -> Iterator[LabJackT7]:
    t7 = LabJackT7("t7-relays", register(SimulatedT7(world, "t7-relays", serial=2)), ljm_standin)
    yield t7
    t7.close()


def test_opens_the_registered_t7(pilots: LabJackT7, relays: LabJackT7) -> None:
    assert pilots.serial_number() == 1
    assert relays.serial_number() == 2


@pytest.mark.parametrize(("line", "n"), [("FIO0", 0), ("FIO7", 7), ("EIO0", 8), ("EIO7", 15), ("CIO0", 16),
                                         ("CIO3", 19), ("MIO2", 22)])
def test_dio_numbers(line: str, n: int) -> None:
    assert dio_number(line) == n


# -- relay lines -----------------------------------------------------------------------------------------


def test_lines_written_read_back_from_dio_state(relays: LabJackT7) -> None:
    lines = ["EIO1", "EIO3", "CIO1", "FIO5"]
    assert relays.read_lines(lines) == dict.fromkeys(lines, False)
    relays.write_lines({"EIO1": True, "CIO1": True})
    assert relays.read_lines(lines) == {"EIO1": True, "EIO3": False, "CIO1": True, "FIO5": False}
    relays.write_lines({"EIO1": False, "EIO3": True})
    assert relays.read_lines(lines) == {"EIO1": False, "EIO3": True, "CIO1": True, "FIO5": False}
    relays.write_lines({})
    assert relays.read_lines(["EIO3"]) == {"EIO3": True}


def test_writing_a_breaker_line_trips_that_unit(relays: LabJackT7, world: World) -> None:
    wc3 = world.units["wc3"]
    assert world.rack.unit("wc3").breaker_relay.line == "EIO4"
    assert wc3.powered and wc3.running
    relays.write_lines({"EIO4": True})
    assert not wc3.powered and not wc3.running
    assert all(u.powered for name, u in world.units.items() if name != "wc3")
    assert relays.read_lines(["EIO4"]) == {"EIO4": True}
    relays.write_lines({"EIO4": False})
    assert wc3.powered
    world.advance(BOOT_S + 0.5)
    assert wc3.running


def test_writing_a_wifi_line_cuts_that_units_wifi(relays: LabJackT7, world: World) -> None:
    relays.write_lines({"CIO1": True})  # wc5's Wi-Fi relay
    assert not world.units["wc5"].wifi_up
    assert world.units["wc5"].powered
    assert all(u.wifi_up for name, u in world.units.items() if name != "wc5")


def test_pilot_relays_present_states_a_b_c(pilots: LabJackT7, world: World) -> None:
    wc1 = world.units["wc1"]
    for state in (PilotState.B, PilotState.C, PilotState.A):
        pilots.write_lines(pilots.pilot_lines(state, "EIO0", "EIO1"))
        assert wc1.pilot_state() == state
        (reading,) = _read(pilots, [("FIO0", "AIN0")], world)
        assert state_from_volts(reading.high_v) is state
    with pytest.raises(ValueError, match="states A, B and C"):
        pilots.pilot_lines(PilotState.D, "EIO0", "EIO1")


def _read(t7: LabJackT7, channels: list[tuple[str, str]], world: World | None = None) -> list[Any]:
    """Set the clock and the feature up, let 10 ms pass (less than a firmware tick, so the PWM the test set stays),
    read with the comparator front end (4:1 level)."""
    t7.configure_clock(1)
    t7.enable_pulse_in([duty for duty, _ in channels])
    if world is not None:
        world.advance(0.01)
    return t7.read_pulse([(duty, ain, 4.0) for duty, ain in channels])


# -- pilot duty ------------------------------------------------------------------------------------------


def test_pilot_duty_matches_the_advertised_amps(pilots: LabJackT7, world: World) -> None:
    wc1, wc2 = world.units["wc1"], world.units["wc2"]
    assert wc1.running and wc2.running
    wc1.pwm_amps = 32.0
    wc2.pwm_amps = 6.0
    r1, r2 = _read(pilots, [("FIO0", "AIN0"), ("FIO1", "AIN1")], world)
    assert duty_to_amps(r1.duty_pct) == pytest.approx(32.0, abs=0.01)
    assert duty_to_amps(r2.duty_pct) == pytest.approx(6.0, abs=0.01)
    assert r1.low_v is None  # a comparator front end cannot see the low level
    wc1.pwm_amps = 48.0
    world.advance(0.01)
    (r1,) = pilots.read_pulse([("FIO0", "AIN0", 4.0)])
    assert r1.duty_pct == pytest.approx(80.0, abs=0.01)
    wc1.pwm_amps = None  # the PWM stops: the reset read of the last tick leaves nothing to read
    world.advance(0.01)
    (r1,) = pilots.read_pulse([("FIO0", "AIN0", 4.0)])
    assert r1.duty_pct is None


def test_an_unpowered_unit_shows_no_pwm_and_no_level(pilots: LabJackT7, relays: LabJackT7, world: World) -> None:
    world.units["wc1"].pwm_amps = 32.0
    relays.write_lines({"EIO0": True})  # wc1's breaker
    (reading,) = _read(pilots, [("FIO0", "AIN0")], world)
    assert reading.duty_pct is None
    assert reading.high_v == 0.0
    assert state_from_volts(reading.high_v) is PilotState.E


def test_reading_pulse_width_without_its_clock_is_a_rig_fault(pilots: LabJackT7) -> None:
    pilots.enable_pulse_in(["FIO0"])
    with pytest.raises(InstrumentError) as info:
        pilots.read_pulse([("FIO0", "AIN0", 4.0)])
    text = one_line(info.value)
    assert info.value.instrument == "t7"
    assert "DIO_EF_CLOCK0 is not running" in text and "FIO0" in text


# -- failures --------------------------------------------------------------------------------------------


def test_unknown_identifier(world: World) -> None:
    with pytest.raises(InstrumentError) as info:
        LabJackT7("t7-x", "NO-SUCH-T7", ljm_standin)
    text = one_line(info.value)
    assert text.startswith("t7-x: openS on T7 NO-SUCH-T7: ")
    assert "DEVICE_NOT_FOUND" in text and "1227" in text


def test_a_failing_t7_names_the_instrument(pilots: LabJackT7, pilots_device: SimulatedT7) -> None:
    pilots_device.fail_with = "LJME_USB_TRANSFER_FAILED"
    with pytest.raises(InstrumentError) as info:
        pilots.write_lines({"EIO0": True})
    assert info.value.instrument == "t7"
    assert one_line(info.value).startswith("t7: eWriteNames on T7 ")
    assert "LJME_USB_TRANSFER_FAILED" in str(info.value)
    with pytest.raises(InstrumentError, match="^t7: .*LJME_USB_TRANSFER_FAILED"):
        pilots.read_lines(["EIO0"])
    pilots_device.fail_with = None
    assert pilots.serial_number() == 1


def _missing_native(function: str) -> Callable[..., Any]:
    def call(*args: Any) -> Any:
        raise AttributeError(f"'NoneType' object has no attribute 'LJM_{function[0].upper()}{function[1:]}'")

    return call


def test_missing_native_library_gives_the_install_hint() -> None:
    fake = SimpleNamespace(**{f: _missing_native(f) for f in ("openS", "close", "eReadName", "eWriteNames")})
    with pytest.raises(InstrumentError) as info:
        LabJackT7("t7-lab", "470012345", fake)
    text = one_line(info.value)
    assert text == f"t7-lab: {NATIVE_HINT}"
    assert "install LJM" in text


def test_a_programming_error_is_not_passed_off_as_a_missing_library() -> None:
    fake = SimpleNamespace(openS=lambda *args: 1)
    t7 = LabJackT7("t7", "ANY", fake)
    with pytest.raises(AttributeError, match="eReadName"):
        t7.serial_number()


def test_load_ljm() -> None:
    assert load_ljm("rig.sim.ljm_standin") is ljm_standin
    with pytest.raises(InstrumentError) as info:
        load_ljm("no_such_ljm_module")
    assert "pip install labjack-ljm" in one_line(info.value)


def test_close_releases_the_handle(pilots_device: SimulatedT7, register: Callable[[SimulatedT7], str]) -> None:
    t7 = LabJackT7("t7", register(pilots_device), ljm_standin)
    handle = t7.handle
    t7.close()
    with pytest.raises(InstrumentError, match=r"^t7: T7 is closed$"):
        t7.read_lines(["EIO0"])
    with pytest.raises(InstrumentError, match="closed"):
        t7.write_lines({"EIO0": True})
    with pytest.raises(ljm_standin.LJMError):
        ljm_standin.eReadName(handle, "SERIAL_NUMBER")
    t7.close()  # closing twice is harmless
