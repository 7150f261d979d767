"""Rack files (rig/config.py) and firmware manifests (rig/budgets.py): every mistake is one line naming the
file, the key and the reason."""

from __future__ import annotations

import copy
import json
import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rig.budgets import Budgets, load_manifest
from rig.config import RackFileError, load_rack

ROOT = Path(__file__).resolve().parents[1]
SIM6 = ROOT / "racks" / "sim-6.toml"
MANIFEST = ROOT / "firmware_under_test" / "manifests" / "reference.toml"


# -- a tiny TOML writer: enough for rack files and manifests ---------------------------------------------


def _key(k: str) -> str:
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else json.dumps(k)


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # a JSON string is a valid TOML basic string
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"cannot write {v!r} as TOML")


def _array_of_tables(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)


def dump_toml(data: dict[str, Any]) -> str:
    lines: list[str] = []

    def table(prefix: str, d: dict[str, Any]) -> None:
        for k, v in d.items():
            if not isinstance(v, dict) and not _array_of_tables(v):
                lines.append(f"{_key(k)} = {_value(v)}")
        for k, v in d.items():
            if isinstance(v, dict):
                lines.append(f"\n[{prefix}{_key(k)}]")
                table(f"{prefix}{_key(k)}.", v)
            elif _array_of_tables(v):
                for item in v:
                    lines.append(f"\n[[{prefix}{_key(k)}]]")
                    lines.extend(f"{_key(ik)} = {_value(iv)}" for ik, iv in item.items())

    table("", data)
    return "\n".join(lines) + "\n"


def sim6() -> dict[str, Any]:
    return tomllib.loads(SIM6.read_text(encoding="utf-8"))


def write(tmp_path: Path, data: dict[str, Any], name: str = "rack.toml") -> Path:
    path = tmp_path / name
    path.write_text(dump_toml(data), encoding="utf-8")
    return path


def one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text and "\r" not in text, text
    return text


# -- the default rack ------------------------------------------------------------------------------------


def test_sim6_loads() -> None:
    rack = load_rack(SIM6)
    assert rack.name == "sim-6"
    assert rack.simulated
    assert [u.name for u in rack.units] == ["wc1", "wc2", "wc3", "wc4", "wc5", "wc6"]
    assert rack.network.members == ["wc1", "wc2", "wc3", "wc4", "wc5", "wc6"]
    assert rack.network.limit_a == 120
    assert all(u.capability_a == 48.0 for u in rack.units)
    assert rack.instruments["t7-pilots"].ljm == "rig.sim.ljm_standin"
    assert rack.instruments["load1a"].timeout_s == 2.0


def test_the_writer_round_trips_sim6(tmp_path: Path) -> None:
    data = sim6()
    path = write(tmp_path, data)
    assert tomllib.loads(path.read_text(encoding="utf-8")) == data
    assert load_rack(path) == load_rack(SIM6)


def test_seed_004_mixed_breakers_give_each_unit_its_capability(tmp_path: Path) -> None:
    data = sim6()
    data["units"] = data["units"][:4]
    for unit, breaker in zip(data["units"], (60, 60, 50, 20), strict=True):
        unit["breaker_a"] = breaker
    data["network"]["followers"] = ["wc2", "wc3", "wc4"]
    data["network"]["limit_a"] = 100
    rack = load_rack(write(tmp_path, data))
    assert [u.capability_a for u in rack.units] == [48.0, 48.0, 40.0, 16.0]


def test_max_output_under_the_breaker_is_the_capability(tmp_path: Path) -> None:
    data = sim6()
    data["units"][2]["breaker_a"] = 50
    data["units"][2]["max_output_a"] = 32
    assert load_rack(write(tmp_path, data)).unit("wc3").capability_a == 32.0


@pytest.mark.parametrize(("limit", "ok"), [(35, False), (36, True), (287, True), (288, False)])
def test_network_limit_bounds_of_six_48a_units(tmp_path: Path, limit: int, ok: bool) -> None:
    data = sim6()
    data["network"]["limit_a"] = limit
    path = write(tmp_path, data)
    if ok:
        assert load_rack(path).network.limit_a == limit
    else:
        with pytest.raises(RackFileError, match=r"network\.limit_a"):
            load_rack(path)


def test_overrides_are_validated_too() -> None:
    assert load_rack(SIM6, overrides={"network.limit_a": 200}).network.limit_a == 200
    with pytest.raises(RackFileError, match=r"network\.limit_a: network limit 30 A is under the minimum 36 A"):
        load_rack(SIM6, overrides={"network.limit_a": 30})


# -- mistakes --------------------------------------------------------------------------------------------

Mutation = Callable[[dict[str, Any]], None]


def _set(*where: str | int, value: Any) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        target: Any = data
        for step in where[:-1]:
            target = target[step]
        target[where[-1]] = value

    return mutate


def _four_units_with_limit(limit: int) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        data["units"] = data["units"][:4]
        data["network"]["followers"] = ["wc2", "wc3", "wc4"]
        data["network"]["limit_a"] = limit

    return mutate


def _two_streams(rate: float) -> Any:
    def change(data: dict[str, Any]) -> None:
        data["instruments"]["t7-pilots"]["stream_scan_hz"] = rate
        pilot = data["units"][0]["pilot"]
        pilot.pop("duty_line")
        pilot["front_end"] = "divider"
    return change


def _analyzer_direct(range_a: float) -> Any:
    def change(data: dict[str, Any]) -> None:
        inst = data["instruments"]["analyzer"]
        for key in ("sensor_range_v", "sensor_ratio_mv_per_a"):
            inst.pop(key, None)
        inst["current_range_a"] = range_a
    return change


def _max_output(breaker: int, output: float) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        data["units"][3]["breaker_a"] = breaker
        data["units"][3]["max_output_a"] = output

    return mutate


MISTAKES: list[tuple[str, Mutation, str, str]] = [
    ("unknown top-level key", _set("colour", value="red"), "colour", "unknown key"),
    ("unknown key in a unit", _set("units", 0, "colour", value="red"), "units.0.colour", "unknown key"),
    ("unknown key in a table", _set("network", "limt_a", value=100), "network.limt_a", "unknown key"),
    ("limit under 6 A per unit", _set("network", "limit_a", value=35), "network.limit_a",
     "under the minimum 36 A (6 A per unit, 6 units)"),
    ("limit under 6 A per unit of four", _four_units_with_limit(23), "network.limit_a", "under the minimum 24 A"),
    ("limit over nameplates minus 1", _set("network", "limit_a", value=288), "network.limit_a",
     "over the maximum 287 A (sum of nameplates minus 1 A)"),
    ("two units on one relay line", _set("units", 1, "breaker_relay", "line", value="EIO0"),
     "units.1.breaker_relay.line", "line EIO0 of 't7-relays' is used twice"),
    ("wifi relay on a breaker line", _set("units", 4, "wifi_relay", "line", value="EIO2"),
     "units.4.wifi_relay.line", "line EIO2 of 't7-relays' is used twice"),
    ("two pilots on one line", _set("units", 1, "pilot", "b_line", value="EIO0"),
     "units.1.pilot.b_line", "line EIO0 of 't7-pilots' is used twice"),
    ("duty line without pulse width in", _set("units", 0, "pilot", "duty_line", value="FIO4"),
     "units.0.pilot.duty_line", "'FIO4' cannot measure pulse width"),
    ("duty line on an EIO line", _set("units", 0, "pilot", "duty_line", value="EIO6"),
     "units.0.pilot.duty_line", "cannot measure pulse width"),
    ("not a digital line", _set("units", 0, "breaker_relay", "line", value="FIO9"),
     "units.0.breaker_relay.line", "not a T7 digital line"),
    ("more than five followers", _set("network", "followers", value=["wc2", "wc3", "wc4", "wc5", "wc6", "wc7"]),
     "network.followers", "6 followers; a leader takes at most 5"),
    ("follower that is not a unit", _set("network", "followers", value=["wc2", "wc9"]),
     "network.followers.1", "network member 'wc9' is not a unit"),
    ("model that cannot be imported", _set("sim", "model", value="nope.module:Cls"),
     "sim.model", "firmware model module 'nope.module' cannot be imported"),
    ("model class that does not exist", _set("sim", "model", value="rig.gpm:NoSuchFirmware"),
     "sim.model", "has no class 'NoSuchFirmware'"),
    ("unit names a missing load", _set("units", 2, "load", value="load9"),
     "units.2.load", "names instrument 'load9', which is not in [instruments]"),
    ("unit names a missing analyzer", _set("units", 2, "analyzer", "instrument", value="wt9"),
     "units.2.analyzer.instrument", "names instrument 'wt9'"),
    ("unit names a missing LabJack", _set("units", 5, "wifi_relay", "instrument", value="t7-nope"),
     "units.5.wifi_relay.instrument", "names instrument 't7-nope'"),
    ("instrument used in the wrong role", _set("units", 2, "load", value="analyzer"),
     "units.2.load", "uses 'analyzer' as load, but it is a yokogawa_wt"),
    ("one load for two units", _set("units", 2, "load", value=["load1a", "load3b", "load3c"]),
     "units.2.load", "load 'load1a' is wired to both 'wc1' and 'wc3'"),
    ("loads too small for the unit", _set("units", 2, "load", value=["load3a", "load3b"]),
     "units.2.load", "unit 'wc3' may draw 48 A, but its load(s) sink at most 37.5 A at 240 V"),
    ("one 63804 for a 48 A unit", _set("units", 0, "load", value="load1a"),
     "units.0.load", "sink at most 18.8 A at 240 V (load1a 18.8 A; rating in A and W)"),
    ("a load whose rating is unknown", _set("instruments", "load1a", "model", value="63899"),
     "instruments.load1a.rating_a", "give the load's rating_a and rating_w"),
    ("analyzer range under the unit's capability", _analyzer_direct(30.0),
     "units.0.analyzer", "spans 30 A per element, under 'wc1''s 48 A: it would read over range (INF)"),
    ("a divider that lets the pilot clip", _set("units", 4, "pilot", "ratio", value=1.1),
     "units.4.pilot.ratio", "beyond the T7's -10.5 ... +10.1 V: use a ratio of at least 1.25"),
    ("a comparator without its duty line", _set("units", 0, "pilot", "duty_line", value=None),
     "units.0.pilot.duty_line", "a comparator front end needs its duty_line"),
    ("a stream faster than a T7 streams", _two_streams(60_000),
     "instruments.t7-pilots.stream_scan_hz", "need 120000 samples/s; a T7 streams at most 100000"),
    ("a setting of another driver", _set("instruments", "analyzer", "rating_a", value=45),
     "instruments.analyzer.rating_a", "`rating_a` is a chroma63800 setting"),
    ("one analyzer element for two units", _set("units", 3, "analyzer", "element", value=1),
     "units.3.analyzer.element", "analyzer element 1 of 'analyzer' measures both 'wc1' and 'wc4'"),
    ("unsupported breaker rating", _set("units", 3, "breaker_a", value=45),
     "units.3.breaker_a", "breaker 45 A is not a supported rating"),
    ("max_output over the breaker", _max_output(50, 48.0),
     "units.3.max_output_a", "max_output_a 48 A is over 40 A allowed on a 50 A breaker"),
    ("max_output over a 20 A breaker", _max_output(20, 16.5),
     "units.3.max_output_a", "over 16 A allowed on a 20 A breaker"),
    ("unit named twice", _set("units", 4, "name", value="wc1"), "units.4.name", "unit 'wc1' is named twice"),
    ("unit without a console in console commissioning", _set("units", 3, "console", value=None), "units.3.console",
     "unit 'wc4' has no service console, which commissioning.method = \"console\" needs"),
    ("simulated operator on the terminal", _set("commissioning", value={"method": "operator"}),
     "commissioning.confirm", "the simulated operator answers through a file or HTTP"),
    ("unknown commissioning method", _set("commissioning", value={"method": "app"}), "commissioning.method",
     "Input should be"),
    ("unknown driver", _set("instruments", "load1a", "driver", value="chroma9"), "instruments.load1a.driver",
     "Input should be"),
    ("bad api URL", _set("units", 0, "api", value="https://10.0.0.5"), "units.0.api", "is not an http:// URL"),
]


def _drop_none(data: Any) -> Any:
    """TOML has no null: a key set to None is left out."""
    if isinstance(data, dict):
        return {k: _drop_none(v) for k, v in data.items() if v is not None}
    if isinstance(data, list):
        return [_drop_none(x) for x in data]
    return data


@pytest.mark.parametrize(("mutate", "key", "reason"), [m[1:] for m in MISTAKES], ids=[m[0] for m in MISTAKES])
def test_each_mistake_is_one_line_naming_file_key_and_reason(
    tmp_path: Path, mutate: Mutation, key: str, reason: str
) -> None:
    data = copy.deepcopy(sim6())
    mutate(data)
    path = write(tmp_path, _drop_none(data))
    with pytest.raises(RackFileError) as info:
        load_rack(path)
    text = one_line(info.value)
    assert text.startswith(f"{path}: {key}: "), text
    assert reason in text, text


def test_malformed_toml(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    text = SIM6.read_text(encoding="utf-8")
    assert "limit_a = 120" in text
    path.write_text(text.replace("limit_a = 120", "limit_a = = 120"), encoding="utf-8")
    with pytest.raises(RackFileError) as info:
        load_rack(path)
    msg = one_line(info.value)
    assert msg.startswith(f"{path}: not valid TOML: ")
    line = text[: text.index("limit_a = 120")].count("\n") + 1
    assert f"line {line}," in msg


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"
    with pytest.raises(RackFileError) as info:
        load_rack(path)
    assert one_line(info.value) == f"{path}: no such rack file"


def test_a_directory_is_not_a_rack_file(tmp_path: Path) -> None:
    with pytest.raises(RackFileError) as info:
        load_rack(tmp_path)
    assert one_line(info.value).startswith(f"{tmp_path}: cannot be read")


def test_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(SIM6.read_bytes().replace(b'name = "sim-6"', b'name = "sim-\xe96"'))
    with pytest.raises(RackFileError) as info:
        load_rack(path)
    assert one_line(info.value) == f"{path}: not UTF-8 text"


# -- firmware manifests ----------------------------------------------------------------------------------


def manifest() -> dict[str, Any]:
    return tomllib.loads(MANIFEST.read_text(encoding="utf-8"))


def test_reference_manifest_loads() -> None:
    m = load_manifest(MANIFEST)
    assert m.build == "reference"
    assert m.version == "24.44.0"
    assert m.budgets.fallback_s == 10.0
    assert m.budgets.overshoot_s < m.budgets.vehicle_response_s


def test_budgets_left_out_take_their_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, {"build": "b", "version": "21.36.6", "budgets": {"fallback_s": 4.0}}, "m.toml")
    m = load_manifest(path)
    assert m.budgets.fallback_s == 4.0
    assert m.budgets.reallocation_s == Budgets().reallocation_s == 30.0


@pytest.mark.parametrize(
    ("budget", "value", "reason"),
    [
        ("fallback_s", -1.0, "greater than 0"),
        ("fallback_s", 0.0, "greater than 0"),
        ("overshoot_s", -0.5, "greater than or equal to 0"),
        ("removal_s", "soon", "valid number"),
        ("fallback_seconds", 5.0, "Extra inputs are not permitted"),
    ],
)
def test_bad_budget_is_one_line_naming_file_and_key(tmp_path: Path, budget: str, value: Any, reason: str) -> None:
    data = manifest()
    data["budgets"][budget] = value
    path = write(tmp_path, data, "bad.toml")
    with pytest.raises(ValueError) as info:
        load_manifest(path)
    text = one_line(info.value)
    assert text.startswith(f"{path}: budgets.{budget}: "), text
    assert reason in text, text


def test_manifest_version_must_be_a_version(tmp_path: Path) -> None:
    data = manifest()
    data["version"] = "latest"
    path = write(tmp_path, data, "bad.toml")
    with pytest.raises(ValueError, match=r"bad\.toml: version: "):
        load_manifest(path)


def test_manifest_missing_and_malformed(tmp_path: Path) -> None:
    with pytest.raises(ValueError) as info:
        load_manifest(tmp_path / "none.toml")
    assert one_line(info.value) == f"{tmp_path / 'none.toml'}: no such firmware manifest"
    path = tmp_path / "broken.toml"
    path.write_text('build = "x"\nversion = \n', encoding="utf-8")
    with pytest.raises(ValueError) as info:
        load_manifest(path)
    assert one_line(info.value).startswith(f"{path}: not valid TOML: ")
