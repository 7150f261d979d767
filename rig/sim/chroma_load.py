"""A simulated Chroma 63800 programmable AC/DC load, written from the 63800 operation and programming manual.

What it does as the real one does (INSTRUMENTS.md, manual ch. 8-9):
- It knows only the headers of its command set. An unknown header gets no reply and sets the Command Error bit
  of the standard event status register, read (and cleared) with `*ESR?`; a value out of range sets the
  Execution Error bit. There is no `SYST:ERR?`.
- It sinks in the mode it is in. From the front panel it comes up in constant resistance (`MODE?` = RES), so a
  rig that writes `CURR` without `MODE CURR` draws V/R, not what it asked for.
- It has a rating (63804: 45 A and 4500 W; 63802: 18 A and 1800 W, manual table 9-1). A setpoint above the
  current rating is refused (-222). Sinking more power than its rating trips its protection: the bits latch
  (`PROT?`), the load switches itself off and sinks nothing until `PROT:CLE`.
- `MEAS:CURR?` is the current it sinks at this instant.

Several loads may be wired in parallel to one unit; each is its own instrument and sinks its own share.
"""

from __future__ import annotations

from typing import Any

from rig.sim.scpi import DATA_OUT_OF_RANGE, ILLEGAL_PARAMETER, StrictScpiDevice, parse_float

RATINGS = {"63802": (18.0, 1800.0), "63804": (45.0, 4500.0)}
"""(A, W) of the 63800 models the manual's status table names (table 9-1: "higher than 18A or 45A", "1800W or
4500W")."""

PROT_BITS = {"OVP": 8, "OTP": 16, "OCP": 32, "OPP": 64}
"""`PROT?` bit weights, after the manual's questionable-status table (OV 8, OC 32, OP 64); OTP at 16 is
inferred from the 63200 family's table."""

ESR_QUERY_ERROR, ESR_DEVICE_ERROR, ESR_EXECUTION_ERROR, ESR_COMMAND_ERROR = 4, 8, 16, 32
"""IEEE 488.2 standard event status bits."""


class ChromaLoad(StrictScpiDevice):
    """One load, wired to one unit's supply (perhaps beside others in parallel)."""

    def __init__(self, world: Any, unit: Any, serial: str, model: str = "63804") -> None:
        super().__init__()
        self.world = world
        self.unit = unit
        self.model = model
        self.rating_a, self.rating_w = RATINGS.get(model, RATINGS["63804"])
        self.idn = f"Chroma ATE,{model},{serial},1.10"
        self.esr = 0
        self.mode = "RES"  # as the front panel left it
        self.resistance_ohm = 100.0
        self.power_w = 0.0
        self.setpoint_a = 0.0
        self.on = False
        self.prot = 0
        unit.sinks.append(self)
        self._table(
            ("*IDN?", lambda a, n: self.idn),
            ("*RST", self._rst),
            ("*CLS", self._cls),
            ("*ESR?", self._esr),
            ("MODE", self._mode),
            ("LOAD:MODE", self._mode),
            ("MODE?", lambda a, n: self.mode),
            ("LOAD:MODE?", lambda a, n: self.mode),
            ("CURRent", self._curr),
            ("CURRent?", lambda a, n: f"{self.setpoint_a:.3f}"),
            ("RESistance", self._res),
            ("POWer", self._pow),
            ("LOAD", self._load),
            ("LOAD:STATe", self._load),
            ("LOAD?", lambda a, n: "1" if self.on else "0"),
            ("LOAD:STATe?", lambda a, n: "1" if self.on else "0"),
            ("MEASure:CURRent?", lambda a, n: f"{self.sink():.3f}"),
            ("MEASure:VOLTage?", lambda a, n: f"{self._volts():.2f}"),
            ("MEASure:POWer?", lambda a, n: f"{self.sink() * self._volts():.1f}"),
            ("PROTect?", lambda a, n: str(self.prot)),
            ("PROTect:CLEar", self._prot_clear),
        )

    # -- SCPI --------------------------------------------------------------------------------------------

    def handle(self, line: str) -> str | None:
        with self.world.lock:
            return self.dispatch(line)

    def error(self, code: int, text: str) -> None:
        self.esr |= ESR_COMMAND_ERROR if code in (-113, -104) else ESR_EXECUTION_ERROR

    def _rst(self, arg: str, nums: list[int]) -> None:
        self.on, self.setpoint_a, self.mode = False, 0.0, "CURR"
        self._publish()

    def _cls(self, arg: str, nums: list[int]) -> None:
        self.esr = 0

    def _esr(self, arg: str, nums: list[int]) -> str:
        value, self.esr = self.esr, 0
        return str(value)

    def _mode(self, arg: str, nums: list[int]) -> None:
        mode = {"CURR": "CURR", "CURRENT": "CURR", "CC": "CURR", "RES": "RES", "RESISTANCE": "RES", "CR": "RES",
                "POW": "POW", "POWER": "POW", "CP": "POW"}.get(arg.upper())
        if mode is None:
            self.error(*ILLEGAL_PARAMETER)
            return
        self.mode = mode

    def _curr(self, arg: str, nums: list[int]) -> None:
        amps = parse_float(arg)
        if amps is None:
            self.error(-104, "Data type error")
            return
        if not 0.0 <= amps <= self.rating_a:
            self.error(*DATA_OUT_OF_RANGE)
            return
        self.setpoint_a = amps
        self._publish()

    def _res(self, arg: str, nums: list[int]) -> None:
        ohm = parse_float(arg)
        if ohm is None or ohm <= 0:
            self.error(*DATA_OUT_OF_RANGE)
            return
        self.resistance_ohm = ohm

    def _pow(self, arg: str, nums: list[int]) -> None:
        watts = parse_float(arg)
        if watts is None or not 0 <= watts <= self.rating_w:
            self.error(*DATA_OUT_OF_RANGE)
            return
        self.power_w = watts

    def _load(self, arg: str, nums: list[int]) -> None:
        value = arg.upper()
        if value in ("ON", "1"):
            self.on = not self.prot  # a latched protection keeps the load off until PROT:CLE
            if self.prot:
                self.esr |= ESR_DEVICE_ERROR
        elif value in ("OFF", "0"):
            self.on = False
        else:
            self.error(*ILLEGAL_PARAMETER)
        self._publish()

    def _prot_clear(self, arg: str, nums: list[int]) -> None:
        self.prot = 0

    # -- physics -----------------------------------------------------------------------------------------

    def _volts(self) -> float:
        u = self.unit
        return u.line_v if u.powered and u.contactor and u.pilot_state() == "C" else 0.0

    def demand(self) -> float:
        """What the load would sink now in its mode, before its protection has a say."""
        volts = self._volts()
        if not self.on or volts <= 0:
            return 0.0
        if self.mode == "CURR":
            return self.setpoint_a
        if self.mode == "RES":
            return volts / self.resistance_ohm
        return self.power_w / volts

    def sink(self) -> float:
        """The current sunk at this instant; past the rating the protection trips and latches."""
        amps = self.demand()
        if amps <= 0:
            return 0.0
        volts = self._volts()
        bits = 0
        if amps > self.rating_a + 1e-9:
            bits |= PROT_BITS["OCP"]
        if amps * volts > self.rating_w + 1e-6:
            bits |= PROT_BITS["OPP"]
        if bits:
            self.trip(bits)
            return 0.0
        return amps

    def trip(self, bits: int) -> None:
        """The protection acts: bits latch, the load switches itself off."""
        self.prot |= bits
        self.on = False
        self._publish()

    def _publish(self) -> None:
        """Keep the unit's summary of its loads (what the rig's tests read) in step with every load."""
        u = self.unit
        u.load_on = any(s.on for s in u.sinks)
        u.load_setpoint_a = sum(s.setpoint_a for s in u.sinks)
