"""A Wall Connector's local HTTP API: read-only vitals, version, Wi-Fi status and lifetime counters.

The API is plain HTTP without authentication and cannot set anything; the rig uses it only to read what a unit
says about itself, to compare with what the instruments measure. Real units are sloppy servers, and a driver
that trusts them breaks a night of tests, so this one is written against what they were seen to do:

- a bare `nan` where a number belongs, which is not JSON (read as float nan, so a check can judge it);
- a body cut off before its final `}` (the members received whole are kept; see `parse_body`);
- several seconds before the first byte (a short connect timeout, then a longer read timeout);
- no answer at all when off, and community clients that retried hard against an offline unit exhausted their
  file descriptors: so one attempt per call, every connection closed, and the caller decides what a failure
  means.

Every failure is an `InstrumentError` on one line naming the unit and the URL, never a raw exception.
"""

from __future__ import annotations

import base64
import binascii
import http.client
import json
import math
import re
from typing import Annotated, Any, ClassVar, TypeVar
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from rig.instruments.errors import InstrumentError, InstrumentGarbage, InstrumentTimeout

VITALS = "/api/1/vitals"
VERSION = "/api/1/version"
WIFI_STATUS = "/api/1/wifi_status"
LIFETIME = "/api/1/lifetime"

MAX_BODY_BYTES = 256 * 1024
"""A real reply is well under 2 kB; anything this large is not a reply, and is not read into memory."""

EXCERPT_CHARS = 60

EVSE_STATES: dict[int, str] = {
    0: "booting",
    1: "not connected",
    2: "connected",
    4: "ready",
    6: "negotiating",
    7: "error",
    8: "charging finished",
    9: "waiting for car",
    10: "charging reduced",
    11: "charging",
}
"""evse_state as read by the community; Tesla never documented it, so an unknown value is not an error."""


# -- parsing ---------------------------------------------------------------------------------------------


class _Unparseable(Exception):
    """Internal: why a body is not a reply; turned into InstrumentGarbage by whoever knows the place."""


_BARE_NUMBER_WORD = re.compile(
    r'("(?:[^"\\]|\\.)*"?)'  # a string (possibly unterminated): copied unchanged
    r"|(?<![\w.])([-+]?)(nan|inf(?:inity)?)(?!\w)",
    re.IGNORECASE,
)
_LITERALS = {"true", "false", "null", "NaN", "Infinity", "-Infinity"}


def _normalise_bare_words(text: str) -> str:
    """Spell bare nan/inf (outside strings) the way Python's json module reads them: NaN, Infinity."""

    def repl(m: re.Match[str]) -> str:
        if m.group(1) is not None:
            return m.group(1)
        if m.group(3).lower() == "nan":
            return "NaN"
        return "-Infinity" if m.group(2) == "-" else "Infinity"

    return _BARE_NUMBER_WORD.sub(repl, text)


def _cut_point(text: str) -> int | None:
    """Where to cut a body that stops inside its top-level object, keeping only members received whole.

    Returns None when the text is not an unfinished object (it never opened one, or it closed it). A member
    still being received when the body stopped is dropped rather than completed: `"evse_state":1` may have
    been `11`, `"current_alerts":[4` may have been `[49,50]`, and a wrong value is worse than a missing one.
    A trailing number is dropped for the same reason; strings, containers and literals that closed are kept.
    """
    i = 0
    n = len(text)
    while i < n and text[i].isspace():
        i += 1
    if i >= n or text[i] != "{":
        return None
    cut = i + 1  # an object with no member received whole
    depth = 0
    in_string = False
    escaped = False
    string_is_key = False
    expect = "key"  # at depth 1: key, colon, value, comma
    token = ""  # a scalar (number or literal) being read at depth 1
    for pos in range(i, n):
        ch = text[pos]
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
                if depth == 1:
                    if string_is_key:
                        expect = "colon"
                    else:
                        expect = "comma"
                        cut = pos + 1
            continue
        if token:
            if ch.isalnum() or ch in "+-.":
                token += ch
                continue
            token = ""
            cut = pos  # the scalar ended: it was received whole
            expect = "comma"
        if ch.isspace():
            continue
        if ch == '"':
            in_string = True
            string_is_key = depth == 1 and expect == "key"
            continue
        if ch in "{[":
            depth += 1
            continue
        if ch in "}]":
            depth -= 1
            if depth == 0:
                return None  # the object closed: not a truncation, whatever else is wrong
            if depth == 1:
                expect = "comma"
                cut = pos + 1
            continue
        if depth != 1:
            continue
        if ch == ":":
            expect = "value"
        elif ch == ",":
            expect = "key"
        elif expect == "value":
            token = ch
    if token in _LITERALS:
        return n
    return cut


def _parse(text: str) -> tuple[dict[str, Any], bool]:
    """The reply as a dict and whether it had to be repaired; raises _Unparseable with the reason."""
    if not text.strip():
        raise _Unparseable("empty body")
    normalised = _normalise_bare_words(text)
    repaired = False
    try:
        data = json.loads(normalised)
    except json.JSONDecodeError as exc:
        data = _repair(normalised, f"{exc.msg} at char {exc.pos}", text)
        repaired = True
    if not isinstance(data, dict):
        raise _Unparseable(f"a JSON {type(data).__name__}, not an object; body {_excerpt(text)}")
    return data, repaired


def _repair(normalised: str, error: str, text: str) -> dict[str, Any]:
    """The members of a cut-off body that were received whole; _Unparseable if it is not a cut-off body."""
    cut = _cut_point(normalised)
    if cut is None:
        raise _Unparseable(f"not JSON ({error}); body {_excerpt(text)}")
    try:
        data = json.loads(normalised[:cut].rstrip().rstrip(",") + "}")
    except json.JSONDecodeError:
        raise _Unparseable(f"not JSON, nor a cut-off object ({error}); body {_excerpt(text)}") from None
    if not data:
        raise _Unparseable(f"cut off before any member was received whole; body {_excerpt(text)}")
    return data


def _excerpt(text: str) -> str:
    """A short single-line look at a body: its start, and its end when it is long."""
    flat = text.strip()
    if len(flat) <= EXCERPT_CHARS:
        return repr(flat)
    half = EXCERPT_CHARS // 2
    return f"{flat[:half]!r}...{flat[-half:]!r} ({len(flat)} chars)"


def parse_body(text: str, where: str) -> dict[str, Any]:
    """Read a reply body as real units write it; one-line InstrumentGarbage naming `where` if it is none.

    A bare `nan`/`NaN`/`inf`/`-inf` outside strings reads as a float. A body cut off inside its top-level
    object keeps the members received whole and drops the one being received when it stopped (so a body that
    only lost its final `}` reads complete, and `"evse_state":1` cut from `11` is missing, not wrong).
    """
    try:
        return _parse(text)[0]
    except _Unparseable as exc:
        raise InstrumentGarbage(where, str(exc)) from None


# -- records ---------------------------------------------------------------------------------------------

Num = Annotated[float, Field(strict=True)]
"""A JSON number: an int is accepted as a float, a string or a bool is not a reading."""
Int = Annotated[int, Field(strict=True)]
"""A state or code (evse_state, an alert): nan there means the unit did not say; the reply is garbage."""


def _int_or_nan(value: int | float) -> int | float:
    if isinstance(value, float) and not math.isnan(value):
        raise ValueError("not an integer")
    return value


Count = Annotated[Int | Annotated[float, Field(strict=True)], AfterValidator(_int_or_nan)]
"""A counter or duration: an int, or the bare `nan` a unit may send (a reading: a check judges it)."""
Bool = Annotated[bool, Field(strict=True)]
Text = Annotated[str, Field(strict=True)]


class _Record(BaseModel):
    """A reply as typed fields, plus the reply itself in `raw` (unknown fields kept there, not refused)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    endpoint: ClassVar[str]
    raw: dict[str, Any] = Field(repr=False)


class Vitals(_Record):
    """/api/1/vitals: what the unit measures and which state it believes it is in."""

    endpoint: ClassVar[str] = VITALS

    contactor_closed: Bool
    vehicle_connected: Bool
    session_s: Count
    grid_v: Num
    grid_hz: Num
    vehicle_current_a: Num
    currentA_a: Num
    currentB_a: Num
    currentC_a: Num
    currentN_a: Num
    voltageA_v: Num
    voltageB_v: Num
    voltageC_v: Num
    relay_coil_v: Num | None = None
    """Older firmware; newer firmware may report relay_k1_v and relay_k2_v instead."""
    relay_k1_v: Num | None = None
    relay_k2_v: Num | None = None
    pcba_temp_c: Num
    handle_temp_c: Num
    mcu_temp_c: Num
    uptime_s: Count
    input_thermopile_uv: Num
    prox_v: Num
    pilot_high_v: Num
    pilot_low_v: Num
    session_energy_wh: Num
    config_status: Int
    evse_state: Int
    current_alerts: tuple[Int, ...]
    evse_not_ready_reasons: tuple[Int, ...] | None = None
    """Newer firmware only."""

    @property
    def evse_state_name(self) -> str:
        """The community's reading of evse_state, or 'unknown <n>'."""
        return EVSE_STATES.get(self.evse_state, f"unknown {self.evse_state}")


class Version(_Record):
    """/api/1/version: which firmware the unit runs and which unit it is."""

    endpoint: ClassVar[str] = VERSION

    firmware_version: Text
    part_number: Text
    serial_number: Text
    git_branch: Text | None = None
    web_service: Text | None = None


class WifiStatus(_Record):
    """/api/1/wifi_status: the unit's own view of its Wi-Fi link."""

    endpoint: ClassVar[str] = WIFI_STATUS

    wifi_ssid: Text
    """As sent: base64 on most firmware, plain text on some; read `ssid` for the name."""
    wifi_signal_strength: Num
    wifi_rssi: Num
    wifi_snr: Num
    wifi_connected: Bool
    wifi_infra_ip: Text
    internet: Bool
    wifi_mac: Text

    @property
    def ssid(self) -> str:
        """The SSID decoded from base64, or the text as sent when it does not decode to printable UTF-8."""
        return decode_ssid(self.wifi_ssid)


class Lifetime(_Record):
    """/api/1/lifetime: counters since manufacture.

    Every field is optional: nothing the rig checks depends on them, firmware differs in what it sends, and
    the last member (a number) is the one a cut-off body loses.
    """

    endpoint: ClassVar[str] = LIFETIME

    contactor_cycles: Count | None = None
    contactor_cycles_loaded: Count | None = None
    alert_count: Count | None = None
    thermal_foldbacks: Count | None = None
    avg_startup_temp: Num | None = None
    charge_starts: Count | None = None
    energy_wh: Num | None = None
    connector_cycles: Count | None = None
    uptime_s: Count | None = None
    charging_time_s: Count | None = None


def decode_ssid(value: str) -> str:
    """Base64 SSID to text; the value itself when it is not base64 of printable UTF-8."""
    try:
        text = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return value
    return text if text and text.isprintable() else value


R = TypeVar("R", bound=_Record)


def _record(cls: type[R], data: dict[str, Any], repaired: bool) -> R:
    """Build a record; a missing or mistyped field becomes _Unparseable naming the field."""
    try:
        return cls.model_validate({**data, "raw": data})
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "(top level)"
        if err["type"] == "missing":
            why = f"no {field!r} field"
        else:
            why = f"{field!r} is {err.get('input')!r}: {err['msg']}"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        cut = "; the body was cut off" if repaired else ""
        raise _Unparseable(f"not a {cls.endpoint} reply: {why}{more}{cut}") from None


# -- the driver ------------------------------------------------------------------------------------------


class UnitApi:
    """One unit's local HTTP API. Each call is one GET on its own connection, closed before returning."""

    def __init__(
        self, name: str, base_url: str, connect_timeout_s: float = 2.0, read_timeout_s: float = 10.0
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"{name}: API address {base_url!r} is not http://host[:port]")
        try:
            port = parts.port or 80
        except ValueError:
            raise ValueError(f"{name}: API address {base_url!r} has a bad port") from None
        if connect_timeout_s <= 0 or read_timeout_s <= 0:
            raise ValueError(f"{name}: timeouts must be positive")
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.connect_timeout_s = connect_timeout_s
        self.read_timeout_s = read_timeout_s
        self._host = parts.hostname
        self._port = port
        self._prefix = parts.path.rstrip("/")
        self._closed = False

    def __repr__(self) -> str:
        return f"UnitApi({self.name!r}, {self.base_url!r})"

    # -- endpoints ---------------------------------------------------------------------------------------

    def vitals(self) -> Vitals:
        """What the unit measures now: pilot levels, currents, contactor, evse_state."""
        return self._read(Vitals)

    def version(self) -> Version:
        """Firmware version, part and serial number."""
        return self._read(Version)

    def wifi_status(self) -> WifiStatus:
        """The unit's Wi-Fi link as it sees it."""
        return self._read(WifiStatus)

    def lifetime(self) -> Lifetime:
        """Counters since manufacture."""
        return self._read(Lifetime)

    def body(self, endpoint: str) -> dict[str, Any]:
        """One endpoint's reply as a dict, read as leniently as a typed read (bare nan, cut-off body) but not
        checked against its record: for showing what a unit said when it does not fit the record."""
        url = self.base_url + endpoint
        try:
            return parse_body(self._get(endpoint, url).decode("utf-8", "replace"), self.name)
        except InstrumentGarbage as exc:
            raise InstrumentGarbage(self.name, f"GET {url}: {exc.message}") from None

    def reopen(self) -> None:
        """Each call opens its own connection, so there is nothing to reopen but a closed driver."""
        self._closed = False

    def close(self) -> None:
        """No connection outlives a call; this only refuses further calls, so a stale driver is noticed."""
        self._closed = True

    def __enter__(self) -> UnitApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport ---------------------------------------------------------------------------------------

    def _read(self, cls: type[R]) -> R:
        url = self.base_url + cls.endpoint
        body = self._get(cls.endpoint, url)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InstrumentGarbage(
                self.name, f"GET {url}: body is not UTF-8 ({exc.reason} at byte {exc.start}); {body[:40]!r}"
            ) from None
        try:
            data, repaired = _parse(text)
            return _record(cls, data, repaired)
        except _Unparseable as exc:
            raise InstrumentGarbage(self.name, f"GET {url}: {exc}") from None

    def _get(self, path: str, url: str) -> bytes:
        """One GET, one attempt: the body of a 200 reply, or an InstrumentError naming the unit and URL."""
        if self._closed:
            raise InstrumentError(self.name, f"GET {url}: the driver was closed")
        conn = http.client.HTTPConnection(self._host, self._port, timeout=self.connect_timeout_s)
        phase = "connect"
        try:
            conn.connect()
            if conn.sock is not None:
                conn.sock.settimeout(self.read_timeout_s)
            phase = "read"
            headers = {"Accept": "application/json", "Connection": "close"}
            conn.request("GET", self._prefix + path, headers=headers)
            resp = conn.getresponse()
            try:
                body = resp.read(MAX_BODY_BYTES + 1)
            except http.client.IncompleteRead as exc:
                body = exc.partial  # shorter than announced: parse what came, a cut body may be repairable
            if len(body) > MAX_BODY_BYTES:
                raise InstrumentGarbage(self.name, f"GET {url}: body longer than {MAX_BODY_BYTES} bytes")
            if resp.status != 200:
                excerpt = _excerpt(body.decode("utf-8", "replace")) if body else "empty"
                why = f"HTTP {resp.status} {resp.reason}; body {excerpt}"
                raise InstrumentError(self.name, f"GET {url}: {why}")
            return body
        except InstrumentError:
            raise
        except TimeoutError:
            if phase == "connect":
                why = f"no connection within {self.connect_timeout_s:g} s (unit off or unreachable?)"
            else:
                why = f"no reply within {self.read_timeout_s:g} s"
            raise InstrumentTimeout(self.name, f"GET {url}: {why}") from None
        except ConnectionRefusedError:
            raise InstrumentError(self.name, f"GET {url}: connection refused") from None
        except http.client.RemoteDisconnected:
            raise InstrumentError(self.name, f"GET {url}: connection closed without a reply") from None
        except ConnectionError as exc:
            raise InstrumentError(self.name, f"GET {url}: connection lost ({type(exc).__name__})") from None
        except http.client.HTTPException as exc:
            raise InstrumentGarbage(
                self.name, f"GET {url}: not an HTTP reply ({type(exc).__name__}: {str(exc)[:60]!r})"
            ) from None
        except (OSError, ValueError) as exc:
            raise InstrumentError(self.name, f"GET {url} failed: {exc or type(exc).__name__}") from None
        finally:
            conn.close()


__all__ = [
    "EVSE_STATES",
    "Lifetime",
    "UnitApi",
    "Version",
    "Vitals",
    "WifiStatus",
    "decode_ssid",
    "parse_body",
]
