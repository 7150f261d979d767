"""Rig faults: what an instrument does wrong, kept apart from what the firmware does wrong.

A driver raises `InstrumentError` for a timeout, a garbled reply, a closed connection or an error the
instrument reports. It is never an AssertionError, so pytest and Allure report the test *broken*, not
*failed*: a release is neither blocked nor passed by a broken instrument (DESIGN rule 8).
"""

from __future__ import annotations

from rig.secrets import redact


class InstrumentError(Exception):
    """An instrument that did not do what it was asked; names the instrument and what happened. The message
    is one line with any secret (a Wi-Fi password in a console command) redacted."""

    def __init__(self, instrument: str, message: str) -> None:
        self.instrument = instrument
        self.message = redact(" ".join(str(message).split()))
        super().__init__(f"{instrument}: {self.message}")


class InstrumentTimeout(InstrumentError):
    """The instrument did not answer within its timeout."""


class InstrumentGarbage(InstrumentError):
    """The instrument answered something that cannot be its reply."""
