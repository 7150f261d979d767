"""SCPI parsing shared by the simulated instruments: long/short mnemonics and the error queue."""

from __future__ import annotations

import re
from collections import deque

_TOKEN = re.compile(r"^([A-Z]+)([a-z]*)(#?)$")


def header_matches(header: str, pattern: str) -> tuple[bool, list[int]]:
    """Whether a SCPI header matches a pattern like ':NUMeric:NORMal:ITEM#', and the numeric suffixes.

    Each pattern token accepts its short form (the capitals) or its long form, in any case; a trailing `#`
    takes an optional number. A leading colon is optional on both sides.
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
    """The instrument's error/event queue read by `SYST:ERR?`."""

    def __init__(self) -> None:
        self._q: deque[tuple[int, str]] = deque(maxlen=16)

    def push(self, code: int, text: str) -> None:
        self._q.append((code, text))

    def pop(self) -> str:
        code, text = self._q.popleft() if self._q else (0, "No error")
        return f'{code},"{text}"'
