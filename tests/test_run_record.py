"""A night's record tells the truth before the first test too (issue 12, cases 2 and 3), as a user meets it:

- a typo in the rack file after a good night: one line, nothing of the good night touched, and a record of the
  refused run (so a CI server reading `reports/latest/junit.xml` never reads last night's results as tonight's);
- an address that breaks its grammar (`TCPIP::256.1.1.1::5025::SOCKET`) is refused the same way, before
  anything starts;
- an address that passes the grammar but cannot be reached is a rig fault: the first test is broken (JUnit
  `<error>`, never `<failure>`), the rest of the night is skipped with one reason, a plan that opens the rack
  itself (the hypothesis campaign) too, and the run's record says `rack-unusable`.

After each: the reports, the JUnit file, the traces, the unsafe marker and the process table.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import uuid
from pathlib import Path

from safety_harness import ROOT, allure_results, fast_rack
from test_sigkill import assert_no_process_left, junit, run_folders

from rig import runs

SHORT = ["tests/safety_plans/plan_long.py::test_short_one", "tests/safety_plans/plan_long.py::test_short_two"]
CAMPAIGN = "testplans/test_campaign.py::test_random_scenarios_keep_every_invariant"


def night(reports: Path, rack: Path, *tests: str) -> tuple[subprocess.CompletedProcess[str], str]:
    """A run as `make nightly` does it, with its own reports folder; returns it and its process tag."""
    tag = uuid.uuid4().hex
    proc = subprocess.run([sys.executable, "-m", "pytest", *tests, "-q", "-p", "no:cacheprovider", f"--rack={rack}",
                           f"--reports={reports}", "--campaign-size=1"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "RIG_PROBE_DIR": str(reports.parent),
                                            "RIG_TEST_RUN_TAG": tag})
    return proc, tag


def snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_typo_after_a_good_night_leaves_the_good_night_untouched(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    rack = fast_rack(tmp_path)
    good, tag = night(reports, rack, *SHORT)
    assert good.returncode == 0, good.stdout[-3000:]
    (good_night,) = run_folders(reports)
    before = snapshot(good_night)
    assert any(name.startswith("allure-results/") for name in before) and "junit.xml" in before

    typo = tmp_path / "typo.toml"
    typo.write_text(rack.read_text().replace("sample_period_s", "sample_perod_s"), encoding="utf-8")
    proc, tag = night(reports, typo, *SHORT)
    assert proc.returncode == pytest_usage_error(), proc.stdout + proc.stderr
    assert proc.stderr.strip() == f"ERROR: {typo}: sample_perod_s: unknown key", proc.stderr
    assert_no_process_left(tag)

    good_again, refused = run_folders(reports)
    assert good_again == good_night and snapshot(good_night) == before  # not one byte of the good night changed
    assert (reports / runs.LATEST).resolve() == refused  # tonight's record, not last night's
    record = runs.read_record(runs.RunFolder(refused))
    assert record is not None and record["status"] == "rack-unusable"
    assert record["reason"] == f"{typo}: sample_perod_s: unknown key" and record["planned"] == 0
    suite, props, cases = junit(refused / "junit.xml")
    assert suite["errors"] == "1" and suite["failures"] == "0" and props["rig.status"] == "rack-unusable"
    assert [x.tag for x in cases["rack"]] == ["error"] and "sample_perod_s: unknown key" in cases["rack"][0].get(
        "message", "")
    assert not (refused / "traces").exists() and not (refused / "allure-results").exists()
    assert not (reports / ".rack-sim-6.unsafe").exists()

    # an address that breaks its own grammar is refused just as early
    bad_ip = tmp_path / "bad-ip.toml"
    text = rack.read_text()
    assert 'address = "TCPIP::127.0.0.1::0::SOCKET"' in text
    bad_ip.write_text(text.replace('address = "TCPIP::127.0.0.1::0::SOCKET"',
                                   'address = "TCPIP::256.1.1.1::5025::SOCKET"', 1), encoding="utf-8")
    proc, tag = night(reports, bad_ip, *SHORT)
    assert proc.returncode == pytest_usage_error()
    assert "256.1.1.1 is not an IPv4 address" in proc.stderr and proc.stderr.strip().count("\n") == 0, proc.stderr
    assert snapshot(good_night) == before


def pytest_usage_error() -> int:
    import pytest

    return int(pytest.ExitCode.USAGE_ERROR)


def test_an_unreachable_address_is_a_rig_fault_and_the_rest_is_skipped_with_one_reason(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    rack = fast_rack(tmp_path)
    text = rack.read_text()
    # a well-formed address no simulated (or real) analyzer answers on: TEST-NET-1, never contacted
    rack.write_text(text.replace('address = "TCPIP::127.0.0.1::0::SOCKET"',
                                 'address = "TCPIP::192.0.2.1::5025::SOCKET"', 1), encoding="utf-8")
    proc, tag = night(reports, rack, CAMPAIGN, *SHORT)
    out = proc.stdout
    assert proc.returncode == 1, out[-3000:]
    assert_no_process_left(tag)
    assert "failed" not in out.splitlines()[-1] and "1 error" in out.splitlines()[-1], out[-2000:]
    skips = [line for line in out.splitlines() if line.startswith("SKIPPED")]
    assert len(skips) <= 1 and "Traceback" not in out, out[-3000:]

    (folder,) = run_folders(reports)
    suite, props, cases = junit(folder / "junit.xml")
    assert suite["failures"] == "0" and suite["errors"] == "1" and suite["skipped"] == "2", suite
    # the first test to need the rack finds it cannot be brought up: broken (an <error>), never failed
    first = next(iter(cases))
    broken = cases[first]
    assert [x.tag for x in broken] == ["error"], broken  # it was a <failure> before issue 12
    assert broken[0].get("message", "").startswith("broken (rig fault)") and "SimulationError" in broken[0].get(
        "message", "")
    reasons = {cases[n][0].get("message") for n in cases if n != first}
    assert len(reasons) == 1, reasons  # one reason for the rest
    nodeid = next(n for n in (*SHORT, CAMPAIGN) if n.endswith(f"::{first}"))
    assert reasons.pop() == (f"rack sim-6 is unusable since {nodeid}: SimulationError: analyzer: "
                             "'TCPIP::192.0.2.1::5025::SOCKET' is not a loopback address the simulated rack can "
                             "serve; the rest of the run is skipped")

    record = runs.read_record(runs.RunFolder(folder))
    assert record is not None and record["status"] == "rack-unusable", record
    assert record["counts"] == {"passed": 0, "failed": 0, "broken": 1, "skipped": 2, "interrupted": 0}
    assert "192.0.2.1" in record["reason"]
    results = allure_results(folder / "allure-results")
    assert sorted(r["status"] for r in results.values()) == ["broken", "skipped", "skipped"]
    assert not (reports / ".rack-sim-6.unsafe").exists()
    assert not any((folder / "traces").glob("*.jsonl")) if (folder / "traces").exists() else True


def test_under_xdist_the_controller_keeps_the_record_and_the_workers_write_into_the_run_folder(
        tmp_path: Path) -> None:
    """pytest-xdist: the JUnit file and run.json come from the controller, which sees every worker's reports; the
    workers write their traces and Allure results into the same run folder; a broken test stays an `<error>`."""
    reports = tmp_path / "reports"
    tag = uuid.uuid4().hex
    proc = subprocess.run([sys.executable, "-m", "pytest", *SHORT, "tests/gate_plans/plan_analyzer_goes_wrong.py",
                           "-q", "-p", "no:cacheprovider", "-n", "2", f"--rack={fast_rack(tmp_path)}",
                           f"--reports={reports}"], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "RIG_PROBE_DIR": str(tmp_path), "RIG_TEST_RUN_TAG": tag})
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert_no_process_left(tag)
    (folder,) = run_folders(reports)
    record = runs.read_record(runs.RunFolder(folder))
    assert record is not None and record["status"] == "finished"
    assert (record["planned"], record["ran"], record["counts"]["broken"], record["counts"]["passed"]) == (3, 3, 1, 2)
    suite, props, cases = junit(folder / "junit.xml")
    assert suite["errors"] == "1" and suite["failures"] == "0" and props["rig.status"] == "finished"
    broken = cases["test_network_keeps_its_limit_while_the_analyzer_goes_wrong"]
    assert [x.tag for x in broken] == ["error"] and "InstrumentGarbage" in broken[0].get("message", "")
    assert sorted(p.name for p in (folder / "traces").glob("*.jsonl")) == [
        "test_network_keeps_its_limit_while_the_analyzer_goes_wrong.jsonl", "test_short_one.jsonl",
        "test_short_two.jsonl"]
    assert len(allure_results(folder / "allure-results")) == 3
    assert " gw" in (folder / "run.log").read_text()  # the workers log into the run's log too
