"""The pieces of rig/safety.py on their own: the load guard, the unsafe marker, instrument retries, the signal
shield and the rack-file keys."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from safety_harness import ROOT, SIM_RACK

from rig import safety
from rig.budgets import load_manifest
from rig.config import RackFileError, load_rack
from rig.fixtures.safety import is_rig_fault
from rig.instruments.errors import InstrumentError, InstrumentGarbage, InstrumentTimeout
from rig.rack import open_rack
from rig.vehicle import Vehicle

# -- the load guard -------------------------------------------------------------------------------------------------


class FakeRack:
    def __init__(self) -> None:
        self.period = 0.5
        self.units = {"wc1": SimpleNamespace(capability_a=32.0)}
        self.vehicles = {"wc1": Vehicle(demand_a=80, response_delay_s=5.0)}
        self.events: list[tuple[str, str | None, dict[str, Any]]] = []

    def _event(self, action: str, unit: str | None = None, **data: Any) -> None:
        self.events.append((action, unit, data))


def test_load_guard_bounds_by_capability_and_recent_pilot_offers() -> None:
    rack = FakeRack()
    guard = safety.LoadGuard(rack)  # type: ignore[arg-type]
    assert guard.clamp("wc1", 20.0, 0.0, 24.0) == 20.0
    assert guard.clamp("wc1", 48.0, 0.5, 48.0) == 32.0  # never above the unit's capability
    assert rack.events[-1][0] == "load_clamped" and rack.events[-1][2]["allowed_a"] == 32.0
    # the pilot drops to 10 A: a lazy vehicle may keep drawing the old offer for its response delay...
    assert guard.clamp("wc1", 32.0, 1.0, 10.0) == 32.0
    assert guard.clamp("wc1", 32.0, 5.5, 10.0) == 32.0
    # ...but not beyond it
    assert guard.clamp("wc1", 32.0, 8.0, 10.0) == 10.0
    assert guard.clamp("wc1", 10.0, 8.5, None) == 10.0  # PWM gone: still within the window of the 10 A offer
    assert guard.clamp("wc1", 10.0, 20.0, None) == 0.0
    assert [e[0] for e in rack.events].count("load_clamped") == 3


# -- the unsafe marker ----------------------------------------------------------------------------------------------


def test_marker_is_written_before_leaving_and_removed_when_safe(tmp_path: Path) -> None:
    path = safety.marker_path(tmp_path, "lab rack/1")
    assert path.name == ".rack-lab_rack_1.unsafe"
    marker = safety.RackSafety(path, "lab rack/1", tmp_path / "t.jsonl")
    assert marker.previous() is None
    marker.leaving("plug wc1")
    marker.leaving("trip wc2")  # already unsafe: the first reason stays
    data = json.loads(path.read_text())
    assert data["pid"] == os.getpid() and data["reason"] == "plug wc1" and data["trace"].endswith("t.jsonl")
    marker.restored(["load1: no answer"])
    assert json.loads(path.read_text())["problems"] == ["load1: no answer"]
    text = safety.describe_previous(marker.previous() or {}, "lab rack/1")
    assert "by an earlier test of this run" in text and "could not restore: load1: no answer" in text
    marker.restored([])
    assert not path.exists() and not marker.unsafe


def test_a_marker_of_a_live_run_is_told_from_a_dead_one(tmp_path: Path) -> None:
    marker = safety.RackSafety(tmp_path / "m", "r")
    here = {"pid": os.getppid(), "host": os.uname().nodename, "proc_start": safety._proc_start(os.getppid())}
    assert marker.held_by_another_live_run(here)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    gone = {**here, "pid": int(dead.stdout), "proc_start": None}
    assert not marker.held_by_another_live_run(gone)
    assert not marker.held_by_another_live_run({**here, "proc_start": "1"})  # the pid was reused
    assert not marker.held_by_another_live_run({**here, "pid": os.getpid()})  # our own: restore it
    (tmp_path / "m").write_text("{not json")
    assert marker.previous() == {"pid": None, "since": "unknown", "reason": "unreadable marker"}


def test_a_lab_rack_in_use_by_another_live_run_is_not_touched(tmp_path: Path) -> None:
    config = load_rack(ROOT / "racks" / "lab-example.toml")
    manifest = load_manifest(str(ROOT / config.firmware.manifest))
    marker = safety.marker_path(tmp_path, config.name)
    parent = os.getppid()  # alive, and not us
    marker.write_text(json.dumps({"pid": parent, "host": socket.gethostname(),
                                  "proc_start": safety._proc_start(parent), "reason": "plug wc1"}))
    trace = tmp_path / "traces" / "t.jsonl"
    with pytest.raises(safety.RackUnsafe, match="another run is using this rack"), \
            open_rack(config, manifest, trace):
        pass  # pragma: no cover - refused before any instrument is opened
    assert marker.exists() and not trace.exists()


# -- retries --------------------------------------------------------------------------------------------------------


class Flaky:
    name = "load1"

    def __init__(self, failures: int, reopen_fails: bool = False) -> None:
        self.failures = failures
        self.calls: list[str] = []
        self.reopen_fails = reopen_fails

    def measure(self) -> float:
        self.calls.append("measure")
        if self.failures:
            self.failures -= 1
            raise InstrumentTimeout(self.name, "no answer to 'MEAS?'")
        return 1.5

    def command(self, line: str) -> str:
        self.calls.append(line)
        raise InstrumentGarbage(self.name, f"reply to {line!r} has no prompt")

    def reopen(self) -> None:
        self.calls.append("reopen")
        if self.reopen_fails:
            raise InstrumentError(self.name, "cannot open TCPIP::x: refused")


def test_a_failed_call_is_retried_once_on_a_fresh_connection() -> None:
    seen: list[tuple[str, str]] = []
    driver = Flaky(failures=1)
    guard = safety.Guarded(driver, "load1", 1, lambda name, method, exc: seen.append((name, method)))
    assert guard.measure() == 1.5
    assert driver.calls == ["measure", "reopen", "measure"] and seen == [("load1", "measure")]
    assert guard.name == "load1" and guard.driver is driver


def test_still_failing_after_the_retry_is_broken_with_the_instrument_named() -> None:
    driver = Flaky(failures=5)
    with pytest.raises(InstrumentTimeout) as err:
        safety.Guarded(driver, "load1", 1).measure()
    assert str(err.value).startswith("load1: no answer") and "still failing after 1 retry" in str(err.value)
    assert driver.calls == ["measure", "reopen", "measure"]
    with pytest.raises(InstrumentError, match="reopening the connection failed: cannot open"):
        safety.Guarded(Flaky(failures=5, reopen_fails=True), "load1", 2).measure()
    zero = Flaky(failures=1)
    with pytest.raises(InstrumentTimeout):
        safety.Guarded(zero, "load1", 0).measure()
    assert zero.calls == ["measure"]


@pytest.mark.parametrize(("line", "retried"), [("gpm status", True), ("gpm limit 60", True),
                                               ("gpm pair wc2 secret-pass", True), ("gpm form wc2,wc3", False),
                                               ("gpm add wc4", False), ("gpm reset", False),
                                               ("gpm remove wc2", False)])
def test_console_commands_that_change_the_network_are_never_repeated(line: str, retried: bool) -> None:
    driver = Flaky(failures=0)
    with pytest.raises(InstrumentGarbage):
        safety.Guarded(driver, "console1", 1, retryable=safety.console_retryable).command(line)
    assert driver.calls.count(line) == (2 if retried else 1)


# -- signals --------------------------------------------------------------------------------------------------------


def to_me(sig: int) -> None:
    """The signal to this (main) thread, where the handler runs: no other thread of the test process takes it."""
    signal.pthread_kill(threading.main_thread().ident or 0, sig)


def test_a_signal_during_the_safe_state_waits_until_it_is_reached(monkeypatch: pytest.MonkeyPatch) -> None:
    said: list[str] = []
    monkeypatch.setattr(safety, "say", said.append)
    before = signal.getsignal(signal.SIGTERM)
    restore = safety.install_signal_handlers()
    done = []
    try:
        with pytest.raises(safety.Interrupted, match="SIGTERM received"), safety.shielded():
            to_me(signal.SIGTERM)
            done.append("safe state reached")
        assert done == ["safe state reached"]
        # the run is stopping: a further signal says so in one line and stops nothing, inside a shield or not
        with safety.shielded():
            to_me(signal.SIGHUP)
            done.append("safe again")
        to_me(signal.SIGINT)
        assert done == ["safe state reached", "safe again"]
        assert said == ["rig: SIGTERM received: stopping; the rack is put in its safe state",  # when delivered
                        "rig: SIGHUP received: already stopping; the rack is being put in its safe state",
                        "rig: SIGINT received: already stopping; the rack is being put in its safe state"]
        assert isinstance(safety.Interrupted(signal.SIGINT), KeyboardInterrupt)
    finally:
        restore()
    assert signal.getsignal(signal.SIGTERM) is before
    restore = safety.install_signal_handlers()  # a new run stops again on its first signal
    try:
        with pytest.raises(safety.Interrupted, match="SIGHUP received"):
            to_me(signal.SIGHUP)
    finally:
        restore()


def test_the_shield_blocks_the_signals_until_the_rack_is_safe() -> None:
    """In a process of one thread, the signal waits in the kernel (pthread_sigmask) and is delivered at the end."""
    code = ("import os, signal\n"
            "from rig import safety\n"
            "safety.install_signal_handlers()\n"
            "try:\n"
            "    with safety.shielded():\n"
            "        os.kill(os.getpid(), signal.SIGHUP)\n"
            "        print('pending while shielded:', signal.SIGHUP in signal.sigpending())\n"
            "except safety.Interrupted as exc:\n"
            "    print('then:', exc)\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.stdout.splitlines() == ["pending while shielded: True",
                                        "then: SIGHUP received: stopping; the rack is put in its safe state"]
    assert proc.stderr == "rig: SIGHUP received: stopping; the rack is put in its safe state\n"


# -- classification, rack-file keys ----------------------------------------------------------------------------


def test_what_is_a_rig_fault() -> None:
    assert is_rig_fault(InstrumentTimeout("load1", "x")) and is_rig_fault(KeyError("wc9"))
    assert not is_rig_fault(safety.ProtectionTrip("over")) and not is_rig_fault(AssertionError())
    with pytest.raises(pytest.fail.Exception) as failed:
        pytest.fail("check failed")
    assert not is_rig_fault(failed.value) and not is_rig_fault(safety.Interrupted(signal.SIGTERM))


def test_trip_level_and_retries_in_the_rack_file(tmp_path: Path) -> None:
    assert load_rack(SIM_RACK).trip_level_a == 300 and load_rack(SIM_RACK).instrument_retries == 1
    for override, key in (({"trip_level_a": 100}, "trip_level_a: trip level 100 A is under the network limit"),
                          ({"trip_level_a": -1}, "trip_level_a: Input should be greater than 0"),
                          ({"instrument_retries": 7}, "instrument_retries: Input should be less than or equal to 3")):
        text = SIM_RACK.read_text().replace("trip_level_a = 300\n", "").replace("instrument_retries = 1\n", "")
        name, value = next(iter(override.items()))
        path = tmp_path / "rack.toml"
        path.write_text(f"{name} = {value}\n" + text)
        with pytest.raises(RackFileError) as err:
            load_rack(path)
        assert str(err.value) == f"{path}: {key}" or str(err.value).startswith(f"{path}: {key}"), str(err.value)
