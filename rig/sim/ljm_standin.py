"""A stand-in for the `labjack.ljm` module, backed by the simulated world.

It has the real module's function names and signatures and raises the real module's error type, so the
LabJack driver is the same code on a laptop and in the lab: a simulated rack file names this module as its
`ljm`, a lab rack file names `labjack.ljm`. Registers follow the T7 datasheet: `FIOn`/`EIOn`/`CIOn`/`MIOn`
digital lines, `DIO_STATE`, `AINn`, and the "pulse width in" extended feature (`DIOn_EF_INDEX = 5`,
`DIOn_EF_READ_A` high ticks, `DIOn_EF_READ_B` low ticks, 80 MHz core clock).
"""

from __future__ import annotations

import itertools
import re
import threading
from typing import Any


class LJMError(Exception):
    """Same name and attributes as `labjack.ljm.LJMError`. The real module is not imported here: on a machine
    without the native library its import prints a complaint, and the driver recognises either class."""

    def __init__(self, errorCode: int | None = None, errorAddress: int | None = None,  # noqa: N803
                 errorString: str = "") -> None:  # noqa: N803
        super().__init__(errorString)
        self.errorCode = errorCode
        self.errorAddress = errorAddress
        self.errorString = errorString


DEVICE_NOT_FOUND = 1227  # LJME_DEVICE_NOT_FOUND
INVALID_NAME = 1294  # LJME_INVALID_NAME
INVALID_HANDLE = 1224  # LJME_INVALID_HANDLE
EF_NOT_CONFIGURED = 2600  # device error for an extended feature read before it is enabled
CLOCK_HZ = 80_000_000
PWM_HZ = 1_000

_DIO_OFFSETS = {"FIO": 0, "EIO": 8, "CIO": 16, "MIO": 20}
_LINE = re.compile(r"^(FIO|EIO|CIO|MIO)(\d+)$")
_EF = re.compile(r"^DIO(\d+)_EF_(ENABLE|INDEX|OPTIONS|READ_A|READ_B|CONFIG_A)$")


def dio_number(line: str) -> int | None:
    """DIO number of a named line, e.g. EIO0 → 8."""
    m = _LINE.match(line)
    return _DIO_OFFSETS[m.group(1)] + int(m.group(2)) if m else None


class SimulatedT7:
    """One simulated T7: its lines are wired into the world by the rack file."""

    def __init__(self, world: Any, instrument: str, serial: int) -> None:
        self.world = world
        self.instrument = instrument
        self.serial = serial
        self.dio: dict[int, int] = {}
        self.ef: dict[tuple[int, str], float] = {}
        self.fail_with: str | None = None
        """Set by fault-injection tests: every call raises LJMError with this text."""

    def _unit_line(self, line: str) -> tuple[Any, str] | None:
        return self.world.wiring.lines.get((self.instrument, line))

    def write(self, name: str, value: float) -> None:
        with self.world.lock:
            n = dio_number(name)
            if n is not None:
                state = 1 if value else 0
                self.dio[n] = state
                wired = self._unit_line(name)
                if wired is not None:
                    unit, what = wired
                    if what == "b":
                        unit.b_closed = bool(state)
                    elif what == "c":
                        unit.c_closed = bool(state)
                    elif what == "breaker":
                        self.world.set_breaker(unit, closed=not state)
                    elif what == "wifi":
                        unit.wifi_up = not state
                return
            m = _EF.match(name)
            if m and m.group(2) in ("ENABLE", "INDEX", "OPTIONS", "CONFIG_A"):
                self.ef[(int(m.group(1)), m.group(2))] = value
                return
            raise LJMError(INVALID_NAME, None, f"LJME_INVALID_NAME: {name}")

    def read(self, name: str) -> float:
        with self.world.lock:
            n = dio_number(name)
            if n is not None:
                return float(self.dio.get(n, 0))
            if name == "DIO_STATE":
                return float(sum(v << k for k, v in self.dio.items()))
            if name == "SERIAL_NUMBER":
                return float(self.serial)
            if name == "PRODUCT_ID":
                return 7.0
            if name.startswith("AIN"):
                line = name
                unit = self.world.wiring.ain.get((self.instrument, line))
                return unit.pilot_high_v() if unit is not None else 0.0
            m = _EF.match(name)
            if m and m.group(2) in ("READ_A", "READ_B"):
                return self._pulse(int(m.group(1)), m.group(2))
            raise LJMError(INVALID_NAME, None, f"LJME_INVALID_NAME: {name}")

    def _pulse(self, dio: int, which: str) -> float:
        if self.ef.get((dio, "ENABLE")) != 1 or self.ef.get((dio, "INDEX")) != 5:
            raise LJMError(EF_NOT_CONFIGURED, None, f"DIO{dio} pulse width in is not enabled")
        line = next((ln for ln in ("FIO", "EIO", "CIO", "MIO") if 0 <= dio - _DIO_OFFSETS[ln] < 8), "FIO")
        unit = self.world.wiring.duty.get((self.instrument, f"{line}{dio - _DIO_OFFSETS[line]}"))
        duty = unit.pilot_duty() if unit is not None else None
        if duty is None:
            return 0.0
        period = CLOCK_HZ // PWM_HZ
        high = round(period * duty / 100.0)
        return float(high if which == "READ_A" else period - high)


_devices: dict[str, SimulatedT7] = {}
_handles: dict[int, SimulatedT7] = {}
_next_handle = itertools.count(1)
_lock = threading.Lock()


def register(identifier: str, device: SimulatedT7) -> None:
    """Make a simulated T7 openable by `openS(..., identifier)`; called by the simulated rack."""
    with _lock:
        _devices[identifier] = device


def unregister(identifier: str) -> None:
    with _lock:
        _devices.pop(identifier, None)


def _device(handle: int) -> SimulatedT7:
    dev = _handles.get(handle)
    if dev is None:
        raise LJMError(INVALID_HANDLE, None, "LJME_INVALID_HANDLE")
    if dev.fail_with:
        raise LJMError(None, None, dev.fail_with)
    return dev


def openS(deviceType: str = "ANY", connectionType: str = "ANY", identifier: str = "ANY") -> int:  # noqa: N802
    with _lock:
        dev = _devices.get(identifier)
        if dev is None or deviceType not in ("ANY", "T7", "LJM_dtT7", "LJM_dtANY"):
            raise LJMError(DEVICE_NOT_FOUND, None, "LJME_DEVICE_NOT_FOUND")
        handle = next(_next_handle)
        _handles[handle] = dev
        return handle


def close(handle: int) -> None:
    with _lock:
        if _handles.pop(handle, None) is None:
            raise LJMError(INVALID_HANDLE, None, "LJME_INVALID_HANDLE")


def eWriteName(handle: int, name: str, value: float) -> None:  # noqa: N802
    _device(handle).write(name, value)


def eReadName(handle: int, name: str) -> float:  # noqa: N802
    return _device(handle).read(name)


def eWriteNames(handle: int, numFrames: int, aNames: list[str], aValues: list[float]) -> None:  # noqa: N802,N803
    dev = _device(handle)
    for name, value in zip(aNames[:numFrames], aValues[:numFrames], strict=True):
        dev.write(name, value)


def eReadNames(handle: int, numFrames: int, aNames: list[str]) -> list[float]:  # noqa: N802,N803
    dev = _device(handle)
    return [dev.read(name) for name in aNames[:numFrames]]
