"""The service-console driver against the simulated console served as `socket://` (pyserial), faults included."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from support import one_line

from rig.instruments.errors import InstrumentError, InstrumentGarbage, InstrumentTimeout
from rig.instruments.service_console import ServiceConsole
from rig.sim.console_device import ServiceConsole as SimConsole
from rig.sim.line_server import LineServer
from rig.sim.world import World

TIMEOUT_S = 0.3


def url(server: LineServer) -> str:
    return f"socket://127.0.0.1:{server.port}"


@pytest.fixture
def server(world: World, serve: Callable[[Any], LineServer]) -> LineServer:
    return serve(SimConsole(world, "wc1"), terminator="")


@pytest.fixture
def console(server: LineServer) -> Iterator[ServiceConsole]:
    drv = ServiceConsole("console1", url(server), timeout_s=TIMEOUT_S)
    yield drv
    drv.close()


def test_status_after_boot_is_standalone(console: ServiceConsole) -> None:
    assert console.command("gpm status") == "role=standalone"


def test_transcript_records_each_exchange(console: ServiceConsole) -> None:
    console.command("gpm status")
    console.command("help")
    assert console.transcript == ["> gpm status", "role=standalone", "> help", "ERR unknown command"]


def test_commands_reach_the_firmware(console: ServiceConsole, world: World) -> None:
    assert console.command("gpm form wc2,wc3") == "ERR no Wi-Fi password for wc2,wc3"
    assert console.command("gpm pair wc2 password-of-wc2") == "OK"
    assert console.command("gpm pair wc3 password-of-wc3") == "OK"
    assert console.command("gpm form wc2,wc3") == "OK rebooting"
    assert world.units["wc1"].firmware.nv["role"] == "leader"
    assert console.command("gpm limit lots") == "ERR limit is not a number"


def test_a_unit_still_booting_does_not_answer(world: World, serve: Callable[[Any], LineServer]) -> None:
    with world.lock:
        world.set_breaker(world.units["wc2"], closed=False)
        world.set_breaker(world.units["wc2"], closed=True)
    drv = ServiceConsole("console2", url(serve(SimConsole(world, "wc2"), terminator="")), timeout_s=TIMEOUT_S)
    try:
        with pytest.raises(InstrumentTimeout):
            drv.command("gpm status")
        world.advance(6)
        assert drv.command("gpm status") == "role=standalone"
    finally:
        drv.close()


def test_silent_console_times_out_within_the_timeout(console: ServiceConsole, server: LineServer) -> None:
    server.fault = "silent"
    start = time.monotonic()
    with pytest.raises(InstrumentTimeout) as info:
        console.command("gpm status")
    elapsed = time.monotonic() - start
    assert TIMEOUT_S * 0.9 <= elapsed < TIMEOUT_S + 1.0
    text = one_line(info.value)
    assert text == f"console1: no answer to 'gpm status' on {url(server)} within 0.3 s"
    server.fault = None
    assert console.command("gpm status") == "role=standalone"


def test_garbage_is_instrument_garbage(console: ServiceConsole, server: LineServer) -> None:
    server.fault = "garbage"
    with pytest.raises(InstrumentGarbage) as info:
        console.command("gpm status")
    text = one_line(info.value)
    assert text.startswith("console1: reply to 'gpm status' has no prompt: ")
    server.fault = None
    assert console.command("gpm status") == "role=standalone"


class NoPrompt:
    """A console that answers but never shows its prompt (a wrong port, or a boot log)."""

    def handle(self, line: str) -> str | None:
        return f"echo {line}\r\n"


def test_reply_without_prompt_is_instrument_garbage(serve: Callable[[Any], LineServer]) -> None:
    drv = ServiceConsole("console9", url(serve(NoPrompt(), terminator="")), timeout_s=TIMEOUT_S)
    try:
        with pytest.raises(InstrumentGarbage) as info:
            drv.command("gpm status")
        assert "echo gpm status" in one_line(info.value)
        assert info.value.instrument == "console9"
    finally:
        drv.close()


def test_dropped_connection_is_an_instrument_error(console: ServiceConsole, server: LineServer) -> None:
    server.fault = "drop"
    start = time.monotonic()
    with pytest.raises(InstrumentError) as info:
        console.command("gpm status")
    assert time.monotonic() - start < TIMEOUT_S + 1.0
    assert not isinstance(info.value, InstrumentTimeout | InstrumentGarbage)
    assert one_line(info.value).startswith(f"console1: console {url(server)} failed during 'gpm status'")


def test_server_stopped_mid_session(console: ServiceConsole, server: LineServer) -> None:
    console.command("gpm status")
    server.stop()
    with pytest.raises(InstrumentError) as info:
        console.command("gpm status")
    assert info.value.instrument == "console1"
    one_line(info.value)


@pytest.mark.parametrize("bad", ["bogus://127.0.0.1:1", "socket://127.0.0.1", "/dev/ttyNO_SUCH_PORT"])
def test_a_bad_url_is_an_instrument_error(bad: str) -> None:
    with pytest.raises(InstrumentError) as info:
        ServiceConsole("console1", bad, timeout_s=TIMEOUT_S)
    text = one_line(info.value)
    assert text.startswith(f"console1: cannot open console {bad}: ")


def test_nothing_listening_is_an_instrument_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(InstrumentError, match="cannot open console"):
        ServiceConsole("console1", f"socket://127.0.0.1:{port}", timeout_s=TIMEOUT_S)
