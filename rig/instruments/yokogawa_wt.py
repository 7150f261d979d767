"""Power analyzer, Yokogawa WT command set (WT5000 communication manual): every unit's current in one
`:NUMeric:NORMal:VALue?` reply.

A WT keeps what its front panel was left at, so the driver sets everything the rig relies on and reads it back:
wiring, current auto-range off, the current range (direct, or an external sensor's range and ratio), the update
interval, headers off, ASCII numerics, and the numeric items. Its errors are read with `:STATus:ERRor?` (it does
not know `SYST:ERR?`).

In a numeric reply `NAN` means "no data this update" (after a setting changed, or while a measurement is not
ready): that unit's current is None for the tick. `INF` means over range: a rig fault naming the element and its
range, because a current the analyzer cannot measure must never be taken for a small one.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from rig.instruments.errors import InstrumentError, InstrumentGarbage
from rig.instruments.scpi import ScpiInstrument


class AnalyzerOverRange(InstrumentError):
    """An element's input is beyond its range (`INF`): the rig cannot see that unit's current."""


@dataclass(frozen=True)
class AnalyzerSetup:
    """What the rack file asks of the analyzer (rig/config.py documents each key and its default)."""

    wiring: str = "P1W2"
    current_range_a: float | None = 30.0
    """A direct current range; None when an external sensor is used."""
    sensor_range_v: float | None = None
    sensor_ratio_mv_per_a: float | None = None
    update_s: float = 0.5

    @property
    def external(self) -> bool:
        return self.sensor_range_v is not None

    @property
    def full_scale_a(self) -> float:
        if self.sensor_range_v is not None and self.sensor_ratio_mv_per_a:
            return self.sensor_range_v / (self.sensor_ratio_mv_per_a / 1000.0)
        return float(self.current_range_a or 0.0)

    def describe(self) -> str:
        if self.external:
            return (f"external sensor, {self.sensor_range_v:g} V range at {self.sensor_ratio_mv_per_a:g} mV/A "
                    f"({self.full_scale_a:g} A)")
        return f"{self.current_range_a:g} A range"


def read_wt_error(scpi: ScpiInstrument) -> str | None:
    """`:STATus:ERRor?`: `0,"No error"` when clean, else the code and message."""
    reply = scpi.query(":STATus:ERRor?")
    code_text, _, message = reply.partition(",")
    try:
        code = int(code_text)
    except ValueError:
        raise InstrumentGarbage(scpi.name, f"reply to ':STATus:ERRor?' is not an error entry: {reply[:40]!r}") from None
    return None if code == 0 else f"{code},{message}"


def parse_values(reply: str, expected: int, instrument: str, ranges: list[str] | None = None) -> list[float | None]:
    """The numbers of a `:NUM:NORM:VAL?` reply: NAN is None (no data this update), INF is over range (a rig
    fault naming the item's range); a wrong count or a non-number is the instrument's fault."""
    parts = reply.split(",")
    if len(parts) != expected:
        raise InstrumentGarbage(instrument, f"expected {expected} values, got {len(parts)}: {reply[:60]!r}")
    values: list[float | None] = []
    for i, part in enumerate(parts, start=1):
        text = part.strip()
        try:
            value = float(text)
        except ValueError:
            raise InstrumentGarbage(instrument, f"item {i} is not a number: {part[:20]!r}") from None
        if math.isnan(value):
            values.append(None)
            continue
        if math.isinf(value):
            where = f" ({ranges[i - 1]})" if ranges and i <= len(ranges) else ""
            raise AnalyzerOverRange(instrument, f"item {i} is over range (INF){where}: the current is beyond what "
                                                f"the range can measure")
        values.append(value)
    return values


def _number(text: str) -> float | None:
    m = re.fullmatch(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*", text)
    return float(text) if m else None


class YokogawaWT:
    """Implements the `Analyzer` role: set up and read back once, then read all currents per tick."""

    def __init__(self, name: str, address: str, timeout_s: float = 2.0, setup: AnalyzerSetup | None = None,
                 baud_rate: int | None = None) -> None:
        self.name = name
        self.setup = setup or AnalyzerSetup()
        self._scpi = ScpiInstrument(name, address, timeout_s, read_wt_error, baud_rate)
        self._count = 0
        self._ranges: list[str] = []

    def idn(self) -> str:
        return self._scpi.idn()

    def _clear_errors(self) -> None:
        """Read out whatever an earlier user left in the error queue (it is not this rig's to report)."""
        for _ in range(16):
            if read_wt_error(self._scpi) is None:
                return

    def configure(self, elements: list[int]) -> dict[str, str]:
        """Set wiring, range or sensor, update interval and items 1..n = currents of `elements`; read every setting
        back and return it (`rig doctor` shows it). A setting that does not read back as written is a rig fault."""
        s = self.setup
        self._clear_errors()
        w = self._scpi.write
        w(":COMMunicate:HEADer OFF")
        w(":NUMeric:FORMat ASCii")
        w(f":INPut:WIRing {s.wiring}")
        for el in elements:
            w(f":INPut:CURRent:AUTO:ELEMent{el} OFF")
            if s.external:
                w(f":INPut:CURRent:SRATio:ELEMent{el} {s.sensor_ratio_mv_per_a:g}")
                w(f":INPut:CURRent:RANGe:ELEMent{el} EXTernal,{s.sensor_range_v:g}V")
            else:
                w(f":INPut:CURRent:RANGe:ELEMent{el} {s.current_range_a:g}A")
        w(f":RATE {round(s.update_s * 1000)}MS")
        w(f":NUMeric:NORMal:NUMber {len(elements)}")
        for item, element in enumerate(elements, start=1):
            w(f":NUMeric:NORMal:ITEM{item} I,{element}")
        self._scpi.check_errors("the analyzer set-up")
        self._count = len(elements)
        self._ranges = [f"element {el}, {s.describe()}" for el in elements]
        return self._read_back(elements)

    def _read_back(self, elements: list[int]) -> dict[str, str]:
        got, problems = self.read_settings(elements)
        if problems:
            raise InstrumentError(self.name, "settings do not read back as set: " + "; ".join(problems))
        return got

    def read_settings(self, elements: list[int]) -> tuple[dict[str, str], list[str]]:
        """Every setting the rig relies on as the analyzer has it now (read only), and how each differs from
        what the rack file asks."""
        s = self.setup

        def q(command: str) -> str:
            """A query's value: a WT left with headers on (its front panel default) prefixes the header."""
            reply = self._scpi.query(command)
            return reply.split(" ", 1)[1] if reply.startswith(":") and " " in reply else reply

        got: dict[str, str] = {}
        problems: list[str] = []

        def expect(key: str, reply: str, ok: bool, want: str) -> None:
            got[key] = reply
            if not ok:
                problems.append(f"{key} reads {reply!r}, set {want}")

        wiring = q(":INPut:WIRing?")
        expect("wiring", wiring, wiring.upper().startswith(s.wiring), s.wiring)
        rate = _number(q(":RATE?"))
        expect("update_s", f"{rate:g}" if rate is not None else "?", rate is not None and abs(rate - s.update_s) < 1e-6,
               f"{s.update_s:g}")
        for el in elements:
            auto = q(f":INPut:CURRent:AUTO:ELEMent{el}?")
            expect(f"element {el} auto range", auto, auto.strip() in ("0", "OFF"), "off")
            rng = q(f":INPut:CURRent:RANGe:ELEMent{el}?")
            if s.external:
                kind, _, volts = rng.partition(",")
                v = _number(volts)
                ok = kind.strip().upper().startswith("EXT") and v is not None \
                    and abs(v - (s.sensor_range_v or 0)) < 1e-9
                expect(f"element {el} range", rng, ok, f"EXT,{s.sensor_range_v:g}")
                ratio = _number(q(f":INPut:CURRent:SRATio:ELEMent{el}?"))
                expect(f"element {el} sensor ratio", f"{ratio:g}" if ratio is not None else "?",
                       ratio is not None and abs(ratio - (s.sensor_ratio_mv_per_a or 0)) < 1e-6,
                       f"{s.sensor_ratio_mv_per_a:g}")
            else:
                a = _number(rng)
                expect(f"element {el} range", rng, a is not None and abs(a - (s.current_range_a or 0)) < 1e-9,
                       f"{s.current_range_a:g}")
        count = q(":NUMeric:NORMal:NUMber?")
        expect("items", count, count.strip() == str(len(elements)), str(len(elements)))
        for item, element in enumerate(elements, start=1):
            reply = q(f":NUMeric:NORMal:ITEM{item}?")
            expect(f"item {item}", reply, reply.replace(" ", "").upper() == f"I,{element}", f"I,{element}")
        return got, problems

    def reopen(self) -> None:
        """A fresh connection; the settings stay in the instrument."""
        self._scpi.reopen()

    def read_currents(self) -> list[float | None]:
        """Every configured element's current; None where the analyzer has no data this update (NAN)."""
        return parse_values(self._scpi.query(":NUMeric:NORMal:VALue?"), self._count, self.name, self._ranges)

    def errors(self) -> str | None:
        """The first error the analyzer reports (read-only look at its health)."""
        return read_wt_error(self._scpi)

    def close(self) -> None:
        self._scpi.close()
