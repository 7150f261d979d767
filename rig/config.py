"""The rack file: one TOML file describes one rack, real or simulated (DESIGN rule 5).

It is read into pydantic models that refuse unknown keys and impossible values before any instrument is
touched. `load_rack()` turns whatever is wrong into one line naming the file, the key and the reason, so a
night never starts on a rack that cannot be what the file says.
"""

from __future__ import annotations

import importlib
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from rig import addresses, gpm

DriverName = Literal["chroma63800", "yokogawa_wt", "labjack_t7", "service_console", "can_ev_emulator"]
ROLE_OF_DRIVER: dict[str, str] = {
    "chroma63800": "load",
    "yokogawa_wt": "analyzer",
    "labjack_t7": "labjack",
    "service_console": "console",
    "can_ev_emulator": "ev_emulator",
}
IDENTIFIES = {"chroma63800", "yokogawa_wt", "labjack_t7"}
"""Drivers whose instrument names its model (`*IDN?`, the T7's PRODUCT_ID): only they take `model`."""

T7_DIGITAL = re.compile(r"^(FIO[0-7]|EIO[0-7]|CIO[0-3]|MIO[0-2])$")
T7_PULSE_IN = {"FIO0", "FIO1", "FIO2", "FIO3", "FIO6", "FIO7"}
"""T7 lines that support the "pulse width in" extended feature (DIO0-3, DIO6-7)."""
T7_ANALOG = re.compile(r"^AIN([0-9]|1[0-3])$")


class RackFileError(ValueError):
    """A rack file that cannot describe a rack; its message is one line naming the file and key."""


class KeyedError(ValueError):
    """A mistake found by a check across several keys, raised with the key it is about.

    pydantic places an error raised by a model validator on the model itself (the whole file for `Rack`), so
    such a check names its key here and `_one_line()` appends it to the location.
    """

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


class Strict(BaseModel):
    """Base of every rack-file table: unknown keys are mistakes, not extensions."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Instrument(Strict):
    """Where an instrument is and which driver speaks to it; nothing about how to drive it."""

    driver: DriverName
    address: str = Field(min_length=1)
    ljm: str = "labjack.ljm"
    """Module providing the LJM API (labjack_t7 only); a simulated rack names the stand-in here."""
    timeout_s: float = Field(default=2.0, gt=0, le=60)
    model: str | None = Field(default=None, min_length=1)
    """The model the instrument must identify as (`*IDN?` model field, e.g. "63804", "WT5000"; "T7"); checked by
    `rig doctor`."""
    can_interface: str = Field(default="socketcan", pattern=r"^[a-z][a-z0-9_]*$")
    """python-can interface (can_ev_emulator only): socketcan on the lab PC, virtual in simulation; the address
    is the channel (can0, vcan0, or a virtual channel's name)."""
    bitrate: int = Field(default=500_000, ge=10_000, le=1_000_000)
    """CAN bitrate (can_ev_emulator only)."""

    @field_validator("address")
    @classmethod
    def _address_grammar(cls, value: str, info: ValidationInfo) -> str:
        return addresses.check_instrument_address(info.data.get("driver"), value)

    @field_validator("ljm")
    @classmethod
    def _module_name(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z_][\w.]*", value):
            raise ValueError(f"{value!r} is not a module name")
        return value

    @model_validator(mode="after")
    def _model_is_checkable(self) -> Instrument:
        if self.model is not None and self.driver not in IDENTIFIES:
            raise KeyedError("model", f"a {self.driver} does not name its model; leave `model` out")
        return self


class LineRef(Strict):
    """One digital line of a LabJack: a relay that trips a breaker or cuts a unit's Wi-Fi antenna."""

    instrument: str
    line: str

    @field_validator("line")
    @classmethod
    def _t7_line(cls, value: str) -> str:
        if not T7_DIGITAL.match(value):
            raise ValueError(f"{value!r} is not a T7 digital line (FIO0-7, EIO0-7, CIO0-3, MIO0-2)")
        return value


class PilotRef(Strict):
    """The vehicle side of a unit's pilot on a LabJack: two resistor relays, a duty input, a voltage."""

    instrument: str
    b_line: str
    """Closes the 2.74 kΩ + diode: vehicle connected (state B)."""
    c_line: str
    """Adds 1.3 kΩ in parallel: vehicle ready to charge (state C)."""
    duty_line: str
    """Pulse-width input measuring the pilot's duty cycle."""
    voltage: str
    """Analog input reading the pilot's positive level."""

    @field_validator("b_line", "c_line")
    @classmethod
    def _digital(cls, value: str) -> str:
        return LineRef._t7_line(value)

    @field_validator("duty_line")
    @classmethod
    def _pulse_in(cls, value: str) -> str:
        if value not in T7_PULSE_IN:
            raise ValueError(f"{value!r} cannot measure pulse width (use one of {sorted(T7_PULSE_IN)})")
        return value

    @field_validator("voltage")
    @classmethod
    def _analog(cls, value: str) -> str:
        if not T7_ANALOG.match(value):
            raise ValueError(f"{value!r} is not a T7 analog input (AIN0-13)")
        return value


class CanPilotRef(Strict):
    """The vehicle side of a unit's pilot on a CAN EV emulator: one node of it presents the states and measures
    the pilot. Written `pilot = { instrument = "ev1", node = 1 }`."""

    instrument: str
    node: int = Field(ge=1, le=32)


def _pilot_kind(value: Any) -> str:
    """Which pilot a unit has: a CAN emulator's node when `node` is given, else LabJack lines."""
    if isinstance(value, dict):
        return _CAN_PILOT if "node" in value else _LABJACK_PILOT
    return _CAN_PILOT if isinstance(value, CanPilotRef) else _LABJACK_PILOT


_LABJACK_PILOT = "labjack pilot"
_CAN_PILOT = "can pilot"
_UNION_TAGS = {_LABJACK_PILOT, _CAN_PILOT}
"""Tags pydantic puts in an error's location; `_one_line()` leaves them out, so a key reads as written."""

AnyPilotRef = Annotated[
    Annotated[PilotRef, Tag(_LABJACK_PILOT)] | Annotated[CanPilotRef, Tag(_CAN_PILOT)],
    Discriminator(_pilot_kind),
]


class AnalyzerRef(Strict):
    """Which element of which power analyzer measures this unit's current."""

    instrument: str
    element: int = Field(ge=1, le=7)


class Unit(Strict):
    """One Wall Connector on the rack and the instrument channels that are its."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z][\w-]{0,31}$")]
    breaker_a: int
    nameplate_a: float = Field(default=gpm.NAMEPLATE_48A, gt=0, le=80)
    max_output_a: float | None = Field(default=None, gt=0)
    """Branch-circuit setting; defaults to the breaker's maximum output."""
    api: str
    api_timeout_s: float = Field(default=10.0, gt=0, le=60)
    """How long the unit's API may take to answer once connected (real units were seen to take seconds)."""
    load: str
    analyzer: AnalyzerRef
    pilot: AnyPilotRef
    breaker_relay: LineRef
    wifi_relay: LineRef
    console: str | None = None

    @field_validator("api")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return addresses.check_http(value)

    @field_validator("breaker_a")
    @classmethod
    def _breaker(cls, value: int) -> int:
        gpm.max_output_for_breaker(value)
        return value

    @model_validator(mode="after")
    def _output_within_breaker(self) -> Unit:
        allowed = min(gpm.max_output_for_breaker(self.breaker_a), self.nameplate_a)
        if self.max_output_a is not None and self.max_output_a > allowed:
            raise KeyedError(
                "max_output_a",
                f"max_output_a {self.max_output_a:g} A is over {allowed:g} A allowed on a {self.breaker_a} A breaker",
            )
        return self

    @property
    def capability_a(self) -> float:
        """What this unit may deliver at most: its setting, else its breaker's maximum output."""
        if self.max_output_a is not None:
            return self.max_output_a
        return min(gpm.max_output_for_breaker(self.breaker_a), self.nameplate_a)


class Network(Strict):
    """The Power Sharing network the rack is commissioned as at the start of every test."""

    leader: str
    followers: list[str] = Field(default_factory=list)
    limit_a: float = Field(gt=0)
    enabled: bool = True

    @field_validator("followers")
    @classmethod
    def _at_most_five(cls, value: list[str]) -> list[str]:
        if len(value) > gpm.MAX_FOLLOWERS:
            raise ValueError(f"{len(value)} followers; a leader takes at most {gpm.MAX_FOLLOWERS}")
        if len(set(value)) != len(value):
            raise ValueError("a unit is listed twice")
        return value

    @property
    def members(self) -> list[str]:
        return [self.leader, *self.followers]


class Firmware(Strict):
    """Which build is under test: its manifest names the version and the budgets it is judged by."""

    manifest: str = "firmware_under_test/manifests/reference.toml"


class Sim(Strict):
    """Present only in a simulated rack: what the simulated world runs."""

    model: str = Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
    """Firmware model as `module:Class`; every unit runs it."""
    seed: int = 1
    wifi_latency_s: float = Field(default=0.2, ge=0, le=5)

    @field_validator("model")
    @classmethod
    def _importable(cls, value: str) -> str:
        import_model(value)
        return value


class Rack(Strict):
    """A whole rack: its units, the network they form, the instruments and how often to sample."""

    name: str
    sample_period_s: float = Field(default=0.5, gt=0, le=10)
    measurement_tolerance_a: float = Field(default=0.5, ge=0, le=10)
    """Accuracy of the current measurement chain; added to every current comparison."""
    firmware: Firmware = Field(default_factory=Firmware)
    network: Network
    instruments: dict[str, Instrument]
    units: list[Unit] = Field(min_length=1, max_length=gpm.MAX_NETWORK_SIZE)
    sim: Sim | None = None
    trip_level_a: float | None = Field(default=None, gt=0, le=10_000)
    """The panel's trip level: measured network current above it makes the rig put the rack in its safe state
    at once and fail the test (the protection interlock, rig/safety.py). Not below the network limit."""
    instrument_retries: int = Field(default=1, ge=0, le=3)
    """How often a driver call that failed is retried on a freshly opened connection before the test is
    broken. Commands that are not safe to repeat (pairing, reset, removal) are never retried."""

    @model_validator(mode="after")
    def _consistent(self) -> Rack:
        names = [u.name for u in self.units]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise KeyedError(f"units.{names.index(dupes[0], names.index(dupes[0]) + 1)}.name",
                            f"unit {dupes[0]!r} is named twice")
        for i, who in enumerate(self.network.members):
            if who not in names:
                key = "network.leader" if i == 0 else f"network.followers.{i - 1}"
                raise KeyedError(key, f"network member {who!r} is not a unit of this rack")
        if self.network.leader in self.network.followers:
            raise KeyedError("network.followers", f"{self.network.leader!r} cannot be leader and follower")
        nameplates = [self.unit(n).nameplate_a for n in self.network.members]
        problem = gpm.limit_error(self.network.limit_a, nameplates)
        if problem:
            raise KeyedError("network.limit_a", problem)
        if self.trip_level_a is not None and self.trip_level_a < self.network.limit_a:
            raise KeyedError("trip_level_a", f"trip level {self.trip_level_a:g} A is under the network limit "
                             f"{self.network.limit_a:g} A: the interlock would trip a network that keeps its limit")
        self._check_references()
        self._check_lines_unique()
        return self

    def _check_references(self) -> None:
        def need(at: str, unit: Unit, ref: str, role: str) -> None:
            inst = self.instruments.get(ref)
            if inst is None:
                raise KeyedError(at, f"unit {unit.name!r} names instrument {ref!r}, which is not in [instruments]")
            if ROLE_OF_DRIVER[inst.driver] != role:
                raise KeyedError(at, f"unit {unit.name!r} uses {ref!r} as {role}, but it is a {inst.driver}")

        loads: dict[str, str] = {}
        elements: dict[tuple[str, int], str] = {}
        for i, u in enumerate(self.units):
            at = f"units.{i}"
            need(f"{at}.load", u, u.load, "load")
            need(f"{at}.analyzer.instrument", u, u.analyzer.instrument, "analyzer")
            pilot_role = "ev_emulator" if isinstance(u.pilot, CanPilotRef) else "labjack"
            need(f"{at}.pilot.instrument", u, u.pilot.instrument, pilot_role)
            need(f"{at}.breaker_relay.instrument", u, u.breaker_relay.instrument, "labjack")
            need(f"{at}.wifi_relay.instrument", u, u.wifi_relay.instrument, "labjack")
            if u.console is not None:
                need(f"{at}.console", u, u.console, "console")
            if u.load in loads:
                raise KeyedError(f"{at}.load", f"load {u.load!r} is wired to both {loads[u.load]!r} and {u.name!r}")
            loads[u.load] = u.name
            key = (u.analyzer.instrument, u.analyzer.element)
            if key in elements:
                raise KeyedError(
                    f"{at}.analyzer.element",
                    f"analyzer element {key[1]} of {key[0]!r} measures both {elements[key]!r} and {u.name!r}")
            elements[key] = u.name
        if self.unit(self.network.leader).console is None:
            at = f"units.{[u.name for u in self.units].index(self.network.leader)}.console"
            raise KeyedError(at, f"leader {self.network.leader!r} needs a console to be commissioned")

    def _check_lines_unique(self) -> None:
        used: dict[tuple[str, str], str] = {}
        for i, u in enumerate(self.units):
            p = u.pilot
            if isinstance(p, CanPilotRef):
                pilot_lines = [(p.instrument, f"node {p.node}", "pilot.node")]
            else:
                pilot_lines = [(p.instrument, p.b_line, "pilot.b_line"), (p.instrument, p.c_line, "pilot.c_line"),
                               (p.instrument, p.duty_line, "pilot.duty_line")]
            lines = [
                *pilot_lines,
                (u.breaker_relay.instrument, u.breaker_relay.line, "breaker_relay.line"),
                (u.wifi_relay.instrument, u.wifi_relay.line, "wifi_relay.line"),
            ]
            for inst, line, what in lines:
                key = (inst, line)
                if key in used:
                    raise KeyedError(f"units.{i}.{what}",
                                    f"line {line} of {inst!r} is used twice: {used[key]} and {u.name} {what}")
                used[key] = f"{u.name} {what}"

    def unit(self, name: str) -> Unit:
        for u in self.units:
            if u.name == name:
                return u
        raise KeyError(f"no unit named {name!r} on rack {self.name!r}")

    @property
    def simulated(self) -> bool:
        return self.sim is not None


def import_model(spec: str) -> type:
    """The firmware model class a `module:Class` spec names; a clear error if it cannot be imported."""
    module_name, _, class_name = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"firmware model module {module_name!r} cannot be imported: {exc}") from None
    model = getattr(module, class_name, None)
    if not isinstance(model, type):
        raise ValueError(f"firmware model {spec!r}: {module_name} has no class {class_name!r}")
    return model


def _one_line(path: Path, exc: ValidationError) -> str:
    """The first validation error as `file: key.path: reason`, with pydantic's chatter removed."""
    err = exc.errors()[0]
    parts = [str(p) for p in err["loc"] if p not in _UNION_TAGS]
    cause = err.get("ctx", {}).get("error")
    if isinstance(cause, KeyedError):
        parts.append(cause.key)
    loc = ".".join(parts) or "(top level)"
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    return f"{path}: {loc}: {msg}"


def load_rack(path: str | Path, overrides: dict | None = None) -> Rack:
    """Read and validate a rack file; any mistake becomes one RackFileError line."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RackFileError(f"{path}: no such rack file") from None
    except OSError as exc:
        raise RackFileError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise RackFileError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise RackFileError(f"{path}: not valid TOML: {exc}") from None
    except RecursionError:
        raise RackFileError(f"{path}: not valid TOML: arrays or tables nested too deeply") from None
    for key, value in (overrides or {}).items():
        section, _, field = key.partition(".")
        data.setdefault(section, {})[field] = value
    try:
        return Rack.model_validate(data)
    except ValidationError as exc:
        raise RackFileError(_one_line(path, exc)) from None
