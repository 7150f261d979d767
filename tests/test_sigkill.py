"""Nothing lost, never left unsafe, and the night's record tells how it ended: kill -9, Ctrl-C, SIGHUP, SIGTERM,
and a second signal while the rack is being made safe, in the middle of a scenario (issue 12, cases 1, 4, 5).

tests/safety_plans/plan_long.py runs in a pytest subprocess with its own reports folder (`--reports`), exactly as
`make nightly` writes `reports/`: two short tests that finish, then a scenario with vehicles charging and a
Wi-Fi antenna cut that runs until it is stopped.

- SIGKILL cannot be caught. What the rig promises: the trace on disk ends at most one second of rack time
  before the kill (every line is flushed as it is taken), the finished tests are in the Allure results and in a
  valid JUnit file, the rack's unsafe marker is left behind, and no process of the run is left (the plot worker
  dies with its parent). The next run marks the killed run's folder killed, with the tests planned, run and not
  run, restores the safe state before anything else and says so; `make report` shows the run as incomplete.
  Rack time at the kill is measured independently of the trace writer: the plan publishes the simulated world's
  clock in a shared memory page each time the clock advances, before the tick's sample is taken.
- A caught signal (to the process, or to the whole process group as a terminal sends Ctrl-C or SIGHUP when it
  closes) prints one line per signal and no traceback; the scenario stops, the rack is put in its safe state
  (checked in the simulated world after the fixtures are torn down), the marker is removed, the trace ends with
  the safe state, and the running test is interrupted everywhere: run.json, JUnit `<skipped type=
  "rig.interrupted">`, Allure skipped "interrupted: SIG... received".
"""

from __future__ import annotations

import json
import os
import re
import signal
import struct
import subprocess
import sys
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from safety_harness import ROOT, allure_results

from rig import report, runs
from rig.trace import read_trace

PLAN = "tests/safety_plans/plan_long.py"
MAX_LOSS_S = 1.0
NOISE = ("Traceback", "BrokenProcessPool", "KeyboardInterrupt", "multiprocessing", "resource_tracker")


class Run:
    """A plan run in a subprocess, in a session (process group) of its own, as a terminal starts it."""

    def __init__(self, tmp: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.tmp = tmp
        self.reports = tmp / "reports"
        self.clock = tmp / "clock"
        self.clock.write_bytes(b"\0" * 8)
        self.tag = uuid.uuid4().hex
        cmd = [sys.executable, "-m", "pytest", PLAN, "-q", "-p", "no:cacheprovider", f"--reports={self.reports}",
               *args]
        full_env = {**os.environ, "RIG_PROBE_DIR": str(tmp), "RIG_CLOCK_FILE": str(self.clock),
                    "RIG_TEST_RUN_TAG": self.tag, **(env or {})}
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, start_new_session=True)

    @property
    def trace(self) -> Path:
        return self.reports / runs.LATEST / "traces" / "test_long_scenario.jsonl"

    def wait_for_samples(self, lines: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.trace.exists() and self.trace.stat().st_size > lines * 200:
                return
            if self.proc.poll() is not None:
                pytest.fail(f"the plan ended early: {self.proc.communicate()[0][-3000:]}")
            time.sleep(0.05)
        self.proc.kill()
        pytest.fail("the long scenario did not get going")

    def signal_group(self, sig: int) -> None:
        os.killpg(self.proc.pid, sig)

    def finish(self, timeout: float = 60) -> str:
        out, _ = self.proc.communicate(timeout=timeout)
        return out

    def rack_time(self) -> float:
        return struct.unpack("<d", self.clock.read_bytes()[:8])[0]


def processes_tagged(tag: str) -> list[str]:
    """Live processes (zombies aside) whose environment carries the run's tag: the run and all it started."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if f"RIG_TEST_RUN_TAG={tag}".encode() not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            state = (entry / "stat").read_text().rsplit(")", 1)[-1].split()[0]
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if state != "Z":
            found.append(f"{entry.name}: {command[:200]}")
    return found


def assert_no_process_left(tag: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while (left := processes_tagged(tag)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not left, f"processes outlived the run: {left}"


def junit(path: Path) -> tuple[dict[str, str], dict[str, str], dict[str, list[ET.Element]]]:
    """A JUnit file's suite counts, properties and cases (by name), parsed: it must be well-formed."""
    suite = ET.parse(path).getroot().find("testsuite")
    assert suite is not None
    cases = {c.get("name", ""): list(c) for c in suite.iter("testcase")}
    assert all(cases), "a test case without a name"
    assert suite.get("tests") == str(len(cases))
    for tag, attr in (("failure", "failures"), ("error", "errors"), ("skipped", "skipped")):
        assert suite.get(attr) == str(sum(1 for c in cases.values() if any(x.tag == tag for x in c))), attr
    props = {p.get("name", ""): p.get("value", "") for p in suite.iter("property")}
    return dict(suite.attrib), props, cases


def run_folders(reports: Path) -> list[Path]:
    return sorted((reports / runs.RUNS).iterdir())


def test_sigkill_loses_at_most_a_second_and_the_next_run_marks_it_and_restores_the_safe_state(tmp_path: Path) -> None:
    run = Run(tmp_path)
    run.wait_for_samples(2000)
    os.kill(run.proc.pid, signal.SIGKILL)
    run.proc.wait(timeout=30)
    killed_at = run.rack_time()  # the last time the world's clock advanced before the process died
    assert_no_process_left(run.tag)  # the plot worker died with its parent
    (folder,) = run_folders(run.reports)

    trace = read_trace(folder / "traces" / "test_long_scenario.jsonl")  # parses, even if the last line was cut
    last = trace.samples[-1].t
    assert killed_at > 100 and 0 <= killed_at - last <= MAX_LOSS_S, (killed_at, last)
    ticks = [round(b.t - a.t, 3) for a, b in zip(trace.samples, trace.samples[1:], strict=False)]
    assert set(ticks) == {trace.header["period_s"]}, "samples are missing inside the trace"
    assert [e.action for e in trace.events][-2:] == ["plug", "cut_wifi"]

    # every test that finished is in the report and in a valid JUnit file; the run says it is running
    results = allure_results(folder / "allure-results")
    assert {n: r["status"] for n, r in results.items()} == {"test_short_one": "passed", "test_short_two": "passed"}
    suite, props, cases = junit(folder / "junit.xml")
    assert list(cases) == ["test_short_one", "test_short_two"] and props["rig.status"] == "running"
    record = runs.read_record(runs.RunFolder(folder))
    assert record is not None and record["status"] == "running" and record["planned"] == 3 and record["ran"] == 2
    assert [r["name"] for r in record["running"]] == ["test_long_scenario"] and record["pid"] == run.proc.pid
    assert (folder / "allure-results" / "environment.properties").exists()  # written at the start

    marker = run.reports / ".rack-sim-6.unsafe"  # the rack's state, beside the runs, not in one
    left = json.loads(marker.read_text())
    assert left["pid"] == run.proc.pid and left["reason"] == "plug wc1", left

    # the next night: a test that does not open the rack (skipped: "s" on pytest's line), then one that does
    again = subprocess.run([sys.executable, "-m", "pytest", "tests/safety_plans/plan_no_rack.py",
                            f"{PLAN}::test_short_two", "-q", "-p", "no:cacheprovider", f"--reports={run.reports}"],
                           cwd=ROOT, capture_output=True, text=True, timeout=300,
                           env={**os.environ, "RIG_PROBE_DIR": str(tmp_path)})
    assert again.returncode == 0, again.stdout[-3000:]
    assert f"rig: the earlier run {folder} did not finish: marked killed: 2 of 3 tests run, 1 not run" \
        in again.stdout, again.stdout
    restoring = [line for line in again.stdout.splitlines() if "was left unsafe by an earlier run" in line]
    assert len(restoring) == 1, again.stdout  # on a line of its own, not after pytest's "s"
    assert restoring[0].startswith(f"rig: rack sim-6 was left unsafe by an earlier run (pid {run.proc.pid}, at ")
    assert restoring[0].endswith("after plug wc1); restoring the safe state")
    killed, new = run_folders(run.reports)
    assert killed == folder and (run.reports / runs.LATEST).resolve() == new
    restored = read_trace(new / "traces" / "test_short_two.jsonl")
    assert [e.action for e in restored.events][:2] == ["restore_unsafe", "safe_state"]  # before anything else
    assert restored.events[0].data["pid"] == run.proc.pid
    assert not marker.exists()
    assert sorted(p.name for p in (folder / "traces").iterdir()) == [  # nothing of the new run mixed in
        "test_long_scenario.jsonl", "test_short_one.jsonl", "test_short_two.jsonl"]
    assert [p.name for p in (new / "traces").iterdir()] == ["test_short_two.jsonl"]

    record = runs.read_record(runs.RunFolder(folder))
    assert record is not None and record["status"] == "killed"
    assert (record["planned"], record["ran"], record["not_run"]) == (3, 2, 1)
    assert f"pid {run.proc.pid}" in record["reason"] and "kill -9" in record["reason"]
    suite, props, cases = junit(folder / "junit.xml")
    assert props["rig.status"] == "killed" and props["rig.not_run"] == "1"
    assert [x.tag for x in cases["test_long_scenario"]] == ["skipped"]
    assert cases["test_long_scenario"][0].get("type") == "rig.interrupted"

    # make report's data: the run is incomplete, with the tests that did not run
    assert report.title(record, {"rack": "sim-6"}).endswith("INCOMPLETE (killed): 2 of 3 tests run, 1 not run")
    no_node = subprocess.run([sys.executable, "-m", "rig.report", "--reports", str(run.reports), "--run",
                              str(folder)], cwd=ROOT, capture_output=True, text=True, timeout=60,
                             env={**os.environ, "PATH": str(tmp_path)})
    assert "report: incomplete run: killed: 2 of 3 tests run, 1 not run" in no_node.stdout, no_node.stdout
    assert "Node.js is missing" in no_node.stdout


def assert_stopped_cleanly(run: Run, out: str, signals: list[str]) -> dict[str, Any]:
    """After a caught signal: one line per signal, no traceback; the rack safe; the test interrupted everywhere;
    no process left."""
    assert run.proc.returncode == pytest.ExitCode.INTERRUPTED, out[-3000:]
    lines = [line for line in out.splitlines() if " received: " in line]
    first, *rest = signals
    assert lines[0] == f"rig: {first} received: stopping; the rack is put in its safe state", out[-3000:]
    assert lines[1:] == [f"rig: {s} received: already stopping; the rack is being put in its safe state"
                         for s in rest], out[-3000:]
    assert not [n for n in NOISE if n in out], out[-3000:]
    assert "!!!" not in out, out[-3000:]  # pytest's KeyboardInterrupt banner would only repeat the line
    assert_no_process_left(run.tag)

    units = json.loads((run.tmp / "test_long_scenario.json").read_text())["units"]
    for name, s in units.items():
        assert s["powered"] and s["wifi_up"] and not (s["b_closed"] or s["c_closed"] or s["load_on"]), (name, s)
    trace = read_trace(run.trace)
    assert trace.events[-1].action == "safe_state" and trace.events[-1].data["problems"] == []
    assert not (run.reports / ".rack-sim-6.unsafe").exists()

    (folder,) = run_folders(run.reports)
    record = runs.read_record(runs.RunFolder(folder))
    assert record is not None and record["status"] == "interrupted", record
    assert (record["planned"], record["ran"], record["not_run"]) == (3, 2, 1)
    assert record["counts"]["interrupted"] == 1 and record["counts"]["failed"] == record["counts"]["broken"] == 0
    assert record["reason"].startswith(f"{first} received during {PLAN}::test_long_scenario")
    suite, props, cases = junit(folder / "junit.xml")
    assert suite["failures"] == suite["errors"] == "0" and props["rig.status"] == "interrupted"
    (skipped,) = cases["test_long_scenario"]
    assert skipped.tag == "skipped" and skipped.get("type") == "rig.interrupted"
    assert skipped.get("message") == f"interrupted: {first} received"
    result = allure_results(folder / "allure-results")["test_long_scenario"]
    message = result["statusDetails"]["message"]
    assert result["status"] == "skipped" and message == f"interrupted: {first} received"
    categories = json.loads((folder / "allure-results" / "categories.json").read_text())
    assert [c["name"] for c in categories if "skipped" in c["matchedStatuses"]
            and re.fullmatch(c.get("messageRegex", "[\\s\\S]*"), message)] == ["Interrupted: not judged"]
    assert f"rig: run {folder}: interrupted: 2 of 3 tests run, 1 not run" in out
    return record


@pytest.mark.parametrize(("sig", "group"), [(signal.SIGINT, True), (signal.SIGHUP, True), (signal.SIGTERM, False)],
                         ids=["Ctrl-C", "terminal-closed", "SIGTERM"])
def test_a_caught_signal_prints_one_line_and_leaves_the_rack_safe(tmp_path: Path, sig: signal.Signals,
                                                                   group: bool) -> None:
    run = Run(tmp_path)
    run.wait_for_samples(500)
    if group:
        run.signal_group(sig)  # as the terminal does: pytest and every process it started get it
    else:
        run.proc.send_signal(sig)
    out = run.finish()
    assert_stopped_cleanly(run, out, [sig.name])


def test_a_second_signal_while_the_rack_is_made_safe_waits_for_the_safe_state(tmp_path: Path) -> None:
    """SIGINT stops the scenario; SIGHUP arrives while `safe()` is switching the loads off: `safe()` finishes,
    writes `safe_state`, and the marker goes."""
    run = Run(tmp_path, env={"RIG_SIGNAL_DURING_SAFE": "SIGHUP"})
    run.wait_for_samples(500)
    run.signal_group(signal.SIGINT)
    out = run.finish()
    assert_stopped_cleanly(run, out, ["SIGINT", "SIGHUP"])
