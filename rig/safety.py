"""Never leave the rack unsafe: the unsafe marker, the protection interlock, the load guard, instrument retries
and signal handling.

A rack draws mains current through contactors and runs unattended at night, so every way out of a test puts it
in its safe state (loads off, every pilot back to state A, breaker relays released so the units are powered,
Wi-Fi relays released): the end of a test, an exception, Ctrl-C, SIGTERM/SIGHUP, an instrument that fails. What
cannot be caught (SIGKILL, a power cut of the lab PC) is covered by a marker file: written *before* the rack
leaves its safe state, removed when `Rack.safe()` succeeds. A run that finds one restores the safe state before
anything else and says so.

Rig faults are not firmware faults: an instrument error breaks a test, it never fails it. A driver call that
fails may be retried on a freshly opened connection (`instrument_retries` in the rack file); commands that are
not safe to repeat are never retried, and no firmware check is ever re-run.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import math
import os
import re
import signal
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rig.instruments.errors import InstrumentError
from rig.secrets import redact

if TYPE_CHECKING:
    from rig.rack import Rack
    from rig.trace import Event, Sample

log = logging.getLogger("rig.safety")

notices: list[str] = []
"""Things the operator must read (an unsafe rack found at start, a rack left unsafe); the pytest plugin prints
them on the terminal as they come, outside pytest's output capture."""


def notice(message: str) -> None:
    message = redact(message)
    log.warning(message)
    notices.append(message)


class RackUnsafe(InstrumentError):
    """The rack could not be put in its safe state: a rig fault, and the reason to stop the night."""


# -- the unsafe marker ---------------------------------------------------------------------------------------


def marker_path(state_dir: Path, rack_name: str) -> Path:
    """The marker of a rack in `state_dir`; a run folder's racks are marked in the reports folder above it (where
    every later run looks), whichever way the plan opened the rack."""
    from rig.runs import state_dir as rack_state_dir

    return rack_state_dir(state_dir) / f".rack-{re.sub(r'[^A-Za-z0-9_.-]', '_', rack_name)}.unsafe"


def _proc_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), to tell a live pid from a reused one."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[-1].split()[19]


def _alive(pid: int, proc_start: str | None) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return proc_start is None or _proc_start(pid) in (None, proc_start)


class RackSafety:
    """The marker file of one rack: written before the rack leaves its safe state, removed once it is safe."""

    def __init__(self, path: Path | None, rack_name: str, trace_path: Path | None = None) -> None:
        self.path = path
        self.rack_name = rack_name
        self.trace_path = trace_path
        self.unsafe = False
        self.problems: list[str] = []

    def previous(self) -> dict[str, Any] | None:
        """What an earlier run (or test) wrote in the marker, if the rack was left unsafe."""
        if self.path is None or not self.path.exists():
            return None
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError
        except (OSError, ValueError):
            return {"pid": None, "since": "unknown", "reason": "unreadable marker"}
        return data

    def held_by_another_live_run(self, previous: dict[str, Any]) -> bool:
        pid = previous.get("pid")
        return (isinstance(pid, int) and pid != os.getpid() and previous.get("host") == socket.gethostname()
                and _alive(pid, previous.get("proc_start")))

    def leaving(self, reason: str) -> None:
        """Called before an action that takes the rack out of its safe state (plug, trip, cut Wi-Fi)."""
        if self.unsafe:
            return
        self.unsafe = True
        self._write(reason)

    def _write(self, reason: str, problems: list[str] | None = None) -> None:
        if self.path is None:
            return
        data = {
            "rack": self.rack_name,
            "pid": os.getpid(),
            "proc_start": _proc_start(os.getpid()),
            "host": socket.gethostname(),
            "since": time.strftime("%Y-%m-%d %H:%M:%S %z"),
            "reason": redact(reason),
            "trace": str(self.trace_path) if self.trace_path else None,
            "problems": [redact(p) for p in problems or []],
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + f".{os.getpid()}.tmp")
        with tmp.open("w", encoding="utf-8") as f:
            json.dump(data, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def restored(self, problems: list[str]) -> None:
        """After `Rack.safe()`: the marker goes when it succeeded, and says what is left when it did not."""
        self.problems = list(problems)
        if problems:
            self.unsafe = True
            self._write("the safe state could not be restored", problems)
            return
        self.unsafe = False
        if self.path is not None:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()


def describe_previous(previous: dict[str, Any], rack_name: str) -> str:
    pid = previous.get("pid")
    who = "an earlier test of this run" if pid == os.getpid() else "an earlier run"
    where = f" ({', '.join(f'{k} {v}' for k, v in (('pid', pid), ('at', previous.get('since'))) if v)}"
    reason = previous.get("reason")
    where += f", after {reason}" if reason else ""
    problems = previous.get("problems") or []
    where += f"; it could not restore: {'; '.join(problems)}" if problems else ""
    return f"rack {rack_name} was left unsafe by {who}{where}); restoring the safe state"


# -- the protection interlock --------------------------------------------------------------------------------


class ProtectionTrip(AssertionError):
    """The measured network current went above the panel's trip level: the firmware let the network draw what
    the panel cannot carry, so the test fails (it is not broken), with the evidence."""


class ProtectionInterlock:
    """A rack listener: above the trip level, the rack goes to its safe state at once and the test fails."""

    def __init__(self, trip_level_a: float) -> None:
        self.trip_level_a = trip_level_a
        self.tripped: dict[str, Any] | None = None

    def on_sample(self, rack: Rack, sample: Sample) -> None:
        currents = {u: v for u, v in sample.current.items() if v is not None and math.isfinite(v)}
        total = sum(currents.values())
        if total <= self.trip_level_a or self.tripped is not None:
            return
        self.tripped = {"t": sample.t, "total_a": round(total, 3), "trip_level_a": self.trip_level_a,
                        "currents": {u: round(v, 3) for u, v in currents.items()}}
        rack._event("protection_trip", None, **self.tripped)
        with shielded():
            problems = rack.safe()
        per_unit = ", ".join(f"{u} {v:.1f} A" for u, v in sorted(currents.items()))
        after = f"; the safe state could not be fully restored: {'; '.join(problems)}" if problems else ""
        raise ProtectionTrip(
            f"protection interlock: measured network current {total:.1f} A at t={sample.t:.1f} s is above the "
            f"panel's trip level {self.trip_level_a:g} A; the rack was put in its safe state at once{after}. "
            f"Per unit: {per_unit}")

    def on_event(self, rack: Rack, event: Event) -> None:
        pass


# -- the load guard ------------------------------------------------------------------------------------------


class LoadGuard:
    """The rig never commands a load above the unit's capability, nor above what the unit's pilot offered.

    A vehicle may *want* more than the unit gives (that is the point of Power Sharing), and a lazy vehicle keeps
    drawing a lowered offer for its response delay, as J1772 allows: so the bound is the highest offer measured
    within the vehicle's response delay, never more than the unit's capability. A setpoint above it is a rig bug;
    it is clamped and written to the trace as `load_clamped`.
    """

    def __init__(self, rack: Rack) -> None:
        self.rack = rack
        self._offers: dict[str, deque[tuple[float, float]]] = {}

    def clamp(self, unit: str, amps: float, now: float, offer: float | None) -> float:
        rack = self.rack
        vehicle = rack.vehicles.get(unit)
        window = (vehicle.response_delay_s if vehicle is not None else 0.0) + 2 * rack.period
        history = self._offers.setdefault(unit, deque())
        history.append((now, 0.0 if offer is None else offer))
        while len(history) > 1 and history[0][0] < now - window - 1e-9:
            history.popleft()
        allowed = min(rack.units[unit].capability_a, max(o for _, o in history))
        if amps > allowed + 1e-6:
            rack._event("load_clamped", unit, wanted_a=round(amps, 3), allowed_a=round(allowed, 3))
            return allowed
        return amps


# -- instrument retries --------------------------------------------------------------------------------------

_NOT_REPEATABLE = re.compile(r"^\s*gpm\s+(form|add|reset|remove)\b")
"""Console commands that change the network: sent twice they would pair, reset or remove twice."""


def console_retryable(method: str, args: tuple[Any, ...]) -> bool:
    if method != "command":
        return True
    return bool(args) and isinstance(args[0], str) and not _NOT_REPEATABLE.match(args[0])


def _after_retry(first: InstrumentError, last: InstrumentError, retries: int, reopen_failed: bool) -> InstrumentError:
    if reopen_failed:
        message = f"{first.message}; reopening the connection failed: {last.message}"
    else:
        message = f"{last.message} (still failing after {retries} retr{'y' if retries == 1 else 'ies'} with a " \
                  f"fresh connection)"
    try:
        error = type(last)(last.instrument, message)
    except TypeError:  # an error type with its own constructor
        error = InstrumentError(last.instrument, message)
    return error


class Guarded:
    """A driver whose failed calls are retried once (or `retries` times) on a freshly opened connection.

    The driver stays as it is (it knows nothing of retries); each retry is reported through `notify`, which
    the rack writes into the trace as an `instrument_retry` event.
    """

    def __init__(self, driver: Any, name: str, retries: int,
                 notify: Callable[[str, str, InstrumentError], None] | None = None,
                 retryable: Callable[[str, tuple[Any, ...]], bool] | None = None) -> None:
        self._driver = driver
        self._name = name
        self._retries = retries
        self.notify = notify
        self._retryable = retryable

    @property
    def driver(self) -> Any:
        return self._driver

    def __repr__(self) -> str:
        return f"Guarded({self._driver!r}, retries={self._retries})"

    def __getattr__(self, attr: str) -> Any:
        value = getattr(self._driver, attr)
        if attr.startswith("_") or attr in ("close", "reopen") or not callable(value):
            return value
        return functools.partial(self._call, attr)

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True  # pytest shows the driver's frame, not this wrapper's
        first: InstrumentError | None = None
        attempt = 0
        while True:
            try:
                return getattr(self._driver, method)(*args, **kwargs)
            except InstrumentError as exc:
                first = first or exc
                can_retry = hasattr(self._driver, "reopen") and (
                    self._retryable is None or self._retryable(method, args))
                if attempt >= self._retries or not can_retry:
                    if attempt:
                        raise _after_retry(first, exc, attempt, False) from None
                    raise
                attempt += 1
                if self.notify is not None:
                    self.notify(self._name, method, exc)
                try:
                    self._driver.reopen()
                except InstrumentError as again:
                    raise _after_retry(first, again, attempt, True) from None


def guard_instruments(inst: Any, retries: int, notify: Callable[[str, str, InstrumentError], None]) -> list[Guarded]:
    """Wrap every driver of an `Instruments` in place; returns the wrappers (their `notify` can be re-aimed)."""
    guards: list[Guarded] = []
    for role in ("loads", "analyzers", "labjacks", "consoles", "ev_emulators", "apis"):
        drivers = getattr(inst, role, None)
        if not isinstance(drivers, dict):
            continue
        for name, driver in list(drivers.items()):
            if isinstance(driver, Guarded):
                guards.append(driver)
                continue
            label = getattr(driver, "name", name)
            guard = Guarded(driver, label, retries, notify, console_retryable if role == "consoles" else None)
            drivers[name] = guard
            guards.append(guard)
    return guards


# -- signals -------------------------------------------------------------------------------------------------


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class Interrupted(KeyboardInterrupt):
    """SIGTERM, SIGHUP or SIGINT: raised in the main thread, so every `finally` runs and the rack is left safe."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.name = signal_name(signum)
        super().__init__(f"{self.name} received: stopping; the rack is put in its safe state")


def _say_on_stderr(line: str) -> None:
    with contextlib.suppress(OSError):
        os.write(2, (line + "\n").encode("utf-8", "replace"))


say: Callable[[str], None] = _say_on_stderr
"""Where the one line each signal prints goes. It is called from the signal handler, so it must not touch a
buffered stream the interrupted code may be writing to: os.write only. The pytest plugin points it at the
terminal pytest started on, outside pytest's output capture."""

received: list[tuple[float, str]] = []
"""(monotonic time, signal name) of every signal received since the handlers were installed."""

REPEAT_S = 1.0
"""The same signal again within this time says nothing new (a Ctrl-C reaches the whole process group, and a
parent such as `rig gate` may pass it on too)."""

_shield_depth = 0
_pending: list[int] = []
_stopping: int | None = None
"""The signal the run is stopping for; further signals are said and otherwise ignored until the run ends."""


def _handler(signum: int, frame: Any) -> None:
    global _stopping
    name = signal_name(signum)
    now = time.monotonic()
    first = received[0] if received else None
    received.append((now, name))
    if _stopping is not None or _pending:
        if not (first and first[1] == name and now - first[0] < REPEAT_S):  # the same signal twice at once
            say(f"rig: {name} received: already stopping; the rack is being put in its safe state")
        return
    if _shield_depth > 0:  # the rack is being made safe: let it finish, stop right after
        _pending.append(signum)
        say(f"rig: {name} received: stopping as soon as the rack is in its safe state")
        return
    _stopping = signum
    say(f"rig: {name} received: stopping; the rack is put in its safe state")
    raise Interrupted(signum)


HANDLED_SIGNALS = tuple(s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None),
                                    signal.SIGINT) if s is not None)


@contextlib.contextmanager
def shielded() -> Iterator[None]:
    """While the rack is made safe, SIGTERM, SIGHUP and SIGINT wait: they are blocked in this thread
    (`pthread_sigmask`) and delivered when the block ends, and one that another thread caught (the C-level
    handler may run in any thread that does not block it; Python runs the handler in the main thread) is held
    by the handler. So `Rack.safe()` always finishes and writes `safe_state`; the run stops right after, for
    the first signal. Further signals during the stop only print their line."""
    global _shield_depth, _stopping
    blocked = None
    if hasattr(signal, "pthread_sigmask") and threading.current_thread() is threading.main_thread():
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED_SIGNALS)
    _shield_depth += 1
    try:
        yield
    finally:
        _shield_depth -= 1
        if blocked is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)  # what came meanwhile is delivered now
        if _shield_depth == 0 and _pending:
            signum = _pending[0]
            _pending.clear()
            if _stopping is None:
                _stopping = signum
                raise Interrupted(signum)


def install_signal_handlers() -> Callable[[], None]:
    """Make SIGTERM, SIGHUP and SIGINT raise `Interrupted` in the main thread (the first one; later ones print
    their line only); returns what restores the previous handlers. Does nothing outside the main thread
    (signals are only delivered there)."""
    global _stopping
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    _stopping = None
    _pending.clear()
    received.clear()
    previous = {}
    for sig in HANDLED_SIGNALS:
        try:
            previous[sig] = signal.signal(sig, _handler)
        except (OSError, ValueError):
            continue

    def restore() -> None:
        global _stopping
        for sig, old in previous.items():
            with contextlib.suppress(OSError, ValueError, TypeError):
                signal.signal(sig, old)
        _stopping = None

    return restore


# -- bringing a rack up and down -----------------------------------------------------------------------------


def refuse_if_in_use(config: Any, state_dir: Path) -> None:
    """Before any instrument is opened: a lab rack whose marker belongs to another run that is still alive is
    that run's rack, and is not touched. (A simulated rack is never shared: each run has its own world.)"""
    if config.simulated:
        return
    marker = RackSafety(marker_path(state_dir, config.name), config.name)
    previous = marker.previous()
    if previous is not None and marker.held_by_another_live_run(previous):
        raise RackUnsafe(config.name, f"is marked unsafe by pid {previous.get('pid')}, which is still running: "
                                      f"another run is using this rack ({marker.path}); not touching it")


def take_charge(rack: Rack, state_dir: Path) -> None:
    """Give the rack its marker, and if an earlier run (or test) left it unsafe, restore the safe state before
    anything else and say so. A simulated rack marked by another live run is left to it (that run has its own
    simulated world, and its marker is not ours to remove)."""
    name = rack.config.name
    safety = RackSafety(marker_path(state_dir, name), name, rack.writer.path)
    previous = safety.previous()
    if previous is not None and safety.held_by_another_live_run(previous):
        return
    rack.safety = safety
    if previous is None:
        return
    notice(describe_previous(previous, name))
    rack._event("restore_unsafe", None, **{k: previous.get(k) for k in ("pid", "since", "reason", "problems")})
    with shielded():
        problems = rack.safe()
    if problems:
        raise RackUnsafe(name, f"was left unsafe and its safe state cannot be restored: {'; '.join(problems)}")


def retry_notifier(rack: Rack) -> Callable[[str, str, InstrumentError], None]:
    """What a guarded driver calls before it retries: an `instrument_retry` event in the trace and a log line."""

    def notify(instrument: str, method: str, exc: InstrumentError) -> None:
        log.warning("%s: %s failed (%s); retrying with a fresh connection", instrument, method, exc.message)
        rack._event("instrument_retry", None, instrument=instrument, call=method, error=exc.message)

    return notify


def leave_safe(rack: Rack) -> list[str]:
    """The last thing done with a rack on every way out: its safe state, with a second signal deferred until
    it is reached. A rack that could not be made safe keeps its marker and the operator is told."""
    with shielded():
        problems = rack.safe()
    if problems:
        notice(f"rack {rack.config.name} is left UNSAFE: {'; '.join(problems)}; the next run restores its safe "
               f"state first")
    return problems
