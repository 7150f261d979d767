"""A simulated unit's local HTTP API, served on loopback from the world's state.

It serves the field set of the real captures (`tests/captures/`), so the same `UnitApi` driver reads a
simulated rack and a lab rack. It is derived from the world, never from the firmware model's own beliefs,
except the version string, which is the model's to report: what the API says is what a real unit would
measure about itself.

A unit without running firmware (unpowered, or still booting) has no web server: the connection is dropped
without a reply. Neither does a follower: once paired it joins its leader's Wi-Fi and leaves the lab LAN
(home-assistant/core #88423), so the rig can never rely on a follower's API.

The `quirk` attribute makes the server misbehave the way real units were seen to, so the
driver's handling of each is tested: "nan", "truncate", "slow", "garbage", "drop".
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PART_NUMBER = "1529455-02-D"
GRID_V = 240.0
GRID_HZ = 60.0
QUIRKS = ("nan", "truncate", "slow", "garbage", "drop")
"""nan: a bare `nan` in place of one number; truncate: body cut before its final `}`; slow: `slow_s` of
silence before the first byte; garbage: an HTML error page with status 200; drop: close without reply."""

NAN_FIELD = {"/api/1/vitals": "handle_temp_c"}
"""Which number the "nan" quirk spoils; elsewhere the first number of the reply."""

GARBAGE_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>500 Internal Server Error</title></head>\n"
    "<body><h1>Internal Server Error</h1><p>httpd: out of memory</p></body></html>\n"
)


class _Drop(Exception):
    """Internal: the unit does not answer this request."""


class _Handler(BaseHTTPRequestHandler):
    server: _HttpServer
    protocol_version = "HTTP/1.0"
    server_version = "SimWallConnector/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: a test run is not the place for one access-log line per poll."""

    def do_GET(self) -> None:
        owner = self.server.owner
        quirk = owner.quirk
        if quirk == "drop":
            self.close_connection = True
            return
        if quirk == "slow" and owner.stopping.wait(owner.slow_s):
            return  # the server is stopping: no reply
        try:
            status, body, content_type = owner.respond(self.path, quirk)
        except _Drop:
            self.close_connection = True
            return
        payload = body.encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            return  # the client gave up (timed out) before the reply: nothing to tell it


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # stop() must not wait for a "slow" reply still sleeping
    owner: UnitApiServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away mid-reply is normal here; anything else is a bug worth a traceback."""
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):
            return
        super().handle_error(request, client_address)


class UnitApiServer:
    """One simulated unit's /api/1/* endpoints on a free loopback port."""

    def __init__(self, world: Any, unit_name: str, host: str = "127.0.0.1", port: int = 0) -> None:
        if unit_name not in world.units:
            raise KeyError(f"no simulated unit named {unit_name!r}")
        self.world = world
        self.unit_name = unit_name
        self.host = host
        self.port = port
        self._quirk: str | None = None
        self.slow_s = 5.0
        """How long the "slow" quirk keeps the client waiting, in wall-clock seconds."""
        self.stopping = threading.Event()
        self._server: _HttpServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def quirk(self) -> str | None:
        """The misbehaviour in force (one of QUIRKS), or None for a well-behaved unit."""
        return self._quirk

    @quirk.setter
    def quirk(self, value: str | None) -> None:
        if value is not None and value not in QUIRKS:
            raise ValueError(f"unknown quirk {value!r}; one of {', '.join(QUIRKS)}")
        self._quirk = value

    @property
    def url(self) -> str:
        """http://host:port of the running server; the port is the one the system chose for port 0."""
        if self._server is None:
            raise RuntimeError(f"{self.unit_name}: API server not started")
        return f"http://{self.host}:{self._server.server_address[1]}"

    def start(self) -> UnitApiServer:
        if self._server is not None:
            return self
        self.stopping.clear()
        server = _HttpServer((self.host, self.port), _Handler)
        server.owner = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"api-{self.unit_name}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self.stopping.set()
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None

    def __enter__(self) -> UnitApiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- replies -------------------------------------------------------------------------------------------

    def respond(self, path: str, quirk: str | None = None) -> tuple[int, str, str]:
        """Status, body and content type for one GET; raises _Drop when the unit would not answer."""
        path = path.split("?", 1)[0].rstrip("/")
        builders = {
            "/api/1/vitals": self._vitals,
            "/api/1/version": self._version,
            "/api/1/wifi_status": self._wifi_status,
            "/api/1/lifetime": self._lifetime,
        }
        with self.world.lock:
            unit = self.world.units[self.unit_name]
            if not unit.powered or unit.firmware is None:
                raise _Drop  # no power, or booting: the unit's web server is part of its firmware
            if not unit.on_site_lan:
                raise _Drop  # a follower is on its leader's Wi-Fi, not the lab LAN: nobody answers the rig
            if quirk == "garbage":
                return HTTPStatus.OK, GARBAGE_PAGE, "text/html"
            build = builders.get(path)
            if build is None:
                return HTTPStatus.NOT_FOUND, '{"error":"not found"}', "application/json"
            data = build(unit, float(self.world.now))
        body = json.dumps(data, separators=(",", ":"))
        if quirk == "nan":
            body = _spoil_one_number(body, data, NAN_FIELD.get(path))
        elif quirk == "truncate":
            body = body[:-1]
        return HTTPStatus.OK, body, "application/json"

    def _vitals(self, unit: Any, now: float) -> dict[str, Any]:
        state = unit.pilot_state()
        connected = state in ("B", "C")
        current = float(unit.true_current())
        closed = bool(unit.contactor)
        pwm = unit.running and unit.pwm_amps is not None
        high = round(float(unit.pilot_high_v()), 1)
        since = getattr(unit, "session_start", None)
        if closed and state == "C":
            evse_state = 11
        elif connected and pwm:
            evse_state = 4
        elif connected:
            evse_state = 2
        else:
            evse_state = 1
        out_v = GRID_V if closed else 0.0
        return {
            "contactor_closed": closed,
            "vehicle_connected": connected,
            "session_s": int(now - since) if connected and since is not None else 0,
            "grid_v": GRID_V,
            "grid_hz": GRID_HZ,
            "vehicle_current_a": round(current, 1),
            "currentA_a": round(current / 2, 1),  # split phase, as the NA capture: the legs share it
            "currentB_a": round(current / 2, 1),
            "currentC_a": 0.0,
            "currentN_a": 0.0,
            "voltageA_v": out_v,
            "voltageB_v": out_v,
            "voltageC_v": out_v / 2,
            "relay_coil_v": 6.1 if closed else 12.0,
            "pcba_temp_c": round(25.0 + 0.1 * current, 1),
            "handle_temp_c": round(20.0 + 0.05 * current, 1),
            "mcu_temp_c": 30.0,
            "uptime_s": int(now - unit.powered_since),
            "input_thermopile_uv": -200,
            "prox_v": 1.5 if connected else 0.0,
            "pilot_high_v": high,
            "pilot_low_v": -12.0 if pwm else high,
            "session_energy_wh": round(float(unit.energy_wh), 3),
            "config_status": 5,
            "evse_state": evse_state,
            "current_alerts": [],
        }

    def _version(self, unit: Any, now: float) -> dict[str, Any]:
        return {
            "firmware_version": str(type(unit.firmware).firmware_version),
            "part_number": PART_NUMBER,
            "serial_number": unit.serial,
        }

    def _wifi_status(self, unit: Any, now: float) -> dict[str, Any]:
        up = bool(unit.wifi_up)
        digest = hashlib.sha256(self.unit_name.encode()).digest()
        return {
            "wifi_ssid": base64.b64encode(self.unit_name.encode()).decode("ascii"),
            "wifi_signal_strength": 78 if up else 0,
            "wifi_rssi": -52 if up else -100,
            "wifi_snr": 38 if up else 0,
            "wifi_connected": up,
            "wifi_infra_ip": f"192.168.90.{10 + digest[0] % 200}" if up else "0.0.0.0",
            "internet": False,
            "wifi_mac": "98:ED:5C:" + ":".join(f"{b:02X}" for b in digest[1:4]),
        }

    def _lifetime(self, unit: Any, now: float) -> dict[str, Any]:
        return {
            "contactor_cycles": 412,
            "contactor_cycles_loaded": 3,
            "alert_count": 17,
            "thermal_foldbacks": 0,
            "avg_startup_temp": 21.5,
            "charge_starts": 412,
            "energy_wh": int(unit.energy_wh) + 1_250_000,
            "connector_cycles": 388,
            "uptime_s": int(now - unit.powered_since) + 8_000_000,
            "charging_time_s": 1_100_000,
        }


def _spoil_one_number(body: str, data: dict[str, Any], field: str | None) -> str:
    """The body with one number written as a bare `nan`, as some firmware does."""
    if field is None:
        numbers = [k for k, v in data.items() if isinstance(v, int | float) and not isinstance(v, bool)]
        if not numbers:
            return body
        field = numbers[0]
    spoiled = dict(data, **{field: float("nan")})
    return json.dumps(spoiled, separators=(",", ":")).replace(f'"{field}":NaN', f'"{field}":nan')
