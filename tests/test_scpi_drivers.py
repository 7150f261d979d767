"""The Chroma 63800 and Yokogawa WT drivers against the simulated instruments on loopback, faults included."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from support import one_line

from rig.instruments.chroma_load import Chroma63800
from rig.instruments.errors import InstrumentError, InstrumentGarbage, InstrumentTimeout
from rig.instruments.yokogawa_wt import AnalyzerOverRange, YokogawaWT, parse_values
from rig.sim.chroma_load import ChromaLoad
from rig.sim.line_server import LineServer
from rig.sim.world import World
from rig.sim.yokogawa_wt import YokogawaWT as SimYokogawaWT

TIMEOUT_S = 0.3


def address(server: LineServer) -> str:
    return f"TCPIP::127.0.0.1::{server.port}::SOCKET"


@pytest.fixture
def load_server(world: World, serve: Callable[[Any], LineServer]) -> LineServer:
    return serve(ChromaLoad(world, world.units["wc1"], "SIM-LOAD-1"))


@pytest.fixture
def load(load_server: LineServer) -> Iterator[Chroma63800]:
    drv = Chroma63800("load1", address(load_server), timeout_s=TIMEOUT_S)
    yield drv
    drv.close()


@pytest.fixture
def analyzer_server(world: World, serve: Callable[[Any], LineServer]) -> LineServer:
    return serve(SimYokogawaWT(world, "analyzer"))


@pytest.fixture
def analyzer(analyzer_server: LineServer) -> Iterator[YokogawaWT]:
    drv = YokogawaWT("analyzer", address(analyzer_server), timeout_s=TIMEOUT_S)
    yield drv
    drv.close()


def charging(world: World, unit: str, amps: float) -> None:
    """Put a unit in state C with its contactor closed and its load drawing `amps`."""
    u = world.units[unit]
    with world.lock:
        u.b_closed = u.c_closed = True
        u.contactor = True
        u.load_on = True
        u.load_setpoint_a = amps


# -- the load --------------------------------------------------------------------------------------------


def test_load_identifies_itself(load: Chroma63800) -> None:
    assert load.idn() == "Chroma ATE,63804,SIM-LOAD-1,1.10"


def test_load_sets_current_and_switches(load: Chroma63800, world: World) -> None:
    unit = world.units["wc1"]
    load.setup()
    assert not load.is_on()
    load.set_current(20.0)
    assert unit.load_setpoint_a == 20.0
    load.on()
    assert load.is_on() and unit.load_on
    load.off()
    assert not load.is_on() and not unit.load_on


def test_load_measures_zero_unless_the_pilot_is_in_state_c(load: Chroma63800, world: World) -> None:
    unit = world.units["wc1"]
    load.setup()
    load.set_current(16.0)  # a 63804 sinks at most 4500 W / 240 V = 18.75 A
    load.on()
    unit.contactor = True
    assert unit.pilot_state() == "A"
    assert load.measure_current() == 0.0
    unit.b_closed = True
    assert unit.pilot_state() == "B"
    assert load.measure_current() == 0.0
    unit.c_closed = True
    assert unit.pilot_state() == "C"
    assert load.measure_current() == pytest.approx(16.0)
    unit.contactor = False
    assert load.measure_current() == 0.0
    unit.contactor = True
    load.set_current(12.5)
    assert load.measure_current() == pytest.approx(12.5)
    load.off()
    assert load.measure_current() == 0.0


def test_load_refuses_negative_current_before_the_instrument_sees_it(load: Chroma63800, world: World) -> None:
    load.setup()
    with pytest.raises(ValueError, match="load1"):
        load.set_current(-1.0)
    assert world.units["wc1"].load_setpoint_a == 0.0


def test_out_of_range_current_carries_the_instruments_own_message(load: Chroma63800, world: World) -> None:
    load.setup()
    load.set_current(10.0)
    with pytest.raises(InstrumentError) as info:
        load.set_current(70.0)
    text = one_line(info.value)
    assert not isinstance(info.value, InstrumentGarbage | InstrumentTimeout)
    assert info.value.instrument == "load1"
    assert text.startswith("load1: ")
    assert "CURR 70.00" in text and "*ESR? = 16 (execution error)" in text  # the 63800's own error register
    assert world.units["wc1"].load_setpoint_a == 10.0
    # the error queue was read: the next command is clean
    load.set_current(11.0)
    assert world.units["wc1"].load_setpoint_a == 11.0


# -- the power analyzer ----------------------------------------------------------------------------------


def test_analyzer_returns_one_value_per_configured_element(analyzer: YokogawaWT, world: World) -> None:
    assert analyzer.idn().startswith("YOKOGAWA,WT5000")
    analyzer.configure([1, 2, 3, 4, 5, 6])
    assert analyzer.read_currents() == [None] * 6  # no data until one update interval after the set-up
    world.advance(0.5)
    values = analyzer.read_currents()
    assert values == [0.0] * 6
    charging(world, "wc2", 16.0)
    charging(world, "wc5", 32.0)
    world.advance(0.5)
    values = analyzer.read_currents()
    assert len(values) == 6
    assert values[1] == pytest.approx(16.0, abs=0.06)
    assert values[4] == pytest.approx(32.0, abs=0.06)
    assert [values[i] for i in (0, 2, 3, 5)] == [0.0] * 4


def test_analyzer_items_follow_the_configured_order(analyzer: YokogawaWT, world: World) -> None:
    charging(world, "wc3", 24.0)
    analyzer.configure([3, 1])
    world.advance(0.5)
    values = analyzer.read_currents()
    assert len(values) == 2
    assert values[0] == pytest.approx(24.0, abs=0.06)
    assert values[1] == 0.0
    analyzer.configure([1])
    world.advance(0.5)
    assert analyzer.read_currents() == [0.0]


def test_analyzer_element_without_a_unit_has_no_data(analyzer: YokogawaWT, world: World) -> None:
    analyzer.configure([1, 7])
    world.advance(0.5)
    assert analyzer.read_currents() == [0.0, None]


# -- parse_values ----------------------------------------------------------------------------------------


def test_parse_values_reads_every_item() -> None:
    assert parse_values("1.6000E+01, 0.0000E+00,3.2E+01", 3, "wt") == [16.0, 0.0, 32.0]


def test_parse_values_nan_is_no_reading_and_inf_names_the_range() -> None:
    assert parse_values("1.0E+00,NAN,nan", 3, "wt") == [1.0, None, None]
    with pytest.raises(AnalyzerOverRange) as info:
        parse_values("1.0E+00,INF", 2, "wt", ["element 1, 30 A range", "element 4, 30 A range"])
    assert one_line(info.value) == ("wt: item 2 is over range (INF) (element 4, 30 A range): the current is beyond "
                                    "what the range can measure")


@pytest.mark.parametrize(
    ("reply", "expected", "reason"),
    [
        ("1.0E+00,2.0E+00", 3, "expected 3 values, got 2"),
        ("1.0E+00,2.0E+00,3.0E+00", 2, "expected 2 values, got 3"),
        ("", 1, "item 1 is not a number"),
        ("1.0E+00,abc", 2, "item 2 is not a number: 'abc'"),
    ],
)
def test_parse_values_refuses_what_cannot_be_a_reply(reply: str, expected: int, reason: str) -> None:
    with pytest.raises(InstrumentGarbage) as info:
        parse_values(reply, expected, "wt")
    text = one_line(info.value)
    assert text.startswith("wt: ")
    assert reason in text


# -- bad replies, for each driver ------------------------------------------------------------------------

DRIVERS = {
    "load": lambda drv: drv.measure_current(),
    "analyzer": lambda drv: drv.read_currents(),
}


@pytest.fixture(params=sorted(DRIVERS))
def session(request: pytest.FixtureRequest) -> tuple[str, Any, LineServer, Callable[[Any], Any]]:
    """A driver that has already talked to its instrument once, its server, and a reading to repeat."""
    which = request.param
    drv = request.getfixturevalue(which)
    server = request.getfixturevalue(f"{which}_server")
    if which == "analyzer":
        drv.configure([1, 2])
        request.getfixturevalue("world").advance(0.5)
    read = DRIVERS[which]
    read(drv)
    return drv.name, drv, server, read


def test_garbage_reply_is_instrument_garbage(session: tuple[str, Any, LineServer, Callable[[Any], Any]]) -> None:
    name, drv, server, read = session
    server.fault = "garbage"
    with pytest.raises(InstrumentGarbage) as info:
        read(drv)
    assert info.value.instrument == name
    assert one_line(info.value).startswith(f"{name}: ")


def test_silent_instrument_times_out(session: tuple[str, Any, LineServer, Callable[[Any], Any]]) -> None:
    name, drv, server, read = session
    server.fault = "silent"
    start = time.monotonic()
    with pytest.raises(InstrumentTimeout) as info:
        read(drv)
    elapsed = time.monotonic() - start
    assert TIMEOUT_S * 0.9 <= elapsed < TIMEOUT_S + 1.0
    text = one_line(info.value)
    assert text.startswith(f"{name}: no answer to ")
    assert str(server.port) in text
    server.fault = None
    read(drv)  # the instrument is back and the driver still works


def test_dropped_connection_is_an_instrument_error_not_a_timeout(
    session: tuple[str, Any, LineServer, Callable[[Any], Any]],
) -> None:
    name, drv, server, read = session
    server.fault = "drop"
    with pytest.raises(InstrumentError) as info:
        read(drv)
    assert not isinstance(info.value, InstrumentTimeout | InstrumentGarbage)
    text = one_line(info.value)
    assert text.startswith(f"{name}: ")
    assert "closed the connection" in text


def test_server_stopped_mid_session(session: tuple[str, Any, LineServer, Callable[[Any], Any]]) -> None:
    name, drv, server, read = session
    server.stop()
    for _ in range(2):  # the first read finds the stream closed, the next write a broken pipe
        with pytest.raises(InstrumentError) as info:
            read(drv)
        assert not isinstance(info.value, InstrumentTimeout)
        assert info.value.instrument == name
        assert one_line(info.value).startswith(f"{name}: ")


def test_write_to_a_stopped_instrument_fails_cleanly(load: Chroma63800, load_server: LineServer) -> None:
    load.setup()
    load_server.stop()
    with pytest.raises(InstrumentError) as info:
        for _ in range(3):
            load.on()
            load.is_on()
    assert one_line(info.value).startswith("load1: ")


@pytest.mark.parametrize("driver", [Chroma63800, YokogawaWT])
def test_nothing_listening_is_an_instrument_error(driver: type) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(InstrumentError) as info:
        driver("nobody", f"TCPIP::127.0.0.1::{port}::SOCKET", timeout_s=TIMEOUT_S)
    text = one_line(info.value)
    assert text.startswith(f"nobody: cannot open TCPIP::127.0.0.1::{port}::SOCKET")


# -- transport -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["load", "analyzer"])
def test_tcp_nodelay_is_set_on_the_drivers_socket(request: pytest.FixtureRequest, which: str) -> None:
    drv = request.getfixturevalue(which)
    res = drv._scpi._res
    sock = res.visalib.sessions[res.session].interface
    assert isinstance(sock, socket.socket)
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
