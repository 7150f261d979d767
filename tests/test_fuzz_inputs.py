"""Bad input everywhere: whatever a rack file, an instrument or a unit says, the rig answers with one clear line
naming the file and key or the instrument, never with a traceback.

hypothesis feeds random and mutated input to every parser that reads something from outside the rig:

- the rack-file loader (random bytes, random TOML, and random mutations of racks/sim-6.toml): only RackFileError,
  one line, `file: key: reason`; and `rig check-rack` prints that one line and exits 2;
- the SCPI reply parsers (the analyzer's value list, `query_float`, `SYST:ERR?` through a fake VISA resource):
  only InstrumentError and its kinds, one line, naming the instrument;
- the unit API's body parser and record builders, on random bodies and on mutated real captures: only
  InstrumentGarbage (or InstrumentError), naming the unit;
- the CAN EV emulator's status frame decoder, on random frames: a status, nothing (another request's reply), or
  an InstrumentError naming the emulator.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from safety_harness import ROOT, dump_toml, sim_rack_data

from rig import cli
from rig.config import Rack, RackFileError, load_rack
from rig.instruments.errors import InstrumentError
from rig.instruments.scpi import ScpiInstrument
from rig.instruments.unit_api import Lifetime, UnitApi, Version, Vitals, WifiStatus, parse_body
from rig.instruments.yokogawa_wt import parse_values, read_wt_error

FUZZ = settings(max_examples=150, deadline=None, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
CAPTURES = sorted((ROOT / "tests" / "captures").glob("*.json"))


def one_line(message: str) -> None:
    assert message and "\n" not in message and "Traceback" not in message, message


def instrument_error(exc: BaseException, instrument: str) -> None:
    assert isinstance(exc, InstrumentError), f"{type(exc).__name__}: {exc}"
    one_line(str(exc))
    assert str(exc).startswith(f"{instrument}: ") and exc.instrument == instrument, str(exc)


# -- the rack file --------------------------------------------------------------------------------------------------

SAFE_TEXT = st.text(st.characters(blacklist_characters=":\x00", blacklist_categories=("Cs",)), max_size=30)
"""No ':' so that no fuzzed string can name a firmware model `module:Class` to import."""
SCALARS = st.one_of(st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=True), st.booleans(), SAFE_TEXT,
                    st.just(0), st.just(-1), st.just(1e9))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(SAFE_TEXT, inner,
                                                                                            max_size=3),
                      max_leaves=8)


def key_paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = []
    if isinstance(data, dict):
        for k, v in data.items():
            out.append((*prefix, k))
            out += key_paths(v, (*prefix, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out.append((*prefix, i))
            out += key_paths(v, (*prefix, i))
    return out


BASE = sim_rack_data()
PATHS = key_paths(BASE)


@st.composite
def mutated_racks(draw: st.DrawFn) -> dict[str, Any]:
    data = json.loads(json.dumps(BASE))
    for _ in range(draw(st.integers(1, 3))):
        path = PATHS[draw(st.integers(0, len(PATHS) - 1)) * 7919 % len(PATHS)]  # spread over the whole file
        parent: Any = data
        try:
            for step in path[:-1]:
                parent = parent[step]
            last = path[-1]
            parent[last]  # noqa: B018  (still there after an earlier mutation?)
        except (KeyError, IndexError, TypeError):
            continue
        action = draw(st.sampled_from(["replace", "delete", "unknown_key", "duplicate"]))
        if action == "replace":
            parent[last] = draw(VALUES)
        elif action == "delete":
            del parent[last]
        elif action == "unknown_key" and isinstance(parent, dict):
            parent[draw(st.from_regex(r"[a-z_]{1,12}", fullmatch=True))] = draw(SCALARS)
        elif action == "duplicate" and isinstance(parent, list):
            parent.append(json.loads(json.dumps(parent[last])))
    return data


def check_rack_file(path: Path) -> str | None:
    """The one-line error a rack file gives (checked: `file: key: reason`), or None when it is a valid rack."""
    try:
        load_rack(path)
    except RackFileError as exc:
        message = str(exc)
        one_line(message)
        head, _, rest = message.partition(": ")
        assert head == str(path) and rest, message  # names the file, then the key and the reason
        return rest
    return None


@FUZZ
@given(mutated_racks())
def test_mutated_rack_files_give_one_line_naming_the_key(tmp_path: Path, data: dict[str, Any]) -> None:
    path = tmp_path / "rack.toml"
    text = dump_toml(data)
    assert tomllib.loads(text) is not None  # the mutation is valid TOML: the validation is what is tested
    path.write_text(text, encoding="utf-8")
    error = check_rack_file(path)
    if error is not None:
        key, _, reason = error.partition(": ")
        top = key.split(".")[0]
        assert reason and (top in data or top in Rack.model_fields or key == "(top level)"), error


@FUZZ
@given(st.binary(max_size=400) | st.text(max_size=400).map(lambda t: t.encode("utf-8", "surrogatepass")))
@example(b"a = " + b"[" * 5000 + b"]" * 5000)
@example(b"\xff\xfe not utf-8")
@example(b"name = 'x'\n[[units]]\n" * 3)
def test_random_bytes_give_one_line(tmp_path: Path, raw: bytes) -> None:
    path = tmp_path / "rack.toml"
    path.write_bytes(raw)
    assert check_rack_file(path) is not None
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = cli.main(["check-rack", str(path)])
    assert code == 2
    one_line(err.getvalue().strip())
    assert err.getvalue().startswith("rig check-rack: ")


def test_rig_check_rack_on_garbage_prints_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "garbage.toml"
    bad.write_bytes(b"\x00\x01[[[units]\nname = = 3\n\xff")
    deep = tmp_path / "deep.toml"
    deep.write_text("limit = " + "[" * 3000 + "]" * 3000)
    rig = Path(sys.executable).with_name("rig")
    for path in (bad, deep, tmp_path / "missing.toml"):
        proc = subprocess.run([str(rig), "check-rack", str(path)], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2 and proc.stdout == "", proc
        one_line(proc.stderr.strip())
        assert proc.stderr.startswith(f"rig check-rack: {path}: "), proc.stderr


# -- SCPI replies ---------------------------------------------------------------------------------------------------

REPLIES = st.one_of(
    st.text(max_size=80),
    st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr), st.text(max_size=8),
                       st.just("9.91E+37"), st.just("NAN"), st.just("")), max_size=8).map(",".join),
    st.builds(lambda c, m: f"{c},{m}", st.integers(-500, 500), st.text(max_size=20)),
)


@FUZZ
@given(REPLIES, st.integers(1, 7))
@example("1.0,2.0", 3)
@example("1.0,NAN,3.0", 3)
@example("1.0,inf", 2)
@example("", 1)
def test_analyzer_value_lists(reply: str, expected: int) -> None:
    try:
        values = parse_values(reply, expected, "analyzer")
    except Exception as exc:
        instrument_error(exc, "analyzer")
        return
    assert len(values) == expected and all(v is None or math.isfinite(v) for v in values)  # None: NAN, no data


class FakeResource:
    """A VISA resource that answers `reply`, or raises it when it is an exception."""

    def __init__(self, reply: Any) -> None:
        self.reply = reply

    def query(self, command: str) -> str:
        if isinstance(self.reply, BaseException):
            raise self.reply
        return self.reply

    def write(self, command: str) -> None:
        if isinstance(self.reply, BaseException):
            raise self.reply

    def close(self) -> None:
        pass


def fake_scpi(reply: Any) -> ScpiInstrument:
    inst = ScpiInstrument.__new__(ScpiInstrument)
    inst.name, inst.address, inst.timeout_s, inst._sock = "load1", "TCPIP::10.0.0.9::2101::SOCKET", 1.0, None
    inst.error_reader = read_wt_error
    inst._res = FakeResource(reply)
    return inst


TRANSPORT_ERRORS = st.sampled_from([
    TimeoutError("VI_ERROR_TMO (-1073807339): Timeout expired before operation completed."),
    OSError(32, "Broken pipe"), ConnectionResetError(104, "Connection reset by peer"), ValueError("bad"),
    UnicodeDecodeError("ascii", b"\xff", 0, 1, "ordinal not in range(128)"), RuntimeError(""), EOFError(),
])


@FUZZ
@given(REPLIES | TRANSPORT_ERRORS)
@example("1.5E+01")
@example("0,\"No error\"")
@example("-113,\"Undefined header\"")
def test_scpi_queries_through_a_fake_resource(reply: Any) -> None:
    inst = fake_scpi(reply)
    try:
        value = inst.query_float("MEAS:CURR?")
        assert isinstance(value, float)
    except Exception as exc:
        instrument_error(exc, "load1")
    try:
        inst.check_errors("CURR 10")
    except Exception as exc:
        instrument_error(exc, "load1")
    try:
        inst.write("CURR 10")
    except Exception as exc:
        instrument_error(exc, "load1")


# -- the unit API ---------------------------------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10)


@st.composite
def api_bodies(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["capture", "random_json", "text", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    if kind == "text":
        return draw(st.text(max_size=300)).encode("utf-8", "surrogatepass")
    if kind == "random_json":
        return json.dumps(draw(JSON_VALUES)).encode()
    data = json.loads(draw(st.sampled_from(CAPTURES)).read_text())
    body = data.get("vitals", data) if isinstance(data, dict) else data
    if isinstance(body, dict) and body:
        key = draw(st.sampled_from(sorted(body)))
        action = draw(st.sampled_from(["replace", "delete", "keep"]))
        if action == "replace":
            body[key] = draw(JSON_VALUES)
        elif action == "delete":
            del body[key]
    text = json.dumps(body)
    cut = draw(st.integers(0, len(text)))
    text = draw(st.sampled_from([text, text[:cut], text.replace("1", "nan", 1)]))
    return text.encode()


@FUZZ
@given(api_bodies())
@example(b"{")
@example(b'{"contactor_closed":true,')
@example(b"[1,2,3]")
@example(b"<html>500</html>")
def test_unit_api_bodies(body: bytes) -> None:
    try:
        parsed = parse_body(body.decode("utf-8", "replace"), "wc1-api")
        assert isinstance(parsed, dict)
    except Exception as exc:
        instrument_error(exc, "wc1-api")
    api = UnitApi("wc1-api", "http://192.0.2.10")  # never connects: _get is replaced below
    api._get = lambda path, url: body  # type: ignore[method-assign]
    for read in (api.vitals, api.version, api.wifi_status, api.lifetime):
        try:
            record = read()
            assert isinstance(record, Vitals | Version | WifiStatus | Lifetime)
        except Exception as exc:
            instrument_error(exc, "wc1-api")


# -- the CAN EV emulator's status frames ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ev() -> Any:
    can_ev = pytest.importorskip("rig.instruments.can_ev")
    pytest.importorskip("can")
    emulator = can_ev.CanEvEmulator("ev1", "rig-fuzz", interface="virtual")
    yield emulator
    emulator.close()


@FUZZ
@given(st.binary(max_size=8), st.booleans())
def test_can_status_frames(ev: Any, data: bytes, matching_counter: bool) -> None:
    import can

    counter = 0
    if matching_counter:
        try:
            counter = int(ev._status.decode(data, decode_choices=False)["Counter"])
        except Exception:
            assume(True)
    frame = can.Message(arbitration_id=ev._status_id, data=data, is_extended_id=False)
    try:
        status = ev._decode(frame, counter)
    except Exception as exc:
        instrument_error(exc, "ev1")
        return
    if status is not None:
        assert status.state.value in ("A", "B", "C") and math.isfinite(status.high_v)
        assert status.duty_pct is None or 0.0 <= status.duty_pct <= 100.0
