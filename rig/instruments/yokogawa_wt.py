"""Power analyzer, Yokogawa WT command set: every unit's current in one `:NUMeric:NORMal:VALue?` reply."""

from __future__ import annotations

import math

from rig.instruments.errors import InstrumentGarbage
from rig.instruments.scpi import ScpiInstrument


def parse_values(reply: str, expected: int, instrument: str) -> list[float]:
    """The numbers of a `:NUM:NORM:VAL?` reply; a wrong count or a non-number is the instrument's fault."""
    parts = reply.split(",")
    if len(parts) != expected:
        raise InstrumentGarbage(instrument, f"expected {expected} values, got {len(parts)}: {reply[:60]!r}")
    values = []
    for i, part in enumerate(parts, start=1):
        try:
            value = float(part)
        except ValueError:
            raise InstrumentGarbage(instrument, f"item {i} is not a number: {part[:20]!r}") from None
        if not math.isfinite(value):
            raise InstrumentGarbage(instrument, f"item {i} has no data ({part.strip()})")
        values.append(value)
    return values


class YokogawaWT:
    """Implements the `Analyzer` role: configure the elements once, then read all currents per tick."""

    def __init__(self, name: str, address: str, timeout_s: float = 2.0) -> None:
        self.name = name
        self._scpi = ScpiInstrument(name, address, timeout_s)
        self._count = 0

    def idn(self) -> str:
        return self._scpi.idn()

    def configure(self, elements: list[int]) -> None:
        """Numeric items 1..n are the RMS currents of `elements`, in that order."""
        self._scpi.write(":NUMeric:FORMat ASCii")
        self._scpi.write(f":NUMeric:NORMal:NUMber {len(elements)}")
        for item, element in enumerate(elements, start=1):
            self._scpi.write(f":NUMeric:NORMal:ITEM{item} I,{element}")
        self._scpi.check_errors(":NUMeric:NORMal:ITEM")
        self._count = len(elements)

    def reopen(self) -> None:
        """A fresh connection; the numeric items stay configured in the instrument."""
        self._scpi.reopen()

    def read_currents(self) -> list[float]:
        return parse_values(self._scpi.query(":NUMeric:NORMal:VALue?"), self._count, self.name)

    def close(self) -> None:
        self._scpi.close()
