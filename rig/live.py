"""Live progress: one line on the terminal, updated in place while a long run goes on.

A rack listener (see `rig.rack.RackListener`) that, at most a few times per wall-clock second, rewrites one
status line: which scenario of how many, the rack time (simulated or wall clock), and each unit's advertised
pilot and measured current. It is for people watching a terminal: the pytest plugin turns it on only when
standard output is a terminal (or on `--live`), never in CI logs or JUnit output, and `--no-live` turns it off.

The line is drawn on the terminal line *below* pytest's own progress line and the cursor is put back where
pytest left it, so pytest's dots and percentages are never overwritten; `clear()` erases it before pytest
writes again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TextIO

from rig.trace import Event, Sample

MAX_RATE_HZ = 5.0


def status_line(scenario: str, position: str, sample: Sample, simulated: bool, width: int) -> str:
    """The status text for one sample, cut to `width` characters."""
    clock = "sim" if simulated else "wall"
    units = "  ".join(
        f"{u} {'--' if p is None else f'{p:.0f}'}/{sample.current.get(u, 0.0):.1f}A"
        for u, p in sample.pilot.items()
    )
    text = f"{position} {scenario}  t={sample.t:7.1f}s {clock}  pilot/current: {units}"
    if len(text) > width:
        text = text[: max(0, width - 1)] + "…"
    return text


class LiveProgress:
    """Rewrites one status line below the cursor; a rack listener.

    `out` gives the terminal stream, looked up at each write (pytest swaps `sys.stdout` while capturing);
    `column` tells where pytest's cursor is on its current line, so that it can be put back; `width` is the
    terminal's width, read inside `guard`, a context manager factory that lets the write through pytest's
    output capture (while pytest captures, standard output is a file and the width would be 80).
    `clock` is injectable for tests.
    """

    def __init__(self, out: Callable[[], TextIO], column: Callable[[], int], width: Callable[[], int],
                 guard: Callable[[], Any] | None = None, clock: Callable[[], float] = time.monotonic,
                 max_rate_hz: float = MAX_RATE_HZ) -> None:
        self.out = out
        self.column = column
        self.width = width
        self.guard = guard
        self.clock = clock
        self.interval = 1.0 / max_rate_hz
        self.scenario = ""
        self.position = ""
        self.shown = False
        self.broken = False
        self._next = 0.0
        self.writes = 0

    def start(self, scenario: str, position: str) -> None:
        self.scenario = scenario
        self.position = position
        self._next = 0.0

    # -- the rack listener -------------------------------------------------------------------------------

    def on_sample(self, rack: Any, sample: Sample) -> None:
        now = self.clock()
        if now < self._next or self.broken:
            return
        self._next = now + self.interval
        simulated = bool(getattr(getattr(rack, "config", None), "simulated", False))
        # the width is read while the write goes through (pytest's capture lifted): only then is the terminal
        # the process's standard output, so a 200-column terminal gets 200 columns, not the 80 of a captured one
        self._draw(lambda: status_line(self.scenario, self.position, sample, simulated, self.width() - 1))

    def on_event(self, rack: Any, event: Event) -> None:
        pass

    # -- the terminal ------------------------------------------------------------------------------------

    def _back(self) -> str:
        # up one line, then to pytest's column (1-based)
        return f"\x1b[1A\x1b[{self.column() + 1}G"

    def _draw(self, text: Callable[[], str]) -> None:
        # first time: a new line below (scrolling if needed); afterwards move down onto it
        move = "\x1b[1B\r" if self.shown else "\n"
        self._write(lambda: f"{move}\x1b[2K{text()}{self._back()}")
        self.shown = True

    def clear(self) -> None:
        """Erase the status line (before pytest writes its own output)."""
        if self.shown:
            self._write(lambda: f"\x1b[1B\r\x1b[2K{self._back()}")
            self.shown = False

    def _emit(self, text: Callable[[], str]) -> None:
        stream = self.out()
        stream.write(text())
        stream.flush()

    def _write(self, text: Callable[[], str]) -> None:
        try:
            if self.guard is None:
                self._emit(text)
            else:
                with self.guard():
                    self._emit(text)
            self.writes += 1
        except (OSError, ValueError):
            self.broken = True  # a closed or vanished terminal never breaks a run
