"""The simulated instruments are as strict as the real ones, and the drivers meet them.

Each behaviour has two tests: `test_old_*` replays what the driver did before the instruments were made strict
(its exact commands, as `git show 197e791:rig/instruments/...` has them) and shows the strict device refusing or
misleading it; `test_new_*` shows today's driver working against the same device.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import pytest

from rig.instruments.chroma_load import Chroma63800
from rig.instruments.errors import InstrumentError, InstrumentTimeout
from rig.instruments.labjack_t7 import LabJackT7, RelayMismatch
from rig.instruments.pilot_samples import pilot_from_samples
from rig.instruments.scpi import ScpiInstrument
from rig.instruments.yokogawa_wt import AnalyzerOverRange, AnalyzerSetup, YokogawaWT
from rig.pilot import duty_to_amps
from rig.sim import ljm_standin
from rig.sim.chroma_load import ChromaLoad
from rig.sim.line_server import LineServer
from rig.sim.ljm_standin import LJMError, SimulatedT7
from rig.sim.world import World
from rig.sim.yokogawa_wt import YokogawaWT as SimWT

OLD_WT_CONFIGURE = [":NUMeric:FORMat ASCii", ":NUMeric:NORMal:NUMber 2", ":NUMeric:NORMal:ITEM1 I,1",
                    ":NUMeric:NORMal:ITEM2 I,2"]
"""The analyzer set-up of the driver at 197e791, then `SYST:ERR?`."""
OLD_LOAD_SETUP = ["LOAD OFF", "MODE CURR", "CURR 0"]
"""The load set-up of the driver at 197e791, then `SYST:ERR?`."""
SENSOR = AnalyzerSetup(wiring="P1W2", current_range_a=None, sensor_range_v=1.0, sensor_ratio_mv_per_a=10.0,
                       update_s=0.5)


def address(server: LineServer) -> str:
    return f"TCPIP::127.0.0.1::{server.port}::SOCKET"


def charging(world: World, unit: str, amps: float) -> None:
    u = world.units[unit]
    with world.lock:
        u.b_closed = u.c_closed = u.contactor = u.load_on = True
        u.load_setpoint_a = amps


@pytest.fixture
def wt(world: World, serve: Callable[..., LineServer]) -> tuple[SimWT, LineServer]:
    device = SimWT(world, "analyzer")
    return device, serve(device)


@pytest.fixture
def load(world: World, serve: Callable[..., LineServer]) -> tuple[ChromaLoad, LineServer]:
    device = ChromaLoad(world, world.units["wc1"], "SIM-1")
    return device, serve(device)


# -- the analyzer ----------------------------------------------------------------------------------------


def test_old_analyzer_error_query_gets_no_reply(wt: tuple[SimWT, LineServer]) -> None:
    device, server = wt
    scpi = ScpiInstrument("analyzer", address(server), timeout_s=0.3)
    try:
        for command in OLD_WT_CONFIGURE:
            scpi.write(command)
        with pytest.raises(InstrumentTimeout):
            scpi.query("SYST:ERR?")
        assert device.unknown == ["SYST:ERR?"]
        assert scpi.query(":STATus:ERRor?") == '-113,"Undefined header"'
    finally:
        scpi.close()


def test_new_analyzer_sets_up_and_reads_back_through_its_own_error_query(
        wt: tuple[SimWT, LineServer], world: World) -> None:
    device, server = wt
    drv = YokogawaWT("analyzer", address(server), timeout_s=0.5, setup=SENSOR)
    try:
        settings = drv.configure([1, 2])
        assert device.unknown == []
        assert settings["wiring"] == "P1W2" and settings["update_s"] == "0.5"
        assert settings["element 1 range"].startswith("EXT,1.0") and settings["element 2 sensor ratio"] == "10"
        assert device.wiring == "P1W2" and device.rate_s == 0.5 and not device.header
        assert drv.errors() is None
    finally:
        drv.close()


def test_old_analyzer_takes_nan_for_garbage(wt: tuple[SimWT, LineServer], world: World) -> None:
    device, _ = wt
    for command in OLD_WT_CONFIGURE:
        device.handle(command)
    assert device.handle(":NUMeric:NORMal:VALue?") == "NAN,NAN"  # the old parser raised InstrumentGarbage here
    world.advance(device.rate_s)
    assert "NAN" not in device.handle(":NUMeric:NORMal:VALue?")


def test_new_analyzer_reads_nan_as_no_reading(wt: tuple[SimWT, LineServer], world: World) -> None:
    _, server = wt
    drv = YokogawaWT("analyzer", address(server), timeout_s=0.5, setup=SENSOR)
    try:
        drv.configure([1, 2])
        assert drv.read_currents() == [None, None]
        world.advance(0.5)
        assert drv.read_currents() == [0.0, 0.0]
    finally:
        drv.close()


def test_old_analyzer_on_the_front_panel_range_reads_over_range(wt: tuple[SimWT, LineServer], world: World) -> None:
    device, _ = wt
    for command in OLD_WT_CONFIGURE:
        device.handle(command)
    charging(world, "wc1", 16.0)  # the front panel's 5 A range cannot measure it
    world.advance(device.rate_s)
    assert device.handle(":NUMeric:NORMal:VALue?").split(",")[0] == "INF"
    assert device.wiring == "P3W4" and device.rate_s == 2.0  # and what else the front panel left stays


def test_new_analyzer_sets_its_range_and_names_it_when_over(wt: tuple[SimWT, LineServer], world: World) -> None:
    device, server = wt
    drv = YokogawaWT("analyzer", address(server), timeout_s=0.5, setup=SENSOR)
    try:
        drv.configure([1])
        charging(world, "wc1", 16.0)
        world.advance(0.5)
        assert drv.read_currents()[0] == pytest.approx(16.0, abs=0.06)
        device.range_a[1], device.external[1] = 5.0, False  # someone turns the range down at the front panel
        world.advance(0.5)
        with pytest.raises(AnalyzerOverRange, match=r"item 1 is over range \(INF\) \(element 1, external sensor, "
                                                     r"1 V range at 10 mV/A \(100 A\)\)"):
            drv.read_currents()
    finally:
        drv.close()


# -- the load --------------------------------------------------------------------------------------------


def test_old_load_error_query_gets_no_reply(load: tuple[ChromaLoad, LineServer]) -> None:
    device, server = load
    scpi = ScpiInstrument("load1", address(server), timeout_s=0.3)
    try:
        for command in OLD_LOAD_SETUP:
            scpi.write(command)
        with pytest.raises(InstrumentTimeout):
            scpi.query("SYST:ERR?")
        assert device.unknown == ["SYST:ERR?"]
        assert scpi.query("*ESR?") == "32"  # command error
    finally:
        scpi.close()


def test_new_load_sets_constant_current_and_reads_it_back(load: tuple[ChromaLoad, LineServer]) -> None:
    device, server = load
    assert device.mode == "RES"  # as the front panel left it
    drv = Chroma63800("load1", address(server), timeout_s=0.5)
    try:
        assert drv.setup() == {"mode": "CURR", "load": "0", "protection at start": "none"}
        assert device.unknown == []
    finally:
        drv.close()


def test_a_load_sinks_in_the_mode_it_is_in(load: tuple[ChromaLoad, LineServer], world: World) -> None:
    device, _ = load
    charging(world, "wc1", 0.0)
    device.handle("CURR 10")
    device.handle("LOAD ON")
    assert device.sink() == pytest.approx(240.0 / 100.0)  # CR mode: V / R, not the 10 A written
    device.handle("MODE CURR")
    assert device.sink() == pytest.approx(10.0)


def test_old_load_past_its_rating_trips_unseen(load: tuple[ChromaLoad, LineServer], world: World) -> None:
    device, _ = load
    charging(world, "wc1", 0.0)
    for command in [*OLD_LOAD_SETUP, "LOAD ON", "CURR 30.00"]:  # the old plug: one 63804 for a 30 A vehicle
        device.handle(command)
    assert world.units["wc1"].true_current() == 0.0  # 7200 W at 240 V: the protection tripped
    assert device.handle("PROT?") == "64" and device.handle("LOAD?") == "0"
    assert device.handle("MEAS:CURR?") == "0.000"
    device.handle("PROT:CLE")
    assert device.handle("PROT?") == "0"


def test_new_load_names_its_protection_bits(load: tuple[ChromaLoad, LineServer], world: World) -> None:
    device, server = load
    drv = Chroma63800("load1", address(server), timeout_s=0.5)
    try:
        drv.setup()
        charging(world, "wc1", 0.0)
        drv.on()
        drv.set_current(19.0)  # 4560 W: just past 4500 W
        assert drv.measure_current() == 0.0
        trip = drv.tripped()
        assert trip is not None and str(trip) == ("load1: protection tripped: OPP (PROT? = 64); the load stopped "
                                                  "sinking")
        with pytest.raises(InstrumentError, match="refuses LOAD ON: protection latched"):
            drv.on()
        with pytest.raises(InstrumentError, match=r"\*ESR\? = 16 \(execution error\)"):
            drv.set_current(46.0)  # above the 45 A rating: refused
    finally:
        drv.close()


# -- the LabJack T7 ----------------------------------------------------------------------------------------

_ids = itertools.count(1)


@pytest.fixture
def t7(world: World) -> Iterator[tuple[SimulatedT7, int, LabJackT7]]:
    """The sim-6 t7-pilots (wc1 comparator on FIO0, wc5 divider on AIN2), a raw handle and the driver."""
    device = SimulatedT7(world, "t7-pilots", serial=470010001)
    identifier = f"STRICT-T7-{next(_ids)}"
    ljm_standin.register(identifier, device)
    handle = ljm_standin.openS("T7", "ANY", identifier)
    drv = LabJackT7("t7-pilots", identifier, ljm_standin)
    yield device, handle, drv
    drv.close()
    ljm_standin.close(handle)
    ljm_standin.unregister(identifier)


def _old_enable(handle: int, dio: int) -> None:
    """The old driver's enable_pulse_in: no clock, DIO#_EF_OPTIONS."""
    names = [f"DIO{dio}_EF_ENABLE", f"DIO{dio}_EF_INDEX", f"DIO{dio}_EF_OPTIONS", f"DIO{dio}_EF_ENABLE"]
    ljm_standin.eWriteNames(handle, 4, names, [0, 5, 0, 1])


def test_old_pulse_width_on_a_line_that_cannot_measure_it(t7: tuple[SimulatedT7, int, LabJackT7]) -> None:
    _, handle, _ = t7
    with pytest.raises(LJMError) as info:
        _old_enable(handle, 2)  # the old rack file's FIO2 duty line
    assert info.value.errorCode == 2553 and "EF_PIN_TYPE_MISMATCH" in info.value.errorString


def test_old_pulse_width_without_a_clock_measures_nothing(t7: tuple[SimulatedT7, int, LabJackT7],
                                                          world: World) -> None:
    _, handle, _ = t7
    _old_enable(handle, 0)
    world.units["wc1"].pwm_amps = 32.0
    world.advance(0.01)
    assert ljm_standin.eReadNames(handle, 2, ["DIO0_EF_READ_A", "DIO0_EF_READ_B"]) == [0.0, 0.0]  # "no PWM"


def test_new_pulse_width_sets_the_clock_and_measures(t7: tuple[SimulatedT7, int, LabJackT7], world: World) -> None:
    _, _, drv = t7
    assert drv.configure_clock(1) == {"DIO_EF_CLOCK0": "enabled, divisor 1 (80 MHz)"}
    drv.enable_pulse_in(["FIO0"])
    world.units["wc1"].pwm_amps = 32.0
    world.advance(0.01)
    (reading,) = drv.read_pulse([("FIO0", "AIN0", 4.0)])
    assert duty_to_amps(reading.duty_pct) == pytest.approx(32.0, abs=0.01)
    assert reading.high_v == pytest.approx(world.units["wc1"].pilot_high_v(), abs=0.01)


def test_old_plain_reads_return_a_stale_duty(t7: tuple[SimulatedT7, int, LabJackT7], world: World) -> None:
    _, handle, drv = t7
    drv.configure_clock(1)
    drv.enable_pulse_in(["FIO0"])
    world.units["wc1"].pwm_amps = 32.0
    world.advance(0.01)
    first = ljm_standin.eReadNames(handle, 2, ["DIO0_EF_READ_A", "DIO0_EF_READ_B"])
    world.units["wc1"].pwm_amps = None  # the PWM stops
    world.advance(0.5)
    assert ljm_standin.eReadNames(handle, 2, ["DIO0_EF_READ_A", "DIO0_EF_READ_B"]) == first != [0.0, 0.0]


def test_new_reset_reads_give_no_pwm_once_it_stops(t7: tuple[SimulatedT7, int, LabJackT7], world: World) -> None:
    _, _, drv = t7
    drv.configure_clock(1)
    drv.enable_pulse_in(["FIO0"])
    world.units["wc1"].pwm_amps = 32.0
    world.advance(0.01)
    assert drv.read_pulse([("FIO0", "AIN0", 4.0)])[0].duty_pct is not None
    world.units["wc1"].pwm_amps = None
    world.advance(0.01)
    assert drv.read_pulse([("FIO0", "AIN0", 4.0)])[0].duty_pct is None


def test_one_shot_measures_once_per_reset(t7: tuple[SimulatedT7, int, LabJackT7], world: World) -> None:
    _, handle, drv = t7
    drv.configure_clock(1)
    ljm_standin.eWriteNames(handle, 5, ["DIO0_EF_ENABLE", "DIO0_EF_INDEX", "DIO0_EF_CLOCK_SOURCE", "DIO0_EF_CONFIG_A",
                                        "DIO0_EF_ENABLE"], [0, 5, 0, 1, 1])
    world.units["wc1"].pwm_amps = 12.0
    world.advance(0.01)
    held = ljm_standin.eReadName(handle, "DIO0_EF_READ_A")
    world.units["wc1"].pwm_amps = 30.0
    world.advance(0.01)
    assert ljm_standin.eReadName(handle, "DIO0_EF_READ_A_AND_RESET") == held  # still the first measurement
    world.advance(0.01)
    assert ljm_standin.eReadName(handle, "DIO0_EF_READ_A") > held  # re-armed: the 30 A period


def test_old_level_read_clips_and_lands_on_a_random_phase(t7: tuple[SimulatedT7, int, LabJackT7],
                                                          world: World) -> None:
    device, handle, _ = t7
    unit = world.units["wc1"]
    world.wiring.ain[("t7-pilots", "AIN9")] = (unit, "divider", 1.0)  # the pilot straight into an input
    unit.pwm_amps = None
    assert ljm_standin.eReadName(handle, "AIN9") == pytest.approx(10.1)  # +12 V clips
    unit.pwm_amps = 32.0
    reads = {round(ljm_standin.eReadName(handle, "AIN9"), 1) for _ in range(60)}
    assert reads == {10.1, -10.5}  # each read lands on a random phase of the PWM, clipped either way


def test_new_stream_gives_duty_and_both_levels(t7: tuple[SimulatedT7, int, LabJackT7], world: World) -> None:
    _, _, drv = t7
    world.units["wc5"].pwm_amps = 20.0
    world.units["wc5"].b_closed = world.units["wc5"].c_closed = True
    (samples,), actual = drv.stream_window(["AIN2"], 19_880, 1500)
    assert actual == pytest.approx(80e6 / (8 * 503))  # the scan interval in whole 100 ns steps
    reading = pilot_from_samples([v * 4.0 for v in samples])
    assert duty_to_amps(reading.duty_pct) == pytest.approx(20.0, abs=0.1)
    assert reading.high_v == pytest.approx(6.0) and reading.low_v == pytest.approx(-12.0)
    world.units["wc5"].pwm_amps = None
    (samples,), _ = drv.stream_window(["AIN2"], 19_880, 1500)
    assert pilot_from_samples([v * 4.0 for v in samples]).duty_pct is None  # a window with no transitions


def test_stream_refuses_what_a_t7_cannot_stream(t7: tuple[SimulatedT7, int, LabJackT7]) -> None:
    _, handle, _ = t7
    with pytest.raises(LJMError) as info:
        ljm_standin.eStreamStart(handle, 100, 2, [0, 2], 60_000)
    assert info.value.errorCode == 2608
    with pytest.raises(LJMError) as info:
        ljm_standin.eStreamRead(handle)
    assert info.value.errorCode == 1303


def test_old_relay_write_does_not_see_a_stuck_relay(t7: tuple[SimulatedT7, int, LabJackT7]) -> None:
    device, handle, drv = t7
    device.stuck["EIO0"] = 0
    ljm_standin.eWriteNames(handle, 1, ["EIO0"], [1])  # no error: the old driver never looked back
    assert int(ljm_standin.eReadName(handle, "DIO_STATE")) >> 8 & 1 == 0
    with pytest.raises(RelayMismatch, match=r"relay line\(s\) did not switch: EIO0 reads 0 after writing 1"):
        drv.write_lines({"EIO0": True})


