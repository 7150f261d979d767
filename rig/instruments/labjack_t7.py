"""LabJack T7 through the LJM API: relays for breakers, Wi-Fi antennas and pilot resistors; pilot duty and level.

The driver is handed the `ljm` module rather than importing it, so the lab passes `labjack.ljm` and a laptop
passes the simulated stand-in: the code below is the same for both (DESIGN rule 1). Line writes for several
relays go out in one `eWriteNames` call and are read back from DIO_STATE (the level on the terminals): a relay
line that does not follow is a rig fault.

Pilots (T-Series datasheet): Pulse Width In runs on DIO0/DIO1 only and measures nothing until DIO_EF_CLOCK0 is
configured and enabled, so `configure_clock()` comes first and is read back. READ_A/READ_B keep their last values
when no new edge comes (a stopped PWM would read as the last duty), so every tick reads READ_A_AND_RESET, then
READ_B (the low time the A read saved), then READ_A again: right after a reset it must read 0, or the register
did not reset (a stale register, a rig fault). A zero high or low time after the reset means no new period
since the last tick: "no PWM", by construction. Every tick also reads the clock's and each line's enable, so a
T7 that restarted (clock stopped) is a rig fault, never a pilot without PWM. Divided pilots are streamed: one
short window per tick (eStreamStart / eStreamRead / eStreamStop).

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
CORE_CLOCK_HZ = 80_000_000

_DIO_OFFSET = {"FIO": 0, "EIO": 8, "CIO": 16, "MIO": 20}
NATIVE_HINT = "the native LJM library is missing: install LJM from LabJack's installer on the lab PC"


_LJM_KINDS: dict[int | str, type[InstrumentError]] = {
    1263: InstrumentTimeout, "LJME_NO_RESPONSE_BYTES_RECEIVED": InstrumentTimeout,
    1264: InstrumentGarbage, "LJME_INCORRECT_NUM_RESPONSE_BYTES_RECEIVED": InstrumentGarbage,
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
    """One pilot as measured from fresh data: duty cycle in percent (None when there is no PWM), positive level
    and negative level in volts (low_v None when the front end cannot see it)."""

    duty_pct: float | None
    high_v: float
    low_v: float | None = None


class PulseClockStopped(InstrumentError):
    """Pulse Width In has no running clock (or the feature is off): it would measure nothing."""


class StalePulseRegister(InstrumentError):
    """A pulse-width register that does not reset: its duty could be an old one."""


class RelayMismatch(InstrumentError):
    """Relay lines that do not read back as written (DIO_STATE): the relay did not switch."""


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
        """Energise (True) or release (False) relay lines, all in one call, then read them back from DIO_STATE;
        a line that does not follow raises RelayMismatch naming it."""
        if not lines:
            return
        names = list(lines)
        self._call("eWriteNames", self.handle, len(names), names, [1 if lines[n] else 0 for n in names])
        got = self.read_lines(names)
        wrong = [f"{n} reads {int(got[n])} after writing {int(lines[n])}" for n in names if got[n] != lines[n]]
        if wrong:
            raise RelayMismatch(self.name, f"relay line(s) did not switch: {'; '.join(wrong)} (DIO_STATE)")

    def read_lines(self, lines: list[str]) -> dict[str, bool]:
        """Read back output lines from DIO_STATE without turning them into inputs."""
        state = int(self._call("eReadName", self.handle, "DIO_STATE"))
        return {line: bool(state >> dio_number(line) & 1) for line in lines}

    def pilot_lines(self, state: PilotState, b_line: str, c_line: str) -> dict[str, bool]:
        """Relay positions that present `state` to a unit: A open, B 2.74 kΩ, C 2.74 kΩ ∥ 1.3 kΩ."""
        if state not in (PilotState.A, PilotState.B, PilotState.C):
            raise ValueError(f"the vehicle side can present states A, B and C, not {state}")
        return {b_line: state != PilotState.A, c_line: state == PilotState.C}

    def configure_clock(self, divisor: int = 1) -> dict[str, str]:
        """DIO_EF_CLOCK0 for Pulse Width In: disabled while configured, divisor, full 32-bit roll, enabled; read
        back. Without it Pulse Width In measures nothing."""
        names = ["DIO_EF_CLOCK0_ENABLE", "DIO_EF_CLOCK0_DIVISOR", "DIO_EF_CLOCK0_ROLL_VALUE", "DIO_EF_CLOCK0_ENABLE"]
        self._call("eWriteNames", self.handle, len(names), names, [0, divisor, 0, 1])
        enable, got = self._call("eReadNames", self.handle, 2, ["DIO_EF_CLOCK0_ENABLE", "DIO_EF_CLOCK0_DIVISOR"])
        if int(enable) != 1 or int(got) != divisor:
            raise PulseClockStopped(self.name, f"DIO_EF_CLOCK0 reads enable={int(enable)} divisor={int(got)} after "
                                               f"being set to 1 and {divisor}")
        return {"DIO_EF_CLOCK0": f"enabled, divisor {divisor} ({CORE_CLOCK_HZ / divisor / 1e6:g} MHz)"}

    def enable_pulse_in(self, duty_lines: list[str]) -> dict[str, str]:
        """Pulse Width In on every duty line: disabled, index 5, clock 0, continuous, enabled; read back.
        A line that cannot run it is refused by the T7 itself (EF_PIN_TYPE_MISMATCH)."""
        names: list[str] = []
        values: list[float] = []
        for line in duty_lines:
            n = dio_number(line)
            names += [f"DIO{n}_EF_ENABLE", f"DIO{n}_EF_INDEX", f"DIO{n}_EF_CLOCK_SOURCE", f"DIO{n}_EF_CONFIG_A",
                      f"DIO{n}_EF_ENABLE"]
            values += [0, PULSE_WIDTH_IN, 0, 0, 1]
        if not names:
            return {}
        self._call("eWriteNames", self.handle, len(names), names, values)
        back = [f"DIO{dio_number(line)}_EF_{what}" for line in duty_lines for what in ("ENABLE", "INDEX")]
        got = self._call("eReadNames", self.handle, len(back), back)
        settings = {}
        for i, line in enumerate(duty_lines):
            enable, index = int(got[2 * i]), int(got[2 * i + 1])
            if enable != 1 or index != PULSE_WIDTH_IN:
                raise PulseClockStopped(self.name, f"{line} reads EF enable={enable} index={index} after enabling "
                                                   f"Pulse Width In")
            settings[line] = "pulse width in (index 5), clock 0, continuous, read with reset"
        return settings

    def pulse_settings(self, duty_lines: list[str]) -> str:
        """DIO_EF_CLOCK0 and each duty line's feature as the T7 has them now (read only)."""
        names = ["DIO_EF_CLOCK0_ENABLE", "DIO_EF_CLOCK0_DIVISOR"]
        for line in duty_lines:
            names += [f"DIO{dio_number(line)}_EF_ENABLE", f"DIO{dio_number(line)}_EF_INDEX"]
        got = self._call("eReadNames", self.handle, len(names), names)
        parts = [f"DIO_EF_CLOCK0 enable {int(got[0])} divisor {int(got[1])}"]
        for i, line in enumerate(duty_lines):
            parts.append(f"{line} EF enable {int(got[2 + 2 * i])} index {int(got[3 + 2 * i])}")
        return ", ".join(parts)

    def read_pulse(self, channels: list[tuple[str, str, float]]) -> list[PilotReading]:
        """Each (duty_line, level AIN, ratio) of a comparator front end, in one eReadNames call: the duty from a
        period measured since the last tick, the positive level from the peak detector."""
        names = ["DIO_EF_CLOCK0_ENABLE"]
        for duty_line, ain, _ in channels:
            n = dio_number(duty_line)
            names += [f"DIO{n}_EF_ENABLE", f"DIO{n}_EF_READ_A_AND_RESET", f"DIO{n}_EF_READ_B", f"DIO{n}_EF_READ_A",
                      ain]
        values = self._call("eReadNames", self.handle, len(names), names)
        if len(values) != len(names):
            raise InstrumentGarbage(self.name, f"asked for {len(names)} registers, got {len(values)}")
        if int(values[0]) != 1:
            lines = ", ".join(d for d, _, _ in channels)
            raise PulseClockStopped(self.name, f"DIO_EF_CLOCK0 is not running (reads {values[0]:g}): pulse width in "
                                               f"on {lines} measures nothing (T7 restarted?)")
        readings = []
        for i, (duty_line, _, ratio) in enumerate(channels):
            enable, high, low, again, level = values[1 + 5 * i: 6 + 5 * i]
            if int(enable) != 1:
                raise PulseClockStopped(self.name, f"pulse width in on {duty_line} is not enabled (reads {enable:g})")
            if again != 0:
                raise StalePulseRegister(self.name, f"{duty_line} READ_A reads {again:g} right after "
                                                    f"READ_A_AND_RESET: the register did not reset, its duty may be "
                                                    f"old")
            duty = 100.0 * high / (high + low) if high > 0 and low > 0 else None
            readings.append(PilotReading(duty_pct=duty, high_v=float(level) * ratio, low_v=None))
        return readings

    def stream_window(self, ains: list[str], scan_hz: float, scans: int) -> tuple[list[list[float]], float]:
        """One window of `scans` scans of `ains`: the samples per input and the actual scan rate."""
        addresses, _ = self._call("namesToAddresses", len(ains), ains)
        actual = self._call("eStreamStart", self.handle, scans, len(ains), list(addresses), scan_hz)
        try:
            data, _, _ = self._call("eStreamRead", self.handle)
        finally:
            try:
                self._call("eStreamStop", self.handle)
            except InstrumentError:
                pass
        if len(data) != scans * len(ains):
            raise InstrumentGarbage(self.name, f"stream gave {len(data)} samples, expected {scans * len(ains)}")
        n = len(ains)
        return [list(data[k::n]) for k in range(n)], float(actual)

    def stream_settings(self) -> dict[str, str]:
        """What the stream runs with: +/-10 V range, resolution index 0, automatic settling (written, read back)."""
        names = ["AIN_ALL_RANGE", "STREAM_RESOLUTION_INDEX", "STREAM_SETTLING_US"]
        self._call("eWriteNames", self.handle, len(names), names, [10.0, 0, 0])
        got = self._call("eReadNames", self.handle, len(names), names)
        if abs(got[0] - 10.0) > 1e-6:
            raise InstrumentError(self.name, f"AIN_ALL_RANGE reads {got[0]:g} after being set to 10")
        return {"AIN range": f"+/-{got[0]:g} V", "stream resolution index": f"{int(got[1])}"}

    def close(self) -> None:
        if self._handle is not None:
            handle, self._handle = self._handle, None
            try:
                self._ljm.close(handle)
            except Exception:
                pass
