"""A simulated Yokogawa WT5000 power analyzer, written from the WT communication manuals (INSTRUMENTS.md).

What it does as the real one does:
- It knows only the headers of its manual. An unknown header (`SYST:ERR?` included) gets no reply and queues
  -113, which only `:STATus:ERRor?` reports.
- It comes up as its front panel left it, which is wrong for the rig: three-phase four-wire wiring, current
  auto-range off on the 5 A range, no external sensor, a 2 s update interval, headers in query replies, and
  its own default numeric items. It keeps whatever it is set to.
- A numeric item answers `NAN` until a measurement is ready: after power-up and after any change of wiring,
  range, sensor ratio or update interval, for one update interval. It answers `INF` when the input is over
  range (past 110 % of the range, inferred).
- A reading is updated once per update interval and held in between (the real one averages over the interval;
  this one takes the current at the interval's end, so it lags the load's instantaneous readback the same way).

Fault injection for the rig's own tests: `nan_until` (world time) makes every item answer NAN until then.
"""

from __future__ import annotations

from typing import Any

from rig.sim.scpi import DATA_OUT_OF_RANGE, ILLEGAL_PARAMETER, ErrorQueue, StrictScpiDevice, parse_float

NOISE_A = 0.05
"""Peak measurement noise, well inside the rack file's measurement tolerance."""
ELEMENTS = 7
DIRECT_RANGES_A = (1.0, 2.0, 5.0, 10.0, 20.0, 30.0)
"""Direct current ranges of a WT5000 30 A element (inferred from the catalog: 30 A is the top)."""
SENSOR_RANGES_V = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
"""External current sensor input ranges (inferred from the catalog)."""
RATES_S = (0.01, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0)
WIRINGS = ("P1W2", "P1W3", "P3W3", "P3W4", "V3A3")
OVER_RANGE = 1.1
"""A reading past 110 % of its range is over range (INF); inferred, the manuals give per-range limits."""


class YokogawaWT(StrictScpiDevice):
    """One analyzer; element n measures the unit the rack file wires to it."""

    def __init__(self, world: Any, instrument: str) -> None:
        super().__init__()
        self.world = world
        self.instrument = instrument
        self.idn = "YOKOGAWA,WT5000,91N000001,F1.02"
        self.errors = ErrorQueue()
        # the front panel's state, as a previous user left it
        self.header = True
        self.wiring = "P3W4"
        self.auto = dict.fromkeys(range(1, ELEMENTS + 1), False)
        self.range_a = dict.fromkeys(range(1, ELEMENTS + 1), 5.0)
        self.external = dict.fromkeys(range(1, ELEMENTS + 1), False)
        self.sensor_range_v = dict.fromkeys(range(1, ELEMENTS + 1), 1.0)
        self.sensor_ratio = dict.fromkeys(range(1, ELEMENTS + 1), 10.0)
        """mV per A of the external sensor."""
        self.rate_s = 2.0
        self.format = "ASCII"
        self.items: dict[int, tuple[str, int]] = {1: ("U", 1), 2: ("I", 1), 3: ("P", 1), 4: ("S", 1)}
        self.count = 4
        self.nan_until = -1.0
        self._changed()
        self._held: dict[tuple[str, int], float] = {}
        self._held_at = -1.0
        def rng(which: str) -> Any:
            return lambda a, n: self._set_range(a, n[0] if n else None) if which == "set" else self._get_range(n[0])
        self._table(
            ("*IDN?", lambda a, n: self.idn),
            ("*RST", lambda a, n: None),
            ("*CLS", lambda a, n: self._cls()),
            (":STATus:ERRor?", lambda a, n: self.errors.pop()),
            (":COMMunicate:HEADer", self._set_header),
            (":COMMunicate:HEADer?", lambda a, n: self._reply(":COMMUNICATE:HEADER", "1" if self.header else "0")),
            (":INPut:WIRing", self._set_wiring),
            (":INPut:WIRing?", lambda a, n: self._reply(":INPUT:WIRING", self.wiring)),
            (":INPut:CURRent:AUTO", lambda a, n: self._set_auto(a, None)),
            (":INPut:CURRent:AUTO:ALL", lambda a, n: self._set_auto(a, None)),
            (":INPut:CURRent:AUTO:ELEMent#", lambda a, n: self._set_auto(a, n[0])),
            (":INPut:CURRent:AUTO:ELEMent#?", lambda a, n: self._reply(f":INPUT:CURRENT:AUTO:ELEMENT{n[0]}",
                                                                       "1" if self.auto.get(n[0]) else "0")),
            (":INPut:CURRent:RANGe", rng("set")),
            (":INPut:CURRent:RANGe:ALL", rng("set")),
            (":INPut:CURRent:RANGe:ELEMent#", rng("set")),
            (":INPut:CURRent:RANGe:ELEMent#?", rng("get")),
            (":INPut:CURRent:SRATio", lambda a, n: self._set_ratio(a, None)),
            (":INPut:CURRent:SRATio:ALL", lambda a, n: self._set_ratio(a, None)),
            (":INPut:CURRent:SRATio:ELEMent#", lambda a, n: self._set_ratio(a, n[0])),
            (":INPut:CURRent:SRATio:ELEMent#?", lambda a, n: self._reply(f":INPUT:CURRENT:SRATIO:ELEMENT{n[0]}",
                                                                         f"{self.sensor_ratio.get(n[0], 0):.4E}")),
            (":RATE", self._set_rate),
            (":RATE?", lambda a, n: self._reply(":RATE", f"{self.rate_s:.2E}")),
            (":NUMeric:FORMat", self._set_format),
            (":NUMeric:FORMat?", lambda a, n: self._reply(":NUMERIC:FORMAT", self.format)),
            (":NUMeric:NORMal:NUMber", self._set_count),
            (":NUMeric:NORMal:NUMber?", lambda a, n: self._reply(":NUMERIC:NORMAL:NUMBER", str(self.count))),
            (":NUMeric:NORMal:ITEM#", self._set_item),
            (":NUMeric:NORMal:ITEM#?", lambda a, n: self._reply(f":NUMERIC:NORMAL:ITEM{n[0]}",
                                                                ",".join(map(str, self.items.get(n[0], ("NONE", 1)))))),
            (":NUMeric:NORMal:VALue?", lambda a, n: self._values()),
        )

    # -- SCPI --------------------------------------------------------------------------------------------

    def handle(self, line: str) -> str | None:
        with self.world.lock:
            return self.dispatch(line)

    def error(self, code: int, text: str) -> None:
        self.errors.push(code, text)

    def _cls(self) -> None:
        self.errors = ErrorQueue()

    def _reply(self, header: str, value: str) -> str:
        return f"{header} {value}" if self.header else value

    def _changed(self) -> None:
        """A setting changed: no data until a full update interval has been measured with it."""
        self._ready_at = self.world.now + self.rate_s
        self._held = {}
        self._held_at = -1.0

    def _elements(self, element: int | None) -> list[int]:
        if element is None:
            return list(range(1, ELEMENTS + 1))
        if not 1 <= element <= ELEMENTS:
            self.error(*ILLEGAL_PARAMETER)
            return []
        return [element]

    def _set_header(self, arg: str, nums: list[int]) -> None:
        if arg.upper() not in ("ON", "OFF", "1", "0"):
            self.error(*ILLEGAL_PARAMETER)
            return
        self.header = arg.upper() in ("ON", "1")

    def _set_wiring(self, arg: str, nums: list[int]) -> None:
        value = arg.upper()
        if value not in WIRINGS:
            self.error(*ILLEGAL_PARAMETER)
            return
        self.wiring = value
        self._changed()

    def _set_auto(self, arg: str, element: int | None) -> None:
        if arg.upper() not in ("ON", "OFF", "1", "0"):
            self.error(*ILLEGAL_PARAMETER)
            return
        for el in self._elements(element):
            self.auto[el] = arg.upper() in ("ON", "1")
        self._changed()

    def _set_range(self, arg: str, element: int | None) -> None:
        kind, _, value = arg.partition(",")
        if kind.strip().upper() in ("EXT", "EXTERNAL"):
            volts = parse_float(value)
            if volts is None or not any(abs(volts - r) < 1e-9 for r in SENSOR_RANGES_V):
                self.error(*DATA_OUT_OF_RANGE)
                return
            for el in self._elements(element):
                self.external[el], self.sensor_range_v[el], self.auto[el] = True, volts, False
        else:
            amps = parse_float(arg)
            if amps is None or not any(abs(amps - r) < 1e-9 for r in DIRECT_RANGES_A):
                self.error(*DATA_OUT_OF_RANGE)
                return
            for el in self._elements(element):
                self.external[el], self.range_a[el], self.auto[el] = False, amps, False
        self._changed()

    def _get_range(self, element: int) -> str:
        if self.external.get(element):
            value = f"EXT,{self.sensor_range_v[element]:.4E}"
        else:
            value = f"{self.range_a.get(element, 0.0):.4E}"
        return self._reply(f":INPUT:CURRENT:RANGE:ELEMENT{element}", value)

    def _set_ratio(self, arg: str, element: int | None) -> None:
        ratio = parse_float(arg)
        if ratio is None or not 0.0001 <= ratio <= 99999.9999:
            self.error(*DATA_OUT_OF_RANGE)
            return
        for el in self._elements(element):
            self.sensor_ratio[el] = ratio
        self._changed()

    def _set_rate(self, arg: str, nums: list[int]) -> None:
        seconds = parse_float(arg)
        if seconds is None or not any(abs(seconds - r) < 1e-9 for r in RATES_S):
            self.error(*DATA_OUT_OF_RANGE)
            return
        self.rate_s = seconds
        self._changed()

    def _set_format(self, arg: str, nums: list[int]) -> None:
        if arg.upper() not in ("ASC", "ASCII", "FLO", "FLOAT"):
            self.error(*ILLEGAL_PARAMETER)
            return
        self.format = "ASCII" if arg.upper().startswith("ASC") else "FLOAT"

    def _set_count(self, arg: str, nums: list[int]) -> None:
        if not arg.strip().isdigit() or not 1 <= int(arg) <= 255:
            self.error(*DATA_OUT_OF_RANGE)
            return
        self.count = int(arg)

    def _set_item(self, arg: str, nums: list[int]) -> None:
        function, _, element = arg.partition(",")
        function = function.strip().upper()
        if function not in ("U", "I", "P", "S") or not element.strip().isdigit() \
                or not 1 <= int(element) <= ELEMENTS or not 1 <= nums[0] <= 255:
            self.error(*ILLEGAL_PARAMETER)
            return
        self.items[nums[0]] = (function, int(element))

    # -- measuring ---------------------------------------------------------------------------------------

    def full_scale_a(self, element: int) -> float:
        """The amps the element's range spans: the direct range, or the sensor range over its ratio."""
        if self.external[element]:
            return self.sensor_range_v[element] / (self.sensor_ratio[element] / 1000.0)
        return self.range_a[element]

    def _measure(self, function: str, element: int) -> str:
        unit = self.world.wiring.element.get((self.instrument, element))
        if unit is None:
            return "NAN"
        amps = unit.true_current()
        if amps > 0:
            amps = max(0.0, amps + self.world.random.uniform(-NOISE_A, NOISE_A))
        if amps > self.full_scale_a(element) * OVER_RANGE:
            return "INF"
        volts = unit.line_v if unit.powered else 0.0
        value = {"I": amps, "U": volts, "P": amps * volts, "S": amps * volts}[function]
        return f"{value:.4E}"

    def _values(self) -> str:
        now = self.world.now
        ready = now >= self._ready_at - 1e-9 and now >= self.nan_until
        if ready and now >= self._held_at + self.rate_s - 1e-9:
            # a new update interval ended: every item takes a new value, held until the next one
            self._held = {key: self._measure(*key) for key in self.items.values()}
            self._held_at = now
        out = []
        for i in range(1, self.count + 1):
            item = self.items.get(i)
            out.append(self._held.get(item, "NAN") if ready and item is not None else "NAN")
        return ",".join(out)
