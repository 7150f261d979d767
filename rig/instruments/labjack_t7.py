"""LabJack T7 through the LJM API: relays for breakers, Wi-Fi antennas and pilot resistors; pilot duty and level.

The driver is handed the `ljm` module rather than importing it, so the lab passes `labjack.ljm` and a laptop
passes the simulated stand-in: the code below is the same for both (DESIGN rule 1). Line writes for several
relays go out in one `eWriteNames` call; all pilots are read in one `eReadNames` call per tick.

Timeouts: LJM keeps its own, process-wide, so a T7 that stops answering cannot hang the night either. Every call
returns or raises `LJMError` within `LJM_USB_SEND_RECEIVE_TIMEOUT_MS` / `LJM_ETHERNET_SEND_RECEIVE_TIMEOUT_MS`
(2600 ms by default; `LJM_ETHERNET_OPEN_TIMEOUT_MS` 1000 ms to open over Ethernet). Change them, if ever needed,
with `ljm.writeLibraryConfigS(...)` or LJM's configuration file, not here; the rack file's `timeout_s` does not
apply to a T7. A missing native library (`libLabJackM`) surfaces on the first call and is reported with the fix.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import re
import sys
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from rig.instruments.errors import InstrumentError, InstrumentGarbage, InstrumentTimeout
from rig.pilot import PilotState

PULSE_WIDTH_IN = 5
"""Extended-feature index of "pulse width in" on the T7."""

_DIO_OFFSET = {"FIO": 0, "EIO": 8, "CIO": 16, "MIO": 20}
NATIVE_HINT = "the native LJM library is missing: install LJM from LabJack's installer on the lab PC"


_LJM_KINDS: dict[int | str, type[InstrumentError]] = {
    1302: InstrumentTimeout, "LJME_NO_RESPONSE_BYTES_RECEIVED": InstrumentTimeout,
    1303: InstrumentGarbage, "LJME_INCORRECT_NUM_RESPONSE_BYTES_RECEIVED": InstrumentGarbage,
}
"""LJM errors that are a timeout or a garbled reply, by code and by name (the rest are InstrumentError)."""


def dio_number(line: str) -> int:
    """DIO number of a named digital line (EIO0 → 8), as the extended-feature registers are named."""
    return _DIO_OFFSET[line[:3]] + int(line[3:])


def load_ljm(module_name: str) -> ModuleType:
    """Import the module that provides the LJM API, with the fix named when it cannot be.

    `labjack.ljm` prints `<class '...LJMError'>: Cannot load the LJM library ...` on standard output when it is
    imported without the native library (a laptop, a lab PC before LJM is installed), before any command could
    say anything. That one line is held back here: the driver names the missing library, with its fix, on its
    first call. Anything else the import prints is passed on."""
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InstrumentError("labjack", f"cannot import {module_name}: {exc} (pip install labjack-ljm)") from None
    finally:
        rest = [line for line in printed.getvalue().splitlines(keepends=True) if not _NO_NATIVE.match(line)]
        if rest:
            sys.stdout.write("".join(rest))
    return module


_NO_NATIVE = re.compile(r"^<class '[\w.]*LJMError'>: Cannot load the LJM library")


@dataclass(frozen=True)
class PilotReading:
    """One pilot as measured: duty cycle in percent (None when there is no PWM) and positive level in volts."""

    duty_pct: float | None
    high_v: float


class LabJackT7:
    """Implements the `Relays` and `PilotPort` roles on one T7."""

    def __init__(self, name: str, identifier: str, ljm: ModuleType) -> None:
        self.name = name
        self.identifier = identifier
        self._ljm = ljm
        self._handle: int | None = None
        self._handle = self._call("openS", "T7", "ANY", identifier)

    def _call(self, function: str, *args: Any) -> Any:
        try:
            return getattr(self._ljm, function)(*args)
        except AttributeError as exc:
            if "NoneType" in str(exc):
                raise InstrumentError(self.name, NATIVE_HINT) from None
            raise
        except InstrumentError:
            raise
        except Exception as exc:
            if type(exc).__name__ == "LJMError":
                text = getattr(exc, "errorString", "") or str(exc)
                code = getattr(exc, "errorCode", None)
                where = f" (LJM error {code})" if code is not None else ""
                kind = _LJM_KINDS.get(code) or next((k for n, k in _LJM_KINDS.items() if str(n) in text),
                                                    InstrumentError)
                raise kind(self.name, f"{function} on T7 {self.identifier}: {text}{where}") from None
            raise InstrumentError(self.name, f"{function} on T7 {self.identifier}: {exc}") from None

    @property
    def handle(self) -> int:
        if self._handle is None:
            raise InstrumentError(self.name, "T7 is closed")
        return self._handle

    def reopen(self) -> None:
        """Close the handle and open the T7 again; its lines and extended features keep their configuration."""
        self.close()
        self._handle = self._call("openS", "T7", "ANY", self.identifier)

    def serial_number(self) -> int:
        return int(self._call("eReadName", self.handle, "SERIAL_NUMBER"))

    def product_id(self) -> int:
        """The device's PRODUCT_ID register: 7 for a T7 (4 for a T4, 8 for a T8)."""
        return int(self._call("eReadName", self.handle, "PRODUCT_ID"))

    def write_lines(self, lines: dict[str, bool]) -> None:
        """Energise (True) or release (False) relay lines, all in one call."""
        if not lines:
            return
        names = list(lines)
        self._call("eWriteNames", self.handle, len(names), names, [1 if lines[n] else 0 for n in names])

    def read_lines(self, lines: list[str]) -> dict[str, bool]:
        """Read back output lines from DIO_STATE without turning them into inputs."""
        state = int(self._call("eReadName", self.handle, "DIO_STATE"))
        return {line: bool(state >> dio_number(line) & 1) for line in lines}

    def pilot_lines(self, state: PilotState, b_line: str, c_line: str) -> dict[str, bool]:
        """Relay positions that present `state` to a unit: A open, B 2.74 kΩ, C 2.74 kΩ ∥ 1.3 kΩ."""
        if state not in (PilotState.A, PilotState.B, PilotState.C):
            raise ValueError(f"the vehicle side can present states A, B and C, not {state}")
        return {b_line: state != PilotState.A, c_line: state == PilotState.C}

    def enable_pulse_in(self, duty_lines: list[str]) -> None:
        """Configure "pulse width in" on every duty line (disable, set index, enable, as LJM requires)."""
        names: list[str] = []
        values: list[float] = []
        for line in duty_lines:
            n = dio_number(line)
            names += [f"DIO{n}_EF_ENABLE", f"DIO{n}_EF_INDEX", f"DIO{n}_EF_OPTIONS", f"DIO{n}_EF_ENABLE"]
            values += [0, PULSE_WIDTH_IN, 0, 1]
        self._call("eWriteNames", self.handle, len(names), names, values)

    def read_pilots(self, channels: list[tuple[str, str]]) -> list[PilotReading]:
        """Duty and level of each (duty_line, analog input) pair, in one eReadNames call."""
        names: list[str] = []
        for duty_line, ain in channels:
            n = dio_number(duty_line)
            names += [f"DIO{n}_EF_READ_A", f"DIO{n}_EF_READ_B", ain]
        values = self._call("eReadNames", self.handle, len(names), names)
        if len(values) != len(names):
            raise InstrumentError(self.name, f"asked for {len(names)} registers, got {len(values)}")
        readings = []
        for i in range(len(channels)):
            high, low, volts = values[3 * i : 3 * i + 3]
            total = high + low
            duty = None if total <= 0 or high <= 0 or low <= 0 else 100.0 * high / total
            readings.append(PilotReading(duty_pct=duty, high_v=float(volts)))
        return readings

    def close(self) -> None:
        if self._handle is not None:
            handle, self._handle = self._handle, None
            try:
                self._ljm.close(handle)
            except Exception:
                pass
