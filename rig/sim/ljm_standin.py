"""A stand-in for the `labjack.ljm` module, backed by the simulated world, written from the T-Series datasheet
and LabJack's register and error constants (labjack/ljm_constants).

It has the real module's function names and signatures and raises the real module's error type, so the LabJack
driver is the same code on a laptop and in the lab. What it does as a T7 does:

- Digital lines `FIOn/EIOn/CIOn/MIOn`; `DIO_STATE` reads the level on the terminals, not what was written (a
  relay driver that does not switch reads back wrong).
- Pulse Width In (extended feature index 5) runs on DIO0 and DIO1 only: enabling it elsewhere raises
  EF_PIN_TYPE_MISMATCH (2553). It needs DIO_EF_CLOCK0 configured and enabled; without the clock it measures
  nothing (reads return 0: "DIO-EF reads work when disabled and do not return an error"). READ_A is the high
  time in clock ticks and saves the low time for READ_B. With no new edges (PWM stopped, +12 V steady) the
  registers keep their previous values; READ_A_AND_RESET clears them, so 0 is read until a full new period has
  been measured. CONFIG_A bit 0 selects one-shot: one measurement per reset.
- Analog inputs clip at -10.5 / +10.1 V. A single read of a divided 1 kHz pilot lands on a random phase of it;
  a peak detector's output (the comparator front end's level input) is the pilot's positive level.
- Stream mode: `eStreamStart(handle, scansPerRead, numAddresses, aScanList, scanRate)` returns the actual scan
  rate (the scan interval in whole 100 ns steps); `eStreamRead(handle)` returns `(aData, deviceScanBacklog,
  ljmScanBacklog)`, scans interleaved; `eStreamStop(handle)`. At most 100 kS/s in all (STREAM_SCAN_RATE_INVALID,
  2608); streaming twice is STREAM_IS_ACTIVE (2605); reading or stopping a stream that is not running is
  LJME_STREAM_NOT_RUNNING (1303).

Fault injection for the rig's own tests (the drivers never see these): `fail_with` (every call raises
LJMError with that text), `stuck` (line -> level it is stuck at), `stale_lines` (pulse-width lines whose
reset does not clear), `stop_clock()` (the clock stops, as after a T7 restart).
"""

from __future__ import annotations

import itertools
import random
import re
import threading
from typing import Any

import numpy as np


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
DEVICE_NOT_OPEN = 1224  # LJME_DEVICE_NOT_OPEN
STREAM_NOT_RUNNING = 1303  # LJME_STREAM_NOT_RUNNING
EF_TYPE_NOT_SUPPORTED = 2552
EF_PIN_TYPE_MISMATCH = 2553
EF_DIVISOR_VALUE_INVALID = 2559
EF_CAN_NOT_CHANGE_INDEX_WHILE_ENABLED = 2566
STREAM_NEED_AT_LEAST_ONE_CHN = 2600
STREAM_IS_ACTIVE = 2605
STREAM_CHN_LIST_INVALID = 2607
STREAM_SCAN_RATE_INVALID = 2608

CORE_CLOCK_HZ = 80_000_000
PWM_HZ = 1_000
PULSE_WIDTH_IN = 5
PULSE_CAPABLE = {0, 1}
"""T7 DIO lines that can run Pulse Width In."""
DIVISORS = (1, 2, 4, 8, 16, 32, 64, 256)
AIN_MIN_V, AIN_MAX_V = -10.5, 10.1
STREAM_MAX_SAMPLES_HZ = 100_000
PILOT_LOW_V = -12.0
FLOAT32 = 3

_DIO_OFFSETS = {"FIO": 0, "EIO": 8, "CIO": 16, "MIO": 20}
_LINE = re.compile(r"^(FIO|EIO|CIO|MIO)(\d+)$|^DIO(\d+)$")
_EF = re.compile(r"^DIO(\d+)_EF_(ENABLE|INDEX|OPTIONS|CLOCK_SOURCE|CONFIG_A|READ_A|READ_B|READ_A_AND_RESET)$")
_CLOCK = re.compile(r"^DIO_EF_CLOCK0_(ENABLE|DIVISOR|ROLL_VALUE|OPTIONS)$")
_AIN = re.compile(r"^AIN(\d+)$")
_WRITABLE_GLOBALS = {"AIN_ALL_RANGE", "STREAM_SETTLING_US", "STREAM_RESOLUTION_INDEX", "AIN_ALL_NEGATIVE_CH"}


def dio_number(line: str) -> int | None:
    """DIO number of a named line, e.g. EIO0 → 8."""
    m = _LINE.match(line)
    if m is None:
        return None
    if m.group(3) is not None:
        return int(m.group(3))
    return _DIO_OFFSETS[m.group(1)] + int(m.group(2))


def _line_name(dio: int) -> str:
    for prefix in ("MIO", "CIO", "EIO", "FIO"):
        if dio >= _DIO_OFFSETS[prefix]:
            return f"{prefix}{dio - _DIO_OFFSETS[prefix]}"
    return f"FIO{dio}"


def _clip(volts: float) -> float:
    return min(AIN_MAX_V, max(AIN_MIN_V, volts))


class _PulseIn:
    """One line's Pulse Width In registers."""

    def __init__(self) -> None:
        self.enable = 0
        self.index = 0
        self.clock_source = 0
        self.config_a = 0
        self.high = 0
        self.low = 0
        """The last measurement: what the registers hold until a new period or a reset."""
        self.saved_b = 0
        self.measured = False
        """A measurement has been taken since the last reset."""
        self.reset_at = -1.0


class SimulatedT7:
    """One simulated T7: its lines are wired into the world by the rack file."""

    def __init__(self, world: Any, instrument: str, serial: int) -> None:
        self.world = world
        self.instrument = instrument
        self.serial = serial
        self.dio: dict[int, int] = {}
        self.ef: dict[int, _PulseIn] = {}
        self.clock = {"ENABLE": 0, "DIVISOR": 1, "ROLL_VALUE": 0, "OPTIONS": 0}
        self.globals: dict[str, float] = {"AIN_ALL_RANGE": 10.0}
        self.random = random.Random(serial)
        """Phases of single reads and of stream starts (its own, so the world's sequence is untouched)."""
        self.stream: dict[str, Any] | None = None
        self.fail_with: str | None = None
        self.stuck: dict[str, int] = {}
        self.stale_lines: set[str] = set()

    # -- fault injection ---------------------------------------------------------------------------------

    def stop_clock(self) -> None:
        """DIO_EF_CLOCK0 stops (a T7 restarted behind the rig's back): pulse width in measures nothing."""
        with self.world.lock:
            self.clock["ENABLE"] = 0

    # -- registers ---------------------------------------------------------------------------------------

    def _unit_line(self, line: str) -> tuple[Any, str] | None:
        return self.world.wiring.lines.get((self.instrument, line))

    def write(self, name: str, value: float) -> None:
        with self.world.lock:
            n = dio_number(name)
            if n is not None:
                self._write_line(n, 1 if value else 0)
                return
            m = _CLOCK.match(name)
            if m:
                key = m.group(1)
                if key == "DIVISOR" and int(value) not in DIVISORS:
                    raise LJMError(EF_DIVISOR_VALUE_INVALID, None, "EF_DIVISOR_VALUE_INVALID")
                self.clock[key] = int(value)
                return
            m = _EF.match(name)
            if m and m.group(2) in ("ENABLE", "INDEX", "OPTIONS", "CLOCK_SOURCE", "CONFIG_A"):
                self._write_ef(int(m.group(1)), m.group(2), int(value))
                return
            if name in _WRITABLE_GLOBALS:
                self.globals[name] = value
                return
            raise LJMError(INVALID_NAME, None, f"LJME_INVALID_NAME: {name}")

    def _write_line(self, n: int, state: int) -> None:
        line = _line_name(n)
        if line in self.stuck:
            return  # the relay driver does not follow: the terminal keeps its level
        self.dio[n] = state
        wired = self._unit_line(line)
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

    def _write_ef(self, dio: int, what: str, value: int) -> None:
        ef = self.ef.setdefault(dio, _PulseIn())
        if what == "INDEX":
            if ef.enable:
                raise LJMError(EF_CAN_NOT_CHANGE_INDEX_WHILE_ENABLED, None, "EF_CAN_NOT_CHANGE_INDEX_WHILE_ENABLED")
            ef.index = value
        elif what in ("OPTIONS", "CLOCK_SOURCE"):
            ef.clock_source = value
        elif what == "CONFIG_A":
            ef.config_a = value
        elif what == "ENABLE":
            if value:
                if ef.index != PULSE_WIDTH_IN:
                    raise LJMError(EF_TYPE_NOT_SUPPORTED, None, f"EF_TYPE_NOT_SUPPORTED: index {ef.index} on DIO{dio}"
                                                                f" (the stand-in runs Pulse Width In only)")
                if dio not in PULSE_CAPABLE:
                    raise LJMError(EF_PIN_TYPE_MISMATCH, None, f"EF_PIN_TYPE_MISMATCH: DIO{dio} cannot run Pulse "
                                                               f"Width In (T7: DIO0 and DIO1)")
                ef.high = ef.low = ef.saved_b = 0
                ef.measured = False
                ef.reset_at = self.world.now
            ef.enable = 1 if value else 0

    def read(self, name: str) -> float:
        with self.world.lock:
            n = dio_number(name)
            if n is not None:
                return float(self._level(n))
            if name == "DIO_STATE":
                return float(sum(self._level(k) << k for k in range(23)))
            if name == "SERIAL_NUMBER":
                return float(self.serial)
            if name == "PRODUCT_ID":
                return 7.0
            m = _AIN.match(name)
            if m:
                return self._ain(name, self.world.now + self.random.random() / PWM_HZ)
            m = _CLOCK.match(name)
            if m:
                return float(self.clock[m.group(1)])
            m = _EF.match(name)
            if m:
                return self._read_ef(int(m.group(1)), m.group(2))
            if name in self.globals:
                return float(self.globals[name])
            raise LJMError(INVALID_NAME, None, f"LJME_INVALID_NAME: {name}")

    def _level(self, n: int) -> int:
        line = _line_name(n)
        if line in self.stuck:
            return self.stuck[line]
        return self.dio.get(n, 0)

    # -- pulse width in ----------------------------------------------------------------------------------

    def _read_ef(self, dio: int, what: str) -> float:
        ef = self.ef.setdefault(dio, _PulseIn())
        if what == "ENABLE":
            return float(ef.enable)
        if what == "INDEX":
            return float(ef.index)
        if what in ("OPTIONS", "CLOCK_SOURCE"):
            return float(ef.clock_source)
        if what == "CONFIG_A":
            return float(ef.config_a)
        self._measure(dio, ef)
        if what == "READ_B":
            return float(ef.saved_b)
        high = ef.high
        ef.saved_b = ef.low
        if what == "READ_A_AND_RESET" and _line_name(dio) not in self.stale_lines:
            ef.high = ef.low = 0
            ef.measured = False
            ef.reset_at = self.world.now
        return float(high)

    def _measure(self, dio: int, ef: _PulseIn) -> None:
        """Update the registers if the line has seen a full new period since the last reset; else they keep
        their previous values (stale)."""
        running = ef.enable and ef.index == PULSE_WIDTH_IN and self.clock["ENABLE"] and ef.clock_source == 0
        if not running:
            return
        if ef.config_a & 1 and ef.measured:
            return  # one-shot: one measurement per reset
        unit = self.world.wiring.duty.get((self.instrument, _line_name(dio)))
        duty = unit.pilot_duty() if unit is not None else None
        if duty is None or not 0.0 < duty < 100.0:
            return  # no edges: nothing new to measure
        if self.world.now - ef.reset_at < 2.0 / PWM_HZ:
            return  # a full period has not passed since the reset
        tick_hz = CORE_CLOCK_HZ / self.clock["DIVISOR"]
        period = tick_hz / PWM_HZ
        ef.high = round(period * duty / 100.0)
        ef.low = round(period) - ef.high
        ef.measured = True

    # -- analog inputs -----------------------------------------------------------------------------------

    def _pilot_v(self, unit: Any, t: float, phase0: float = 0.0) -> float:
        """The pilot's voltage at time t: +level for the PWM's high part, -12 V for its low part."""
        high = unit.pilot_high_v()
        duty = unit.pilot_duty()
        if duty is None:
            return high
        phase = ((t - phase0) * PWM_HZ) % 1.0
        return high if phase < duty / 100.0 else PILOT_LOW_V

    def _ain(self, name: str, t: float) -> float:
        wired = self.world.wiring.ain.get((self.instrument, name))
        if wired is None:
            return 0.0
        unit, kind, ratio = wired
        if kind == "peak":
            return _clip(unit.pilot_high_v() / ratio)
        return _clip(self._pilot_v(unit, t) / ratio)

    # -- stream --------------------------------------------------------------------------------------------

    def stream_start(self, scans_per_read: int, addresses: list[int], scan_rate: float) -> float:
        with self.world.lock:
            if self.stream is not None:
                raise LJMError(STREAM_IS_ACTIVE, None, "STREAM_IS_ACTIVE")
            if not addresses:
                raise LJMError(STREAM_NEED_AT_LEAST_ONE_CHN, None, "STREAM_NEED_AT_LEAST_ONE_CHN")
            if any(a % 2 or not 0 <= a < 28 for a in addresses):
                raise LJMError(STREAM_CHN_LIST_INVALID, None, "STREAM_CHN_LIST_INVALID: the stand-in streams AIN0-13")
            if scan_rate <= 0 or scan_rate * len(addresses) > STREAM_MAX_SAMPLES_HZ:
                raise LJMError(STREAM_SCAN_RATE_INVALID, None,
                               f"STREAM_SCAN_RATE_INVALID: {scan_rate:g} scans/s x {len(addresses)} channels")
            # the T-Series register notes: roll = 80 MHz / (8 x rate) - 1, actual rate = 80 MHz / (8 x (roll + 1))
            roll = max(0, int(CORE_CLOCK_HZ / (8 * scan_rate)) - 1)
            interval = 8 * (roll + 1) / CORE_CLOCK_HZ
            self.stream = {"addresses": list(addresses), "per_read": int(scans_per_read), "dt": interval,
                           "t0": self.world.now, "phase": self.random.random() / PWM_HZ, "done": 0}
            return 1.0 / interval

    def stream_read(self) -> tuple[list[float], int, int]:
        with self.world.lock:
            s = self.stream
            if s is None:
                raise LJMError(STREAM_NOT_RUNNING, None, "LJME_STREAM_NOT_RUNNING")
            per_read, dt, start = s["per_read"], s["dt"], s["t0"] + s["done"] * s["dt"]
            channels = []
            for address in s["addresses"]:
                wired = self.world.wiring.ain.get((self.instrument, f"AIN{address // 2}"))
                if wired is None:
                    channels.append(np.zeros(per_read))
                    continue
                unit, kind, ratio = wired
                high, duty = unit.pilot_high_v(), unit.pilot_duty()
                if kind == "peak" or duty is None:
                    level = _clip(high / ratio)
                    channels.append(np.full(per_read, level))
                    continue
                hi, lo, d = _clip(high / ratio), _clip(PILOT_LOW_V / ratio), duty / 100.0
                p0, step = ((start - s["phase"]) * PWM_HZ) % 1.0, dt * PWM_HZ
                phase = (p0 + np.arange(per_read) * step) % 1.0  # where in its period each scan lands
                channels.append(np.where(phase < d, hi, lo))
            s["done"] += per_read
            # interleaved as a real stream delivers them: scan 0's channels, then scan 1's...
            return np.column_stack([np.broadcast_to(c, per_read) for c in channels]).ravel().tolist(), 0, 0

    def stream_stop(self) -> None:
        with self.world.lock:
            if self.stream is None:
                raise LJMError(STREAM_NOT_RUNNING, None, "LJME_STREAM_NOT_RUNNING")
            self.stream = None


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
        raise LJMError(DEVICE_NOT_OPEN, None, "LJME_DEVICE_NOT_OPEN")
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
        dev = _handles.pop(handle, None)
        if dev is None:
            raise LJMError(DEVICE_NOT_OPEN, None, "LJME_DEVICE_NOT_OPEN")
        dev.stream = None  # closing a handle stops its stream


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


def namesToAddresses(numFrames: int, aNames: list[str]) -> tuple[list[int], list[int]]:  # noqa: N802,N803
    """Modbus addresses and types of register names (AINn: address 2n, FLOAT32), as LJM's constants give them."""
    addresses, types = [], []
    for name in aNames[:numFrames]:
        m = _AIN.match(name)
        if m is None:
            raise LJMError(INVALID_NAME, None, f"LJME_INVALID_NAME: {name}")
        addresses.append(2 * int(m.group(1)))
        types.append(FLOAT32)
    return addresses, types


def eStreamStart(handle: int, scansPerRead: int, numAddresses: int, aScanList: list[int],  # noqa: N802,N803
                 scanRate: float) -> float:  # noqa: N803
    return _device(handle).stream_start(scansPerRead, list(aScanList[:numAddresses]), scanRate)


def eStreamRead(handle: int) -> tuple[list[float], int, int]:  # noqa: N802
    return _device(handle).stream_read()


def eStreamStop(handle: int) -> None:  # noqa: N802
    _device(handle).stream_stop()
