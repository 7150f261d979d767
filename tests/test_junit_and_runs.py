"""rig/junit.py and rig/runs.py on their own: a JUnit file valid after every test, whatever its text holds; run
folders that sort by start time; and the rules that tell a killed run from a live one."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from rig import runs
from rig.junit import Case, JUnitWriter, complete_ended_run, counts


def _suite(path: Path) -> ET.Element:
    suite = ET.parse(path).getroot().find("testsuite")
    assert suite is not None
    return suite


def test_the_file_is_valid_with_right_counts_after_every_test(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    writer = JUnitWriter(path)
    writer.set_properties({"rig.status": "running"})
    writer.write()
    assert _suite(path).get("tests") == "0"
    writer.add(Case("testplans.test_x", "test_a[2u]", "passed", time=1.5))
    writer.add(Case("testplans.test_x", "test_b", "failed", message="network limit: 130 A > 120 A", details="t"))
    writer.add(Case("testplans.test_x", "test_c", "broken", message="broken (rig fault): InstrumentTimeout"))
    writer.add(Case("testplans.test_x", "test_d", "skipped", message="nothing to replay"))
    writer.add(Case("testplans.test_x", "test_e", "interrupted", message="interrupted: SIGHUP received"))
    suite = _suite(path)
    assert {k: suite.get(k) for k in ("tests", "failures", "errors", "skipped")} == {
        "tests": "5", "failures": "1", "errors": "1", "skipped": "2"}
    assert counts(suite) == {"tests": 5, "failures": 1, "errors": 1, "skipped": 2}
    kinds = {c.get("name"): [(x.tag, x.get("type")) for x in c] for c in suite.iter("testcase")}
    assert kinds == {"test_a[2u]": [], "test_b": [("failure", None)], "test_c": [("error", None)],
                     "test_d": [("skipped", "pytest.skip")], "test_e": [("skipped", "rig.interrupted")]}
    assert [p.get("value") for p in suite.iter("property")] == ["running"]
    assert not list(tmp_path.glob(".*.tmp"))  # written whole, then renamed


def test_garbage_from_an_instrument_cannot_break_the_file(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    JUnitWriter(path).add(Case("c", "test_x", "broken", message="reply '\x00\x1b[2J\x07' & <no prompt>",
                               details="\ud800 lone surrogate"))
    error = _suite(path).find("testcase/error")
    assert error is not None and error.get("message") == "reply '#x00#x1B[2J#x07' & <no prompt>"


def test_a_killed_runs_file_is_completed_with_the_test_that_was_running(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    writer = JUnitWriter(path)
    writer.set_properties({"rig.status": "running"})
    writer.add(Case("c", "test_a", "passed"))
    complete_ended_run(path, {"rig.status": "killed", "rig.not_run": "3"},
                       Case("c", "test_b", "interrupted", message="interrupted: the run was killed"))
    suite = _suite(path)
    assert suite.get("tests") == "2" and suite.get("skipped") == "1"
    assert {p.get("name"): p.get("value") for p in suite.iter("property")} == {"rig.status": "killed",
                                                                             "rig.not_run": "3"}
    missing = tmp_path / "never-written.xml"  # killed before the first write
    complete_ended_run(missing, {"rig.status": "killed"}, None)
    assert _suite(missing).get("tests") == "0"


def test_run_folders_sort_by_start_and_never_collide(tmp_path: Path) -> None:
    start = datetime(2026, 11, 27, 2, 0, 3, tzinfo=UTC)
    first = runs.RunFolder.create(tmp_path, start)
    second = runs.RunFolder.create(tmp_path, start)
    later = runs.RunFolder.create(tmp_path, start + timedelta(hours=1))
    assert [f.id for f in (first, second, later)] == ["2026-11-27T02-00-03Z", "2026-11-27T02-00-03Z-2",
                                                      "2026-11-27T03-00-03Z"]
    for folder in (first, second, later):
        runs.RunRecord.begin(folder.record, folder.id, start)
    assert [f.id for f in runs.run_folders(tmp_path)] == [first.id, second.id, later.id]
    runs.point_latest(tmp_path, second)
    assert os.readlink(tmp_path / "latest") == "runs/2026-11-27T02-00-03Z-2"
    assert runs.latest(tmp_path).path == second.path.resolve()  # type: ignore[union-attr]
    assert runs.state_dir(second.path) == tmp_path and runs.state_dir(tmp_path / "elsewhere") == tmp_path / "elsewhere"


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(proc.stdout)


def test_a_run_is_abandoned_when_its_process_is_gone_or_its_host_went_quiet() -> None:
    now = runs.now_utc()
    here = {"status": "running", "host": socket.gethostname(), "pid": os.getppid(),
            "proc_start": runs._proc_start(os.getppid()), "updated": runs.iso(now)}
    assert not runs.is_abandoned(here, now)
    assert runs.is_abandoned({**here, "pid": _dead_pid()}, now)
    assert runs.is_abandoned({**here, "proc_start": "1"}, now)  # the pid was reused by another process
    assert not runs.is_abandoned({**here, "pid": os.getpid()}, now)  # this very run
    assert not runs.is_abandoned({**here, "status": "finished", "pid": _dead_pid()}, now)
    other = {**here, "host": "lab-pc-2", "pid": 1}
    assert not runs.is_abandoned(other, now + timedelta(seconds=runs.STALE_AFTER_S - 60))
    assert runs.is_abandoned(other, now + timedelta(seconds=runs.STALE_AFTER_S + 60))


def test_marking_a_killed_run(tmp_path: Path) -> None:
    folder = runs.RunFolder.create(tmp_path, runs.now_utc())
    record = runs.RunRecord.begin(folder.record, folder.id, runs.now_utc())
    record.update(planned=158, counts={"passed": 16, "failed": 1, "broken": 0, "skipped": 0, "interrupted": 0},
                  running=[{"nodeid": "testplans/test_soak.py::test_soak", "classname": "testplans.test_soak",
                            "name": "test_soak"}], pid=_dead_pid())
    JUnitWriter(folder.junit).write()
    ((marked_folder, marked),) = runs.mark_abandoned_runs(tmp_path)
    assert marked_folder.path == folder.path
    assert (marked["status"], marked["planned"], marked["ran"], marked["not_run"]) == ("killed", 158, 17, 141)
    assert runs.summary(marked).startswith("killed: 17 of 158 tests run, 141 not run (16 passed, 1 failed, "
                                           "1 interrupted); testplans/test_soak.py::test_soak was running; the run")
    assert runs.read_record(folder) == marked and runs.ended_early(marked)
    assert not runs.mark_abandoned_runs(tmp_path)  # marked once
    assert _suite(folder.junit).find("testcase[@name='test_soak']/skipped") is not None


def test_the_heartbeat_keeps_a_long_test_alive(tmp_path: Path) -> None:
    record = runs.RunRecord.begin(tmp_path / "run.json", "r", runs.now_utc() - timedelta(hours=1))
    record.data["updated"] = "2000-01-01T00:00:00+00:00"
    record.start_heartbeat(every_s=0.05)
    try:
        deadline = runs.now_utc() + timedelta(seconds=10)
        while runs.read_record(tmp_path / "run.json")["updated"].startswith("2000") \
                and runs.now_utc() < deadline:  # type: ignore[index]
            time.sleep(0.01)
    finally:
        record.stop_heartbeat()
    assert not runs.read_record(tmp_path / "run.json")["updated"].startswith("2000")  # type: ignore[index]


@pytest.mark.parametrize(("status", "not_run", "early"), [("finished", 0, False), ("finished", 3, True),
                                                          ("killed", 1, True), ("interrupted", 1, True),
                                                          ("rack-unusable", 0, True), ("running", None, True)])
def test_what_ended_early_means(status: str, not_run: int | None, early: bool) -> None:
    assert runs.ended_early({"status": status, "not_run": not_run}) is early
