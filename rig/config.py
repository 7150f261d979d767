"""The rack file: one TOML file describes one rack, real or simulated (DESIGN rule 5).

It is read into pydantic models that refuse unknown keys and impossible values before any instrument is
touched. `load_rack()` turns whatever is wrong into one line naming the file, the key and the reason, so a
night never starts on a rack that cannot be what the file says.
"""

from __future__ import annotations

import functools
import importlib
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

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
T7_PULSE_IN = {"FIO0", "FIO1"}
"""T7 lines that can run the "pulse width in" extended feature: DIO0 and DIO1 only (T-Series datasheet,
Pulse Width In, "T7 Capable DIO")."""
T7_ANALOG = re.compile(r"^AIN([0-9]|1[0-3])$")
T7_AIN_MIN_V, T7_AIN_MAX_V = -10.5, 10.1
"""What a T7 analog input spans before it clips (T-Series datasheet, appendix A-3)."""
PILOT_PEAK_V = 12.6
"""The highest pilot level a front end must bring into the AIN range (J1772: +12 V +/- 0.6 V, -12 V likewise)."""
T7_STREAM_MAX_HZ = 100_000
"""A T7 streams at most about 100 kS/s in total (T-Series datasheet, Stream Mode; at resolution index 0-1)."""
T7_CLOCK_DIVISORS = (1, 2, 4, 8, 16, 32, 64, 256)
"""Divisors DIO_EF_CLOCK0 accepts (ljm_constants: DIO_EF_CLOCK0_DIVISOR; others give EF_DIVISOR_VALUE_INVALID)."""
LOAD_RATINGS: dict[str, tuple[float, float]] = {"63802": (18.0, 1800.0), "63804": (45.0, 4500.0)}
"""(A, W) of the 63800 models the manual's status table names; any other model needs rating_a and rating_w."""
WT_DIRECT_RANGES_A = (1.0, 2.0, 5.0, 10.0, 20.0, 30.0)
WT_SENSOR_RANGES_V = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
WT_RATES_S = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
WT_OVER_RANGE = 1.1
"""A WT reading past about 110 % of its range is over range (inferred)."""


DEFAULT_STREAM_SCAN_HZ = 19_880.0
DEFAULT_STREAM_WINDOW_SCANS = 1500


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
    baud_rate: int | None = Field(default=None, ge=300, le=921_600)
    """Serial speed of an SCPI instrument on RS-232 (a VISA `ASRL...::INSTR` address): the 63800 is reached over
    GPIB or RS-232 only (its manual documents no LAN socket), and its baud rate is set on its front panel."""
    # -- chroma63800 --
    rating_a: float | None = Field(default=None, gt=0, le=1000)
    """The load's current rating (63804: 45 A); taken from `model` when left out."""
    rating_w: float | None = Field(default=None, gt=0, le=100_000)
    """The load's power rating (63804: 4500 W); taken from `model` when left out."""
    # -- yokogawa_wt --
    wiring: str | None = Field(default=None, pattern=r"^(P1W2|P1W3|P3W3|P3W4|V3A3)$")
    """Wiring system (default P1W2: each unit is one single-phase circuit on its own element)."""
    current_range_a: float | None = None
    """Direct current range of every element used (default 30 A, a WT5000 30 A element's top range)."""
    sensor_range_v: float | None = None
    """External current sensor input range; with `sensor_ratio_mv_per_a`, used in place of a direct range."""
    sensor_ratio_mv_per_a: float | None = Field(default=None, gt=0, le=100_000)
    """External current sensor output in mV per A (a 10 mV/A clamp: 10)."""
    update_s: float | None = None
    """Update interval (`:RATE`, default 0.5 s: one new value per sampling period)."""
    nan_budget_s: float | None = Field(default=None, gt=0, le=600)
    """How long the analyzer may answer NAN (no data) for an element before the rig calls it a fault (default
    2 s: four update intervals, twice the one interval a setting change costs)."""
    # -- labjack_t7 --
    clock_divisor: int | None = None
    """DIO_EF_CLOCK0 divisor for pulse width in (default 1: 80 MHz, 12.5 ns per tick)."""
    stream_scan_hz: float | None = Field(default=None, gt=0, le=T7_STREAM_MAX_HZ)
    """Stream scan rate for the divider front ends of this T7 (default 19 880 Hz: 19.88 samples per 1 kHz PWM
    period, so the samples walk through every phase of the PWM instead of landing on the same ones)."""
    stream_window_scans: int | None = Field(default=None, ge=100, le=20_000)
    """Scans streamed per tick for the divider front ends (default 1500: 75 ms, 75 PWM periods)."""

    ONLY_FOR: ClassVar[dict[str, str]] = {
        "baud_rate": "chroma63800 yokogawa_wt", "rating_a": "chroma63800", "rating_w": "chroma63800",
        "wiring": "yokogawa_wt", "current_range_a": "yokogawa_wt", "sensor_range_v": "yokogawa_wt",
        "sensor_ratio_mv_per_a": "yokogawa_wt", "update_s": "yokogawa_wt", "nan_budget_s": "yokogawa_wt",
        "clock_divisor": "labjack_t7", "stream_scan_hz": "labjack_t7", "stream_window_scans": "labjack_t7"}

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
        for key, drivers in self.ONLY_FOR.items():
            if getattr(self, key) is not None and self.driver not in drivers.split():
                raise KeyedError(key, f"`{key}` is a {' or '.join(drivers.split())} setting; a {self.driver} does not "
                                      "take it")
        if self.baud_rate is not None and not self.address.upper().startswith("ASRL"):
            raise KeyedError("baud_rate", f"`baud_rate` is for a serial (ASRL...::INSTR) address, not {self.address!r}")
        if self.driver == "chroma63800" and (self.rating_a is None or self.rating_w is None) \
                and (self.model or "") not in LOAD_RATINGS:
            raise KeyedError("rating_a", f"give the load's rating_a and rating_w (the rig knows the ratings of "
                                         f"{', '.join(sorted(LOAD_RATINGS))} only)")
        if self.current_range_a is not None and self.current_range_a not in WT_DIRECT_RANGES_A:
            raise KeyedError("current_range_a", f"{self.current_range_a:g} A is not a range of the element "
                                                f"({', '.join(f'{r:g}' for r in WT_DIRECT_RANGES_A)} A)")
        if (self.sensor_range_v is None) != (self.sensor_ratio_mv_per_a is None):
            raise KeyedError("sensor_range_v", "an external sensor needs both sensor_range_v and sensor_ratio_mv_per_a")
        if self.sensor_range_v is not None:
            if self.current_range_a is not None:
                raise KeyedError("current_range_a", "give either a direct current_range_a or an external sensor")
            if self.sensor_range_v not in WT_SENSOR_RANGES_V:
                raise KeyedError("sensor_range_v", f"{self.sensor_range_v:g} V is not a sensor range "
                                                   f"({', '.join(f'{r:g}' for r in WT_SENSOR_RANGES_V)} V)")
        if self.update_s is not None and self.update_s not in WT_RATES_S:
            raise KeyedError("update_s", f"{self.update_s:g} s is not an update interval "
                                         f"({', '.join(f'{r:g}' for r in WT_RATES_S)} s)")
        if self.clock_divisor is not None and self.clock_divisor not in T7_CLOCK_DIVISORS:
            raise KeyedError("clock_divisor", f"{self.clock_divisor} is not a DIO_EF_CLOCK0 divisor "
                                              f"({', '.join(map(str, T7_CLOCK_DIVISORS))})")
        return self

    # -- settings with their defaults ----------------------------------------------------------------------

    @property
    def load_rating(self) -> tuple[float, float]:
        """(A, W) this load can sink."""
        known = LOAD_RATINGS.get(self.model or "", (0.0, 0.0))
        return (self.rating_a or known[0], self.rating_w or known[1])

    def sink_limit_a(self, supply_v: float) -> float:
        """The most current this load sinks at `supply_v` without tripping: its current or power rating."""
        amps, watts = self.load_rating
        return min(amps, watts / supply_v)

    @property
    def analyzer_full_scale_a(self) -> float:
        if self.sensor_range_v is not None and self.sensor_ratio_mv_per_a:
            return self.sensor_range_v / (self.sensor_ratio_mv_per_a / 1000.0)
        return self.current_range_a or 30.0


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
    """The vehicle side of a unit's pilot on a LabJack: two resistor relays and a measuring front end.

    `front_end = "comparator"`: a comparator turns the +/-12 V pilot into a 3.3 V logic signal on `duty_line`, a
    line that can run Pulse Width In (FIO0 or FIO1 on a T7), and a positive peak detector behind a divider of
    `ratio` feeds `level`: duty and high level, no low level.
    `front_end = "divider"`: a divider of `ratio` feeds `level`, which is streamed: duty, high and low level from a
    window of samples.
    """

    instrument: str
    b_line: str
    """Closes the 2.74 kΩ + diode: vehicle connected (state B)."""
    c_line: str
    """Adds 1.3 kΩ in parallel: vehicle ready to charge (state C)."""
    front_end: Literal["comparator", "divider"]
    duty_line: str | None = None
    """Comparator front end only: the pulse-width input measuring the pilot's duty cycle."""
    level: str
    """Analog input: the peak detector's output (comparator) or the divided pilot itself (divider, streamed)."""
    ratio: float = Field(gt=0, le=100)
    """Pilot volts per volt at `level` (a 4:1 divider: 4)."""

    @field_validator("b_line", "c_line")
    @classmethod
    def _digital(cls, value: str) -> str:
        return LineRef._t7_line(value)

    @field_validator("duty_line")
    @classmethod
    def _pulse_in(cls, value: str | None) -> str | None:
        if value is not None and value not in T7_PULSE_IN:
            raise ValueError(f"{value!r} cannot measure pulse width on a T7 (only {' and '.join(sorted(T7_PULSE_IN))}"
                             f" can run Pulse Width In)")
        return value

    @field_validator("level")
    @classmethod
    def _analog(cls, value: str) -> str:
        if not T7_ANALOG.match(value):
            raise ValueError(f"{value!r} is not a T7 analog input (AIN0-13)")
        return value

    @field_validator("ratio")
    @classmethod
    def _fits_the_input(cls, value: float) -> float:
        need = max(PILOT_PEAK_V / T7_AIN_MAX_V, PILOT_PEAK_V / -T7_AIN_MIN_V)
        if value < need:
            raise ValueError(f"a {value:g}:1 divider brings a {PILOT_PEAK_V:g} V pilot to {PILOT_PEAK_V / value:.1f} V,"
                             f" beyond the T7's {T7_AIN_MIN_V:g} ... +{T7_AIN_MAX_V:g} V: use a ratio of at least "
                             f"{need:.2f}")
        return value

    @model_validator(mode="after")
    def _front_end(self) -> PilotRef:
        if self.front_end == "comparator" and self.duty_line is None:
            raise KeyedError("duty_line", "a comparator front end needs its duty_line (FIO0 or FIO1)")
        if self.front_end == "divider" and self.duty_line is not None:
            raise KeyedError("duty_line", "a divider front end is streamed; it has no duty_line")
        return self


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
    load: str | list[str]
    """The load this unit's vehicle draws through, or a list of loads in parallel that share its current."""
    analyzer: AnalyzerRef
    pilot: AnyPilotRef
    breaker_relay: LineRef
    wifi_relay: LineRef
    console: str | None = None
    serial: str | None = Field(default=None, min_length=1, max_length=64)
    """The serial number the unit's API must report (`/api/1/version` serial_number): the rig checks that the unit
    answering at `api` is this unit. Left out, the rig records whatever serial answers."""

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

    @field_validator("load")
    @classmethod
    def _loads(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, list) and (not value or len(set(value)) != len(value)):
            raise ValueError("a list of loads needs at least one load, each named once")
        return value

    @property
    def loads(self) -> list[str]:
        """The unit's loads, one or several in parallel."""
        return [self.load] if isinstance(self.load, str) else list(self.load)

    @functools.cached_property
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


class Commissioning(Strict):
    """How a network gets commissioned on this rack (rig/commissioning/).

    `console`: the rig types the `gpm ...` lines of its console contract (rig/sim/firmware_api.py) into each unit's
    service console; only engineering builds have one. `operator`: the rig prints the exact steps for Tesla One or
    the commissioning wizard, waits for the operator's confirmation (on the terminal, or through a file or a local
    HTTP call for a rack that runs unattended), then verifies what it can without writing anything."""

    method: Literal["console", "operator"] = "console"
    app: Literal["tesla-one", "wizard"] = "tesla-one"
    """Which commissioning tool the operator's steps are written for (operator only)."""
    confirm: Literal["terminal", "file", "http"] = "terminal"
    """How the operator confirms that the steps are done (operator only)."""
    confirm_dir: str | None = None
    """Where the request (request.json, request.txt) is written and, with `confirm = "file"`, where the
    confirmation file is expected. Default: `.operator-<rack name>` beside the unsafe marker (reports/)."""
    listen: str = Field(default="127.0.0.1:0", pattern=r"^[A-Za-z0-9.:-]+:\d{1,5}$")
    """host:port of the local HTTP confirmation endpoint (`confirm = "http"`; port 0 = a free port)."""
    confirm_timeout_s: float = Field(default=3600.0, gt=0, le=86_400)
    """How long the rig waits for the operator before the rack is declared unusable (a rig fault)."""
    verify_s: float = Field(default=10.0, ge=0, le=600)
    """After the operator's confirmation, how long the rig watches the pilots with every member's vehicle plugged
    in: they must add up to no more than the limit and use it as a formed network does (the sharing check's
    allowance); how the limit is shared among them is the firmware's policy, not judged here."""


class Sim(Strict):
    """Present only in a simulated rack: what the simulated world runs."""

    model: str = Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
    """Firmware model as `module:Class`; every unit runs it."""
    seed: int = 1
    wifi_latency_s: float = Field(default=0.2, ge=0, le=5)
    operator: bool = True
    """With `commissioning.method = "operator"`: a simulated operator answers the rig's prompts, doing the steps
    on the simulated units as an installer would in the app (rig/sim/operator_standin.py)."""

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
    commissioning: Commissioning = Field(default_factory=Commissioning)
    api_check_s: float = Field(default=10.0, ge=0, le=3600)
    """How often (rack time) the leader's own API is read and compared with the instruments (its vehicle current
    against the analyzer, its vehicle_connected against the pilot probe); 0 turns the cross-check off. A unit's API
    may take seconds to answer, so it is not read every tick."""
    api_tolerance_a: float = Field(default=2.0, ge=0, le=20)
    """How far the leader's own current reading may be from the analyzer's before the disagreement is a rig fault
    (its current transformer and the analyzer's average are not taken at the same instant)."""
    instrument_retries: int = Field(default=1, ge=0, le=3)
    """How often a driver call that failed is retried on a freshly opened connection before the test is
    broken. Commands that are not safe to repeat (pairing, reset, removal) are never retried."""
    supply_v: float = Field(default=240.0, gt=0, le=480)
    """The supply voltage at the units: a load's power rating limits the current it sinks at it."""
    crosscheck_tolerance_a: float = Field(default=1.0, ge=0, le=20)
    """How far the analyzer and a unit's load readback may disagree (default 1 A: the load's readback is good to
    about 0.4 % + 0.4 % of 45 A, the analyzer to about 0.1 %; inferred from the catalogs)."""
    crosscheck_readback: Literal["on_mismatch", "every_tick"] = "on_mismatch"
    """When the loads are read back for the cross-check: only where the analyzer differs from what the loads were
    told to sink (default), or every tick (every load that is on, one query each)."""
    crosscheck_s: float = Field(default=2.0, gt=0, le=60)
    """How long a disagreement may last before it is a rig fault (default 2 s: the analyzer averages over its
    update interval and answers one interval late, the load reads instantly, and a vehicle steps its current
    between ticks; two update intervals plus two sampling periods at the defaults)."""

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
        self._check_streams()
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
            for k, load in enumerate(u.loads):
                need(f"{at}.load" if isinstance(u.load, str) else f"{at}.load.{k}", u, load, "load")
            need(f"{at}.analyzer.instrument", u, u.analyzer.instrument, "analyzer")
            pilot_role = "ev_emulator" if isinstance(u.pilot, CanPilotRef) else "labjack"
            need(f"{at}.pilot.instrument", u, u.pilot.instrument, pilot_role)
            need(f"{at}.breaker_relay.instrument", u, u.breaker_relay.instrument, "labjack")
            need(f"{at}.wifi_relay.instrument", u, u.wifi_relay.instrument, "labjack")
            if u.console is not None:
                need(f"{at}.console", u, u.console, "console")
            for load in u.loads:
                if load in loads:
                    raise KeyedError(f"{at}.load", f"load {load!r} is wired to both {loads[load]!r} and {u.name!r}")
                loads[load] = u.name
            self._check_load_group(at, u)
            self._check_analyzer_range(at, u)
            key = (u.analyzer.instrument, u.analyzer.element)
            if key in elements:
                raise KeyedError(
                    f"{at}.analyzer.element",
                    f"analyzer element {key[1]} of {key[0]!r} measures both {elements[key]!r} and {u.name!r}")
            elements[key] = u.name
        if self.commissioning.method == "console":
            for i, u in enumerate(self.units):
                if u.console is None:
                    raise KeyedError(f"units.{i}.console", f"unit {u.name!r} has no service console, which "
                                     "commissioning.method = \"console\" needs; production units have none: use "
                                     "commissioning.method = \"operator\"")
        if self.sim is not None and self.commissioning.method == "operator" and self.sim.operator \
                and self.commissioning.confirm == "terminal":
            raise KeyedError("commissioning.confirm", "the simulated operator answers through a file or HTTP, not "
                             "the terminal: use confirm = \"file\" or \"http\" (or sim.operator = false)")

    def _check_load_group(self, at: str, u: Unit) -> None:
        """Any plan may plug a vehicle that draws up to the unit's capability: the loads must sink it."""
        limits = {name: self.instruments[name].sink_limit_a(self.supply_v) for name in u.loads}
        total = sum(limits.values())
        if total + 1e-9 < u.capability_a:
            each = ", ".join(f"{n} {a:.1f} A" for n, a in limits.items())
            raise KeyedError(f"{at}.load", f"unit {u.name!r} may draw {u.capability_a:g} A, but its load(s) sink at "
                             f"most {total:.1f} A at {self.supply_v:g} V ({each}; rating in A and W): add loads in "
                             f"parallel (load = [...]) or use a larger model")

    def _check_analyzer_range(self, at: str, u: Unit) -> None:
        inst = self.instruments[u.analyzer.instrument]
        if inst.analyzer_full_scale_a * WT_OVER_RANGE < u.capability_a:
            raise KeyedError(f"{at}.analyzer", f"analyzer {u.analyzer.instrument!r} spans "
                             f"{inst.analyzer_full_scale_a:g} A per element, under {u.name!r}'s {u.capability_a:g} A: "
                             f"it would read over range (INF); use an external current sensor (sensor_range_v, "
                             f"sensor_ratio_mv_per_a)")

    def _check_streams(self) -> None:
        """Each T7 streams its divider front ends at its scan rate: together within what a T7 can stream."""
        streamed: dict[str, list[str]] = {}
        for u in self.units:
            if isinstance(u.pilot, PilotRef) and u.pilot.front_end == "divider":
                streamed.setdefault(u.pilot.instrument, []).append(u.name)
        for name, units in streamed.items():
            inst = self.instruments[name]
            rate = inst.stream_scan_hz or DEFAULT_STREAM_SCAN_HZ
            if rate * len(units) > T7_STREAM_MAX_HZ:
                raise KeyedError(f"instruments.{name}.stream_scan_hz",
                                 f"{len(units)} streamed pilots ({', '.join(units)}) at {rate:g} scans/s need "
                                 f"{rate * len(units):g} samples/s; a T7 streams at most {T7_STREAM_MAX_HZ:g}")

    def _check_lines_unique(self) -> None:
        used: dict[tuple[str, str], str] = {}
        for i, u in enumerate(self.units):
            p = u.pilot
            if isinstance(p, CanPilotRef):
                pilot_lines = [(p.instrument, f"node {p.node}", "pilot.node")]
            else:
                pilot_lines = [(p.instrument, p.b_line, "pilot.b_line"), (p.instrument, p.c_line, "pilot.c_line"),
                               (p.instrument, p.level, "pilot.level")]
                if p.duty_line is not None:
                    pilot_lines.append((p.instrument, p.duty_line, "pilot.duty_line"))
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
