"""Nothing lost, and never left unsafe: SIGKILL, SIGTERM and Ctrl-C in the middle of a scenario.

tests/safety_plans/plan_long.py runs in a pytest subprocess: two short tests that finish, then a scenario with
vehicles charging and a Wi-Fi antenna cut that runs until it is stopped.

- SIGKILL cannot be caught. What the rig promises: the trace on disk ends at most one second of rack time
  before the kill (every line is flushed as it is taken), the finished tests are in the Allure results, and the
  rack's unsafe marker is left behind, so the next run restores the safe state before anything else and says so.
  Rack time at the kill is measured independently of the trace writer: the plan publishes the simulated world's
  clock in a shared memory page each time the clock advances, before the tick's sample is taken.
- SIGTERM and SIGINT are caught: the scenario stops, the rack is put in its safe state (checked in the simulated
  world after the fixtures are torn down), the marker is removed and the trace ends with the safe state.
"""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safety_harness import ROOT, allure_results, run_pytest

from rig.trace import read_trace

PLAN = "tests/safety_plans/plan_long.py"
MAX_LOSS_S = 1.0


def start(tmp: Path) -> tuple[subprocess.Popen[str], Path, Path]:
    clock = tmp / "clock"
    clock.write_bytes(b"\0" * 8)
    cmd = [sys.executable, "-m", "pytest", PLAN, "-q", "-p", "no:cacheprovider", f"--alluredir={tmp / 'results'}",
           f"--trace-dir={tmp / 'traces'}"]
    env = {**os.environ, "RIG_PROBE_DIR": str(tmp), "RIG_CLOCK_FILE": str(clock)}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return proc, tmp / "traces" / "test_long_scenario.jsonl", clock


def wait_for_samples(proc: subprocess.Popen[str], trace: Path, lines: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if trace.exists() and trace.stat().st_size > lines * 200:
            return
        if proc.poll() is not None:
            pytest.fail(f"the plan ended early: {proc.communicate()[0][-3000:]}")
        time.sleep(0.05)
    proc.kill()
    pytest.fail("the long scenario did not get going")


def rack_time(clock: Path) -> float:
    return struct.unpack("<d", clock.read_bytes()[:8])[0]


def test_sigkill_loses_at_most_a_second_and_the_next_run_restores_the_safe_state(tmp_path: Path) -> None:
    proc, trace_path, clock = start(tmp_path)
    wait_for_samples(proc, trace_path, 2000)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    killed_at = rack_time(clock)  # the last time the world's clock advanced before the process died

    trace = read_trace(trace_path)  # parses, even if the kill cut the last line short
    last = trace.samples[-1].t
    assert killed_at > 100 and 0 <= killed_at - last <= MAX_LOSS_S, (killed_at, last)
    ticks = [round(b.t - a.t, 3) for a, b in zip(trace.samples, trace.samples[1:], strict=False)]
    assert set(ticks) == {trace.header["period_s"]}, "samples are missing inside the trace"
    assert [e.action for e in trace.events][-2:] == ["plug", "cut_wifi"]

    # every test that finished is in the report: allure-pytest writes a result when a test ends
    results = allure_results(tmp_path / "results")
    assert {n: r["status"] for n, r in results.items()} == {"test_short_one": "passed", "test_short_two": "passed"}

    marker = tmp_path / ".rack-sim-6.unsafe"
    left = json.loads(marker.read_text())
    assert left["pid"] == proc.pid and left["reason"] == "plug wc1", left

    again = run_pytest(tmp_path, PLAN, "-k", "short_two")
    assert again.returncode == 0, again.stdout[-3000:]
    assert f"rig: rack sim-6 was left unsafe by an earlier run (pid {proc.pid}, at " in again.stdout, again.stdout
    assert "after plug wc1); restoring the safe state" in again.stdout
    restored = read_trace(tmp_path / "traces" / "test_short_two.jsonl")
    assert [e.action for e in restored.events][:2] == ["restore_unsafe", "safe_state"]  # before anything else
    assert restored.events[0].data["pid"] == proc.pid
    assert not marker.exists()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_caught_signal_leaves_the_rack_safe(tmp_path: Path, sig: signal.Signals) -> None:
    proc, trace_path, _ = start(tmp_path)
    wait_for_samples(proc, trace_path, 500)
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, out[-3000:]
    assert f"{sig.name} received: stopping; the rack is put in its safe state" in out, out[-3000:]
    units = json.loads((tmp_path / "test_long_scenario.json").read_text())["units"]
    for name, s in units.items():
        assert s["powered"] and s["wifi_up"] and not (s["b_closed"] or s["c_closed"] or s["load_on"]), (name, s)
    trace = read_trace(trace_path)
    assert trace.events[-1].action == "safe_state" and trace.events[-1].data["problems"] == []
    assert not (tmp_path / ".rack-sim-6.unsafe").exists()
