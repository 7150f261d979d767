"""SCPI parsing shared by the simulated instruments: long/short mnemonics, a strict command table, error queues.

Every simulated SCPI instrument is a table of the headers its manual documents. A header that is not in the
table gets no reply at all (the real instruments stay silent, so the query times out) and queues an error that
only the instrument's own error query reports: `:STATus:ERRor?` on a Yokogawa WT, `*ESR?` on a Chroma 63800.
Neither answers `SYST:ERR?`, which neither manual lists.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable

_TOKEN = re.compile(r"^([A-Z*]+)([a-z]*)(#?)$")

UNDEFINED_HEADER = (-113, "Undefined header")
DATA_OUT_OF_RANGE = (-222, "Data out of range")
ILLEGAL_PARAMETER = (-224, "Illegal parameter value")
DATA_TYPE_ERROR = (-104, "Data type error")


def header_matches(header: str, pattern: str) -> tuple[bool, list[int]]:
    """Whether a SCPI header matches a pattern like ':NUMeric:NORMal:ITEM#', and the numeric suffixes.

    Each pattern token accepts its short form (the capitals) or its long form, in any case; a trailing `#`
    takes an optional number. A leading colon is optional on both sides. Optional nodes are written as
    separate patterns by the device's table.
    """
    header, pattern = header.strip(), pattern.strip()
    if header.endswith("?") != pattern.endswith("?"):
        return False, []
    got = header.rstrip("?").lstrip(":").split(":")
    want = pattern.rstrip("?").lstrip(":").split(":")
    if len(got) != len(want):
        return False, []
    numbers: list[int] = []
    for g, w in zip(got, want, strict=True):
        m = _TOKEN.match(w)
        if m is None:
            return False, []
        short, rest, numbered = m.group(1), m.group(2), m.group(3)
        g_up = g.upper()
        num = None
        if numbered:
            digits = re.search(r"\d+$", g_up)
            if digits:
                num = int(digits.group())
                g_up = g_up[: digits.start()]
        if g_up not in (short, (short + rest).upper()):
            return False, []
        if numbered:
            numbers.append(num if num is not None else 1)
    return True, numbers


class ErrorQueue:
    """An error/event queue as a WT's `:STATus:ERRor?` reads it: `<code>,"<message>"`, `0,"No error"` when empty."""

    def __init__(self) -> None:
        self._q: deque[tuple[int, str]] = deque(maxlen=16)

    def push(self, code: int, text: str) -> None:
        self._q.append((code, text))

    def pop(self) -> str:
        code, text = self._q.popleft() if self._q else (0, "No error")
        return f'{code},"{text}"'

    def __len__(self) -> int:
        return len(self._q)


Handler = Callable[[str, list[int]], "str | None"]


class StrictScpiDevice:
    """A SCPI device that knows only the headers in its table.

    Subclasses register `(pattern, handler)` pairs with `_table()`; `handle()` finds the first pattern that
    matches and calls its handler with the argument text and the numeric suffixes. An unknown header gets no
    reply and `error()` is called with -113, as the manuals describe.
    """

    def __init__(self) -> None:
        self.unknown: list[str] = []
        """Every header this device did not know, in order (for the rig's own tests)."""
        self._handlers: list[tuple[str, Handler]] = []

    def _table(self, *entries: tuple[str, Handler]) -> None:
        self._handlers.extend(entries)

    def error(self, code: int, text: str) -> None:  # pragma: no cover - every device overrides it
        raise NotImplementedError

    def dispatch(self, line: str) -> str | None:
        """One program message (no locking): the reply, or None."""
        header, _, arg = line.strip().partition(" ")
        arg = arg.strip()
        for pattern, handler in self._handlers:
            ok, nums = header_matches(header, pattern)
            if ok:
                return handler(arg, nums)
        self.unknown.append(header)
        self.error(*UNDEFINED_HEADER)
        return None


def parse_float(text: str) -> float | None:
    """An <NRf> with an optional unit suffix the manuals accept (A, V, W, MS, S, MV...); None if it is not one."""
    m = re.fullmatch(r"\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([A-Za-z]*)\s*", text)
    if m is None:
        return None
    value = float(m.group(1))
    unit = m.group(2).upper()
    scale = {"": 1.0, "A": 1.0, "V": 1.0, "W": 1.0, "S": 1.0, "OHM": 1.0, "MA": 1e-3, "MV": 1e-3, "MS": 1e-3,
             "US": 1e-6, "KW": 1e3}
    if unit not in scale:
        return None
    return value * scale[unit]
