"""`rig unit URL` against a tiny local HTTP server serving the real captures of tests/captures, as sent and
mutated the ways real units spoil them (a bare `nan`, a body cut before its last brace)."""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from rig.cli import main
from rig.unit_report import read_unit

CAPTURES = sorted(Path(__file__).with_name("captures").glob("*.json"))
"""Every capture there, including ones added after this test was written."""

VERSION = '{"firmware_version":"21.29.1+g4152353e50f744","part_number":"1529455-02-D","serial_number":"PGT21000000A1"}'
WIFI = ('{"wifi_ssid":"' + base64.b64encode("Garage Wi-Fi ✓".encode()).decode() + '","wifi_signal_strength":61,'
        '"wifi_rssi":-59,"wifi_snr":33,"wifi_connected":true,"wifi_infra_ip":"192.168.1.47","internet":true,'
        '"wifi_mac":"98:ED:5C:12:34:56"}')
LIFETIME = ('{"contactor_cycles":412,"contactor_cycles_loaded":3,"alert_count":17,"thermal_foldbacks":0,'
            '"avg_startup_temp":21.5,"charge_starts":412,"energy_wh":1250000,"connector_cycles":388,'
            '"uptime_s":8000000,"charging_time_s":1100000}')


class _Handler(BaseHTTPRequestHandler):
    server: Any

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        body = self.server.bodies.get(self.path)
        if body is None:
            self.send_response(404)
            self.end_headers()
            return
        payload = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture
def serve() -> Iterator[Callable[..., str]]:
    servers: list[ThreadingHTTPServer] = []

    def start(vitals: str, version: str = VERSION, wifi: str = WIFI, lifetime: str = LIFETIME) -> str:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.bodies = {"/api/1/vitals": vitals, "/api/1/version": version,  # type: ignore[attr-defined]
                         "/api/1/wifi_status": wifi, "/api/1/lifetime": lifetime}
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def strict_json(text: str) -> Any:
    def refuse(constant: str) -> Any:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def with_nan(text: str) -> tuple[str, str]:
    """The capture with its first fractional reading written as a bare nan, and that field's name."""
    m = re.search(r'"(\w+)":(-?\d+\.\d+)', text)
    assert m is not None
    return text[: m.start(2)] + "nan" + text[m.end(2):], m.group(1)


def cut(text: str) -> str:
    """The capture cut before its last brace."""
    body = text.rstrip()
    assert body.endswith("}")
    return body[:-1]


def run_unit(url: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, Any, str]:
    code = main(["unit", url, "--read-timeout", "2"])
    out, err = capsys.readouterr()
    return code, (strict_json(out) if out.strip() else None), err


@pytest.mark.parametrize("mutation", ["as sent", "bare nan", "cut", "nan and cut"])
@pytest.mark.parametrize("capture", CAPTURES, ids=[p.stem for p in CAPTURES])
def test_rig_unit_reads_every_capture(capture: Path, mutation: str, serve: Callable[..., str],
                                      capsys: pytest.CaptureFixture[str]) -> None:
    text = capture.read_text(encoding="utf-8")
    expected = json.loads(text)
    spoiled = None
    if "nan" in mutation:
        text, spoiled = with_nan(text)
    if "cut" in mutation:
        text = cut(text)
    url = serve(text)
    code, doc, err = run_unit(url, capsys)
    assert code == 0, (doc, err)
    assert doc["url"] == url
    vitals = doc["vitals"]
    assert set(vitals) == set(expected)
    for key, value in expected.items():
        if key == spoiled:
            assert vitals[key] is None
        else:
            assert vitals[key] == value, key
    if spoiled:
        assert any(note.startswith(f"vitals.{spoiled} was nan") for note in doc["notes"])
    else:
        assert "notes" not in doc
    assert doc["version"]["firmware_version"] == "21.29.1+g4152353e50f744"
    assert doc["wifi_status"]["ssid"] == "Garage Wi-Fi ✓"
    assert doc["lifetime"]["energy_wh"] == 1250000
    assert "problems" not in doc


def test_a_reply_that_does_not_fit_its_record_is_shown_as_sent(serve: Callable[..., str],
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """A unit whose firmware the rig has not seen: a state as text, a field renamed. Shown, and noted."""
    text = CAPTURES[0].read_text(encoding="utf-8")
    text = re.sub(r'"evse_state":\d+', '"evse_state":"charging"', text).replace('"grid_v"', '"grid_volts"')
    code, doc, _ = run_unit(serve(text), capsys)
    assert code == 0
    assert doc["vitals"]["evse_state"] == "charging" and "grid_volts" in doc["vitals"]
    assert any(note.startswith("vitals does not fit the rig's record") for note in doc["notes"])


def test_nan_elsewhere_and_plain_text_ssid(serve: Callable[..., str], capsys: pytest.CaptureFixture[str]) -> None:
    wifi = WIFI.replace('"wifi_rssi":-59', '"wifi_rssi":nan')
    wifi = re.sub(r'"wifi_ssid":"[^"]*"', '"wifi_ssid":"LabNet"', wifi)
    code, doc, _ = run_unit(serve(CAPTURES[0].read_text(encoding="utf-8"), wifi=wifi), capsys)
    assert code == 0
    assert doc["wifi_status"]["wifi_rssi"] is None and doc["wifi_status"]["ssid"] == "LabNet"
    assert doc["notes"] == ["wifi_status.wifi_rssi was nan (sent as a bare nan); shown as null"]


def test_garbage_and_a_missing_endpoint_are_problems(serve: Callable[..., str],
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    url = serve("<html><body>500 Internal Server Error</body></html>", lifetime=None)
    code, doc, _ = run_unit(url, capsys)
    assert code == 1
    assert doc["vitals"] is None and doc["lifetime"] is None
    assert doc["version"]["serial_number"] == "PGT21000000A1"
    assert "not JSON" in doc["problems"]["vitals"]
    assert "HTTP 404" in doc["problems"]["lifetime"]


def test_a_unit_that_does_not_answer_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, doc, err = run_unit(f"http://127.0.0.1:{port}", capsys)
    assert code == 2 and doc is None
    assert err.count("\n") == 1 and "connection refused" in err and err.startswith("rig unit: ")


def test_a_bad_url_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["unit", "https://10.0.0.5"]) == 2
    assert capsys.readouterr().err.startswith("rig unit: ")


def test_read_unit_reads_the_simulated_unit() -> None:
    from firmware_under_test.models.reference import ReferenceFirmware
    from rig.config import load_rack
    from rig.sim.api_server import UnitApiServer
    from rig.sim.world import World

    world = World(load_rack(Path(__file__).resolve().parents[1] / "racks" / "sim-6.toml"), ReferenceFirmware)
    world.advance(10)
    with UnitApiServer(world, "wc2") as server:
        doc, code = read_unit(server.url)
    assert code == 0
    assert doc["wifi_status"]["ssid"] == "wc2"
    assert doc["version"]["serial_number"] == world.units["wc2"].serial
