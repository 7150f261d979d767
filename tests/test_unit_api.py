"""The unit API driver against real captures, real units' quirks, and the simulated unit's server."""

from __future__ import annotations

import base64
import contextlib
import json
import math
import os
import socket
import threading
import time
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from rig.config import Rack
from rig.instruments.errors import InstrumentError, InstrumentGarbage, InstrumentTimeout
from rig.instruments.unit_api import UnitApi, Vitals, WifiStatus, decode_ssid, parse_body
from rig.sim.api_server import UnitApiServer
from rig.sim.world import World

ROOT = Path(__file__).resolve().parents[1]
CAPTURES = Path(__file__).with_name("captures")
CAPTURE_FILES = sorted(CAPTURES.glob("*.json"))
FAST = {"connect_timeout_s": 0.5, "read_timeout_s": 0.2}


def one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text and "Traceback" not in text
    return text


# -- a canned HTTP server: serves fixed bytes, counts connections ----------------------------------------


class Canned:
    """Serves one fixed reply to every GET; `connections` counts what the client opened."""

    def __init__(self, body: bytes, status: int = 200, content_length: int | None = None, drop: bool = False):
        self.body = body
        self.status = status
        self.content_length = len(body) if content_length is None else content_length
        self.drop = drop
        self.connections = 0
        self.paths: list[str] = []
        canned = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                canned.connections += 1
                canned.paths.append(self.path)
                if canned.drop:
                    return
                self.send_response(canned.status)
                self.send_header("Content-Length", str(canned.content_length))
                self.end_headers()
                self.wfile.write(canned.body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        serve = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05})
        serve.daemon = True
        serve.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def canned() -> Iterator[Any]:
    servers: list[Canned] = []

    def make(body: bytes, **kw: Any) -> Canned:
        servers.append(Canned(body, **kw))
        return servers[-1]

    yield make
    for s in servers:
        s.close()


# -- the real captures ------------------------------------------------------------------------------------


def test_the_captures_are_the_three_listed_sources() -> None:
    names = [p.name for p in CAPTURE_FILES]
    assert names == [
        "eu-3phase-charging-6a.json",
        "eu-plugged-not-ready-newer-fw.json",
        "na-split-phase-charging-40a.json",
    ]
    sources = (CAPTURES / "SOURCES.md").read_text()
    assert all(name in sources for name in names)


@pytest.mark.parametrize("path", CAPTURE_FILES, ids=lambda p: p.stem)
def test_every_capture_reads_through_the_driver(path: Path, canned: Any) -> None:
    raw = path.read_bytes()
    server = canned(raw)
    vitals = UnitApi("wc1", server.url).vitals()
    expected = json.loads(raw)
    assert server.paths == ["/api/1/vitals"]
    assert vitals.raw == expected
    for field in Vitals.model_fields:
        if field in expected:
            value = getattr(vitals, field)
            assert (list(value) if isinstance(value, tuple) else value) == expected[field], field
    assert vitals.config_status == 5


def test_capture_readings_mean_what_they_say(canned: Any) -> None:
    def read(name: str) -> Vitals:
        return UnitApi("wc1", canned((CAPTURES / name).read_bytes()).url).vitals()

    eu = read("eu-3phase-charging-6a.json")
    assert (eu.contactor_closed, eu.evse_state, eu.evse_state_name) == (True, 11, "charging")
    assert eu.currentA_a == eu.currentB_a == eu.currentC_a == 6.1
    assert eu.relay_k1_v is None and eu.evse_not_ready_reasons is None
    na = read("na-split-phase-charging-40a.json")
    assert na.vehicle_current_a == 40.4 and na.grid_hz == 59.902 and na.current_alerts == ()
    newer = read("eu-plugged-not-ready-newer-fw.json")
    assert (newer.contactor_closed, newer.vehicle_connected, newer.evse_state) == (False, True, 4)
    assert newer.current_alerts == (49,) and newer.evse_not_ready_reasons == (1,)
    assert (newer.pilot_high_v, newer.pilot_low_v) == (8.7, -11.8)


def test_unknown_fields_are_kept_and_missing_required_ones_are_named(canned: Any) -> None:
    data = json.loads((CAPTURES / "eu-3phase-charging-6a.json").read_bytes())
    data["some_future_field"] = {"x": 1}
    vitals = UnitApi("wc1", canned(json.dumps(data).encode()).url).vitals()
    assert vitals.raw["some_future_field"] == {"x": 1}
    del data["evse_state"]
    server = canned(json.dumps(data).encode())
    with pytest.raises(InstrumentGarbage) as info:
        UnitApi("wc1", server.url).vitals()
    assert "evse_state" in one_line(info.value) and server.url + "/api/1/vitals" in str(info.value)
    data["evse_state"] = "eleven"
    with pytest.raises(InstrumentGarbage, match="evse_state.*eleven"):
        UnitApi("wc1", canned(json.dumps(data).encode()).url).vitals()


# -- parse_body: the quirks of real units -----------------------------------------------------------------


def test_bare_nan_and_inf_read_as_floats_and_strings_are_left_alone() -> None:
    body = '{"a":nan,"b":NaN,"c":-inf,"d":inf,"e":[nan,-Infinity],"s":"nan inf","t":"x\\"nan"}'
    data = parse_body(body, "wc1 http://x/api/1/vitals")
    assert math.isnan(data["a"]) and math.isnan(data["b"]) and math.isnan(data["e"][0])
    assert data["c"] == -math.inf and data["d"] == math.inf and data["e"][1] == -math.inf
    assert data["s"] == "nan inf" and data["t"] == 'x"nan'


def test_a_nan_in_a_capture_reads_as_a_nan_reading(canned: Any) -> None:
    raw = (CAPTURES / "na-split-phase-charging-40a.json").read_text()
    spoiled = raw.replace('"pcba_temp_c":13.0', '"pcba_temp_c":nan')
    assert spoiled != raw
    vitals = UnitApi("wc1", canned(spoiled.encode()).url).vitals()
    assert math.isnan(vitals.pcba_temp_c) and vitals.handle_temp_c == 12.2


def test_a_nan_state_is_garbage_but_a_nan_counter_is_a_reading(canned: Any) -> None:
    raw = (CAPTURES / "eu-3phase-charging-6a.json").read_text()
    uptime_nan = raw.replace('"uptime_s":354882', '"uptime_s":nan')
    assert math.isnan(UnitApi("wc1", canned(uptime_nan.encode()).url).vitals().uptime_s)
    state_nan = raw.replace('"evse_state":11', '"evse_state":nan')
    with pytest.raises(InstrumentGarbage, match="'evse_state' is nan"):
        UnitApi("wc1", canned(state_nan.encode()).url).vitals()
    fractional = raw.replace('"uptime_s":354882', '"uptime_s":354882.5')
    with pytest.raises(InstrumentGarbage, match="uptime_s"):
        UnitApi("wc1", canned(fractional.encode()).url).vitals()


@pytest.mark.parametrize("path", CAPTURE_FILES, ids=lambda p: p.stem)
def test_a_cut_off_body_keeps_whole_members_and_never_a_wrong_value(path: Path) -> None:
    body = path.read_text().strip()
    full = json.loads(body)
    keys = list(full)
    # where each member's text ends (the captures are compact: members are separated by ',"key":')
    ends = [body.index(f',"{nxt}":') for nxt in keys[1:]] + [len(body) - 1]
    assert parse_body(body[:-1], "wc1") == full  # only the final } lost: nothing is missing
    for k in range(2, 80):
        cut = len(body) - k
        whole = [
            key
            for key, end in zip(keys, ends, strict=True)
            if end < cut or (end == cut and not isinstance(full[key], int | float))
        ]
        data = parse_body(body[:cut], "wc1")
        assert list(data) == whole, (k, body[cut - 12 : cut])
        assert all(data[key] == full[key] for key in data)  # never a wrong value


def test_a_number_cut_short_is_dropped_not_misread() -> None:
    body = '{"evse_state":11,"session_s":3229}'
    assert parse_body('{"evse_state":11,"session_s":32', "wc1") == {"evse_state": 11}
    with pytest.raises(InstrumentGarbage, match="cut off"):
        parse_body('{"evse_state":1', "wc1")  # 1 may have been 11: nothing whole is left
    assert parse_body(body[:-1], "wc1") == {"evse_state": 11}  # the trailing number may be incomplete
    assert parse_body('{"a":[1,2],"b":"abc"', "wc1") == {"a": [1, 2], "b": "abc"}
    assert parse_body('{"a":[1,2],"b":"ab', "wc1") == {"a": [1, 2]}
    assert parse_body('{"a":1,"b":[4', "wc1") == {"a": 1}
    assert parse_body('{"a":1,"b":true', "wc1") == {"a": 1, "b": True}
    assert math.isnan(parse_body('{"a":1,"b":nan', "wc1")["b"])  # a complete word cannot be cut short


@pytest.mark.parametrize(
    "body",
    [
        "",
        "   \n",
        "<html><head><title>500 Internal Server Error</title></head><body>oops</body></html>",
        "Service Unavailable",
        "[1, 2, 3]",
        '{"a":1}}',
        "{",
        '{"contactor_clo',
        "\x00\x01\x02",
    ],
    ids=["empty", "blank", "html", "text", "list", "extra-brace", "only-brace", "cut-in-first-key", "binary"],
)
def test_a_body_beyond_repair_is_one_line_of_garbage_naming_the_place(body: str) -> None:
    where = "wc3 http://192.168.90.12/api/1/vitals"
    with pytest.raises(InstrumentGarbage) as info:
        parse_body(body, where)
    text = one_line(info.value)
    assert text.startswith(where + ": ")
    assert info.value.__cause__ is None and info.value.__suppress_context__
    if body.strip():
        assert repr(body.strip()[:20])[1:-2] in text  # an excerpt of the body


def test_a_long_garbage_body_is_shown_as_a_short_excerpt() -> None:
    body = "<html>" + "x" * 5000 + "</html>"
    with pytest.raises(InstrumentGarbage) as info:
        parse_body(body, "wc1 http://x/api/1/vitals")
    assert len(one_line(info.value)) < 250 and "<html>" in str(info.value)


def test_ssid_is_decoded_from_base64_with_a_fallback_to_the_text() -> None:
    assert decode_ssid(base64.b64encode(b"Wall Connector 1").decode()) == "Wall Connector 1"
    assert decode_ssid(base64.b64encode("Büro-WLAN".encode()).decode()) == "Büro-WLAN"
    assert decode_ssid("MyHome") == "MyHome"  # decodes, but to bytes that are not UTF-8
    assert decode_ssid("Home") == "Home"  # valid base64, decodes to unprintable bytes
    assert decode_ssid(base64.b64encode(b"\x01\x02ab").decode()) == base64.b64encode(b"\x01\x02ab").decode()
    assert decode_ssid("not base64!") == "not base64!"
    assert decode_ssid("") == ""


# -- the simulated unit's server --------------------------------------------------------------------------


class FakeFirmware:
    """A firmware that boots and does nothing: the board's state is set by the test."""

    firmware_version = "24.44.0"

    def __init__(self, board: Any) -> None:
        self.board = board

    def tick(self) -> None:
        pass

    def on_message(self, sender: str, message: dict[str, Any]) -> None:
        pass

    def on_console(self, line: str) -> str:
        return "ERR unknown command"


@pytest.fixture
def world() -> World:
    data = tomllib.loads((ROOT / "racks" / "sim-6.toml").read_text())
    data.pop("sim", None)  # the rack's own model is not what these tests are about
    world = World(Rack.model_validate(data), FakeFirmware)
    world.advance(6)  # BOOT_S = 5: the firmware runs from here on
    return world


@pytest.fixture
def server(world: World) -> Iterator[UnitApiServer]:
    srv = UnitApiServer(world, "wc1").start()
    yield srv
    srv.stop()


def test_the_server_listens_on_a_free_loopback_port(world: World) -> None:
    a = UnitApiServer(world, "wc1").start()
    b = UnitApiServer(world, "wc2").start()
    url = a.url
    try:
        assert a.url.startswith("http://127.0.0.1:") and a.url != b.url
        assert UnitApi("wc2", b.url).version().serial_number == world.units["wc2"].serial
    finally:
        a.stop()
        b.stop()
    with pytest.raises(InstrumentError):
        UnitApi("wc1", url, **FAST).vitals()  # stopped: the port is closed


def test_the_simulated_vitals_have_the_captures_field_set(server: UnitApiServer) -> None:
    older = json.loads((CAPTURES / "eu-3phase-charging-6a.json").read_bytes())
    vitals = UnitApi("wc1", server.url).vitals()
    assert list(vitals.raw) == list(older)


def test_the_simulated_vitals_follow_the_world(world: World, server: UnitApiServer) -> None:
    api = UnitApi("wc1", server.url)
    unit = world.units["wc1"]
    idle = api.vitals()
    assert (idle.evse_state, idle.vehicle_connected, idle.contactor_closed) == (1, False, False)
    assert idle.pilot_high_v == idle.pilot_low_v == 12.0 and idle.relay_coil_v == 12.0
    assert 6 <= idle.uptime_s <= 7 and idle.grid_v == pytest.approx(240, abs=5)

    with world.lock:
        unit.b_closed = True
        unit.pwm_amps = 32.0
    ready = api.vitals()
    assert (ready.evse_state, ready.vehicle_connected) == (4, True)
    assert ready.pilot_high_v == 9.0 and ready.pilot_low_v == -12.0

    with world.lock:
        unit.c_closed = True
        unit.contactor = True
        unit.load_on = True
        unit.load_setpoint_a = 32.0
    world.advance(3600)
    charging = api.vitals()
    assert (charging.evse_state, charging.contactor_closed, charging.relay_coil_v) == (11, True, 6.1)
    assert charging.vehicle_current_a == 32.0
    assert charging.currentA_a + charging.currentB_a == pytest.approx(32.0, abs=0.2)
    assert charging.session_energy_wh == pytest.approx(32 * 240, rel=0.01)
    assert charging.uptime_s >= 3606


def test_the_simulated_version_wifi_and_lifetime(world: World, server: UnitApiServer) -> None:
    api = UnitApi("wc1", server.url)
    version = api.version()
    assert version.firmware_version == "24.44.0" and version.serial_number == world.units["wc1"].serial
    assert version.part_number == "1529455-02-D" and version.git_branch is None
    wifi = api.wifi_status()
    assert isinstance(wifi, WifiStatus) and wifi.ssid == "wc1" and wifi.wifi_ssid != "wc1"
    assert wifi.wifi_connected is True and wifi.internet is False
    with world.lock:
        world.units["wc1"].wifi_up = False
    assert api.wifi_status().wifi_connected is False
    life = api.lifetime()
    assert life.charging_time_s is not None and life.uptime_s is not None and life.uptime_s >= 6


def test_an_unpowered_or_booting_unit_does_not_answer(world: World, server: UnitApiServer) -> None:
    api = UnitApi("wc1", server.url, **FAST)
    unit = world.units["wc1"]
    world.set_breaker(unit, False)
    with pytest.raises(InstrumentError) as info:
        api.vitals()
    assert not isinstance(info.value, InstrumentGarbage)
    assert one_line(info.value).startswith(f"wc1: GET {server.url}/api/1/vitals: ")
    world.set_breaker(unit, True)
    with pytest.raises(InstrumentError):
        api.version()  # powered, still booting: no firmware, no web server
    world.advance(6)
    assert api.version().firmware_version == "24.44.0"
    assert api.vitals().uptime_s == 6


def test_quirk_nan_reads_as_one_nan_reading(server: UnitApiServer) -> None:
    api = UnitApi("wc1", server.url)
    server.quirk = "nan"
    vitals = api.vitals()
    nans = [k for k, v in vitals.raw.items() if isinstance(v, float) and math.isnan(v)]
    assert nans == ["handle_temp_c"] and math.isnan(vitals.handle_temp_c)
    life = api.lifetime()  # the first number is a counter: nan there is still a reading, not garbage
    assert math.isnan(life.contactor_cycles) and life.alert_count == 17
    assert sum(isinstance(v, float) and math.isnan(v) for v in life.raw.values()) == 1


def test_quirk_truncate_reads_the_whole_members(server: UnitApiServer) -> None:
    api = UnitApi("wc1", server.url)
    good = api.vitals()
    server.quirk = "truncate"
    assert api.vitals() == good  # only the final } was lost
    assert api.version().firmware_version == "24.44.0"
    assert api.wifi_status().ssid == "wc1"
    life = api.lifetime()
    assert life.charging_time_s is None  # the last member is a number: it may be cut short, so it is dropped
    assert life.uptime_s is not None


def test_quirk_garbage_is_one_line_of_instrument_garbage(server: UnitApiServer) -> None:
    server.quirk = "garbage"
    with pytest.raises(InstrumentGarbage) as info:
        UnitApi("wc1", server.url).vitals()
    text = one_line(info.value)
    assert text.startswith(f"wc1: GET {server.url}/api/1/vitals: ") and "<!DOCTYPE html>" in text
    assert info.value.instrument == "wc1"


def test_quirk_drop_is_an_instrument_error(server: UnitApiServer) -> None:
    server.quirk = "drop"
    with pytest.raises(InstrumentError) as info:
        UnitApi("wc1", server.url, **FAST).wifi_status()
    assert type(info.value) is InstrumentError
    assert "closed" in one_line(info.value) and f"{server.url}/api/1/wifi_status" in str(info.value)


def test_quirk_slow_within_the_read_timeout_is_read(server: UnitApiServer) -> None:
    server.quirk, server.slow_s = "slow", 0.3
    start = time.monotonic()
    assert UnitApi("wc1", server.url, connect_timeout_s=0.2, read_timeout_s=2.0).vitals().evse_state == 1
    assert time.monotonic() - start >= 0.3  # the read timeout, not the connect timeout, governs the wait


def test_quirk_slow_beyond_the_read_timeout_is_a_timeout(server: UnitApiServer) -> None:
    server.quirk, server.slow_s = "slow", 2.0
    start = time.monotonic()
    with pytest.raises(InstrumentTimeout) as info:
        UnitApi("wc1", server.url, **FAST).vitals()
    assert time.monotonic() - start < 1.0
    assert "0.2 s" in one_line(info.value) and server.url in str(info.value)


def test_an_unknown_quirk_is_refused(server: UnitApiServer) -> None:
    with pytest.raises(ValueError, match="quirk"):
        server.quirk = "nans"


def test_connection_refused_is_an_instrument_error_naming_the_url() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    start = time.monotonic()
    with pytest.raises(InstrumentError) as info:
        UnitApi("wc4", url, **FAST).vitals()
    assert time.monotonic() - start < 0.5
    assert not isinstance(info.value, InstrumentTimeout | InstrumentGarbage)
    assert one_line(info.value) == f"wc4: GET {url}/api/1/vitals: connection refused"


def test_a_connect_timeout_is_a_timeout() -> None:
    # A listening socket whose backlog is full does not accept: the connect itself times out.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(0)
        fillers = []
        try:
            for _ in range(8):
                f = socket.socket()
                f.setblocking(False)
                f.connect_ex(s.getsockname())
                fillers.append(f)
            with pytest.raises(InstrumentError) as info:
                UnitApi("wc1", f"http://127.0.0.1:{s.getsockname()[1]}", connect_timeout_s=0.2).vitals()
        finally:
            for f in fillers:
                f.close()
    assert isinstance(info.value, InstrumentTimeout) and "no connection within 0.2 s" in str(info.value)


# -- transport details ------------------------------------------------------------------------------------


def test_an_http_error_status_is_an_instrument_error(canned: Any) -> None:
    server = canned(b'{"error":"busy"}', status=503)
    with pytest.raises(InstrumentError) as info:
        UnitApi("wc2", server.url).lifetime()
    assert type(info.value) is InstrumentError
    assert "HTTP 503" in one_line(info.value) and f"{server.url}/api/1/lifetime" in str(info.value)


def test_a_body_shorter_than_announced_is_repaired(canned: Any) -> None:
    raw = (CAPTURES / "eu-3phase-charging-6a.json").read_bytes().strip()
    server = canned(raw[:-1], content_length=len(raw) + 1)
    assert UnitApi("wc1", server.url).vitals().raw == json.loads(raw)


def test_one_attempt_per_call_even_when_it_fails(canned: Any) -> None:
    server = canned(b"", drop=True)
    api = UnitApi("wc1", server.url, **FAST)
    for _ in range(3):
        with pytest.raises(InstrumentError):
            api.vitals()
    assert server.connections == 3


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts open descriptors through /proc")
def test_failing_calls_leave_no_descriptor_open(server: UnitApiServer) -> None:
    api = UnitApi("wc1", server.url, **FAST)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        refused = UnitApi("wc9", f"http://127.0.0.1:{s.getsockname()[1]}", **FAST)
    api.vitals()
    before = len(os.listdir("/proc/self/fd"))
    for quirk in ("drop", "garbage", None):
        server.quirk = quirk
        for _ in range(20):
            with contextlib.suppress(InstrumentError):
                api.vitals()
            with pytest.raises(InstrumentError):
                refused.vitals()
    assert len(os.listdir("/proc/self/fd")) <= before + 2


def test_a_closed_driver_refuses_calls(server: UnitApiServer) -> None:
    with UnitApi("wc1", server.url) as api:
        assert api.vitals().evse_state == 1
    with pytest.raises(InstrumentError, match="closed"):
        api.vitals()


def test_a_bad_address_is_refused_at_construction() -> None:
    with pytest.raises(ValueError):
        UnitApi("wc1", "https://127.0.0.1")
    with pytest.raises(ValueError):
        UnitApi("wc1", "http://127.0.0.1:notaport")
