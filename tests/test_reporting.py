"""What a run leaves for the morning: Allure steps, parameters, the trace plot, environment and categories, the
outcomes file the gate reads, JUnit XML, and the live progress line that only a terminal sees.

The integration tests run a small plan (tests/report_plans) plus the broken-instrument plan (tests/gate_plans) in
a pytest subprocess against the simulated rack, exactly as `make nightly` runs the real plans, and read what it
wrote.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from rig.fixtures import reporting
from rig.live import LiveProgress, status_line
from rig.plot import deadlines_and_bands, render_png
from rig.trace import Event, Sample, Trace

ROOT = Path(__file__).resolve().parents[1]
PLANS = ["tests/report_plans/plan_scenarios.py", "tests/gate_plans/plan_analyzer_goes_wrong.py"]


def run_pytest(tmp: Path, *extra: str, plans: list[str] = PLANS) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "pytest", *plans, "-q", f"--alluredir={tmp / 'results'}", "--clean-alluredir",
           f"--junitxml={tmp / 'junit.xml'}", f"--outcomes={tmp / 'outcomes.jsonl'}",
           f"--trace-dir={tmp / 'traces'}", *extra]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("run")
    proc = run_pytest(tmp)
    results = tmp / "results"
    assert results.is_dir(), proc.stdout[-3000:] + proc.stderr[-3000:]
    by_name = {}
    for f in results.glob("*-result.json"):
        r = json.loads(f.read_text())
        by_name[r["name"]] = r
    assert by_name, proc.stdout[-3000:]
    return {"tmp": tmp, "proc": proc, "results": results, "by_name": by_name}


def _result(run: dict[str, Any], fragment: str) -> dict[str, Any]:
    found = [r for name, r in run["by_name"].items() if fragment in name]
    assert len(found) == 1, f"{fragment}: {list(run['by_name'])}"
    return found[0]


def test_each_rack_action_is_a_step_with_its_rack_time(run: dict[str, Any]) -> None:
    r = _result(run, "2u-follower-wifi")
    steps = [s["name"] for s in r["steps"]]
    cut = [s for s in steps if re.fullmatch(r"t=\d+\.\d s  cut_wifi wc2", s)]
    assert cut, steps
    assert any(re.fullmatch(r"t=\d+\.\d s  commission  leader=wc1 followers=wc2 limit=60 enabled=True .*"
                            r"method=console reused=False network=2u-60A-on", s) for s in steps), steps
    assert any(re.fullmatch(r"t=\d+\.\d s  plug wc2  demand_a=48 response_delay_s=\d+", s) for s in steps), steps
    # the time between actions is a step too, and the steps are in rack-time order
    waits = [s for s in steps if " wait " in s]
    assert any("wait 25.0 s" in s for s in waits), waits
    times = [float(re.match(r"t=(\d+\.\d)", s).group(1)) for s in steps]
    assert times == sorted(times)


def test_rack_budgets_and_firmware_are_parameters_out_of_the_history_id(run: dict[str, Any]) -> None:
    params = {p["name"]: p for p in _result(run, "3u-follower-wifi")["parameters"]}
    # the rack is named but left out of the history id: a test keeps its history whichever rack of a lab ran it
    assert params["rack"]["value"] == "'sim-6'" and params["rack"]["excluded"] is True
    assert "fallback_s=10" in params["budgets"]["value"] and params["budgets"]["excluded"] is True
    assert params["firmware"]["value"] == "'24.44.0'" and params["firmware"]["excluded"] is True
    assert params["build"]["excluded"] is True


def test_every_test_with_a_trace_gets_a_plot(run: dict[str, Any]) -> None:
    for fragment in ("2u-follower-wifi", "3u-follower-wifi", "hands_out_more", "analyzer_goes_wrong"):
        r = _result(run, fragment)
        plots = [a for a in r.get("attachments", []) if a["name"] == "trace plot"]
        assert len(plots) == 1 and plots[0]["type"] == "image/png", (fragment, r.get("attachments"))
        png = (run["results"] / plots[0]["source"]).read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and 2_000 < len(png) < 200_000, (fragment, len(png))


def test_no_unknown_steps_in_a_tests_teardown(run: dict[str, Any]) -> None:
    """pytest's own finalizers used to show as grey "unknown" Allure steps (`rack::<lambda>`) on every test."""
    afters = [a for f in run["results"].glob("*-container.json") for a in json.loads(f.read_text()).get("afters", [])]
    assert afters and all(a.get("status") in ("passed", "failed", "broken") for a in afters), afters
    # the test's rack teardown, and once per run the run's rack left safe (after the last test)
    assert {a["name"] for a in afters} == {"rack::teardown", "rack_session::teardown"}, afters


def test_whole_trace_is_attached_only_where_the_test_did_not_pass(run: dict[str, Any]) -> None:
    def names(fragment: str) -> list[str]:
        r = _result(run, fragment)
        attached = r.get("attachments", []) + [a for s in r.get("steps", []) for a in s.get("attachments", [])]
        container_files = [json.loads(f.read_text()) for f in run["results"].glob("*-container.json")]
        for c in container_files:
            if r["uuid"] in c.get("children", []):
                for after in c.get("afters", []):
                    attached += after.get("attachments", [])
        return [a["name"] for a in attached]

    assert "trace.csv" in names("2u-follower-wifi") and "trace.jsonl" not in names("2u-follower-wifi")
    assert "trace.csv" in names("hands_out_more") and "trace.jsonl" in names("hands_out_more")


def test_failed_is_a_firmware_defect_and_broken_a_rig_fault(run: dict[str, Any]) -> None:
    failed = _result(run, "hands_out_more")
    broken = _result(run, "analyzer_goes_wrong")
    assert failed["status"] == "failed", failed["statusDetails"]
    assert broken["status"] == "broken" and "InstrumentGarbage" in broken["statusDetails"]["message"]
    categories = json.loads((run["results"] / "categories.json").read_text())

    def category(result: dict[str, Any]) -> list[str]:
        message = result["statusDetails"]["message"]
        return [c["name"] for c in categories if result["status"] in c["matchedStatuses"]
                and ("messageRegex" not in c or re.fullmatch(c["messageRegex"], message))]

    assert category(failed) == ["Firmware defects"]
    assert category(broken) == ["Rig faults: instruments"]
    assert category({"status": "broken", "statusDetails": {"message": "KeyError: 'wc9'"}}) == [
        "Rig faults: other errors"]


def test_environment_names_rack_mode_firmware_and_revision(run: dict[str, Any]) -> None:
    lines = (run["results"] / "environment.properties").read_text().splitlines()
    env = dict(line.split("=", 1) for line in lines)
    assert env["rack"] == "sim-6" and env["mode"] == "simulated" and env["build"] == "reference"
    assert env["firmware"] == "24.44.0"
    assert env["firmware_model"].endswith(":ReferenceFirmware")
    assert re.fullmatch(r"[0-9a-f]{4,40}|unknown", env["git_revision"])


def test_outcomes_file_says_what_the_gate_needs(run: dict[str, Any]) -> None:
    lines = [json.loads(x) for x in (run["tmp"] / "outcomes.jsonl").read_text().splitlines()]
    by = {o["name"]: o for o in lines}
    passed = by["test_cut_off_follower_falls_back[2u-follower-wifi]"]
    assert passed["outcome"] == "passed"
    assert {c["check"]: c["passed"] for c in passed["checks"]} == {"fair fallback": True, "network limit": True}
    failed = by["test_leader_hands_out_more_than_it_may"]
    assert failed["outcome"] == "failed" and failed["phase"] == "call" and "offered over 40 A" in failed["message"]
    broken = next(o for n, o in by.items() if "analyzer_goes_wrong" in n)
    assert broken["outcome"] == "broken" and "InstrumentGarbage" in broken["message"]


def test_junit_xml_is_written_beside_for_the_ci_server(run: dict[str, Any]) -> None:
    root = ET.parse(run["tmp"] / "junit.xml").getroot()
    cases = {c.get("name"): c for c in root.iter("testcase")}
    assert len(cases) == 4
    assert cases["test_leader_hands_out_more_than_it_may"].find("failure") is not None
    passed = cases["test_cut_off_follower_falls_back[2u-follower-wifi]"]
    assert passed.find("failure") is None and passed.find("error") is None
    broken = next(c for name, c in cases.items() if "analyzer_goes_wrong" in name)
    assert broken.find("error") is not None and broken.find("failure") is None  # a rig fault, not a defect


def test_no_live_line_when_output_is_not_a_terminal(run: dict[str, Any]) -> None:
    assert "\x1b[2K" not in run["proc"].stdout and "pilot/current" not in run["proc"].stdout


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_live_line_on_a_terminal_and_off_with_no_live(tmp_path: Path) -> None:
    import fcntl
    import pty  # noqa: F401  (only where pseudo-terminals exist)
    import struct
    import termios

    def on_tty(*extra: str) -> str:
        master, slave = os.openpty()
        # a 200-column terminal, as the user's, with no COLUMNS in the environment: the width must come from
        # the terminal itself, read while pytest's capture is lifted
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
        cmd = [sys.executable, "-m", "pytest", "tests/report_plans/plan_scenarios.py", "-q", "-k", "2u",
               "-p", "no:allure_pytest", f"--trace-dir={tmp_path / 'traces'}", *extra]
        env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
        proc = subprocess.Popen(cmd, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, env=env)
        os.close(slave)
        out = bytearray()
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        proc.wait(timeout=300)
        os.close(master)
        return out.decode("utf-8", "replace")

    shown = on_tty()
    assert "pilot/current" in shown and "\x1b[2K" in shown and "t=" in shown, shown[-2000:]
    lines = [re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", part) for part in shown.split("\x1b[2K")[1:]]
    widest = max(len(line.split("\r")[0].split("\n")[0]) for line in lines)
    assert widest > 80 and "wc6" in shown, (widest, lines[:3])  # the whole line, every unit, not cut at 80
    assert "[1/1] test_cut_off_follower_falls_back[2u-follower-wifi]" in shown
    assert "1 passed" in shown
    assert "pilot/current" not in on_tty("--no-live")


# -- units ------------------------------------------------------------------------------------------------------


def test_step_titles_and_waits() -> None:
    rec = reporting.StepRecorder(start=10.0)
    rec.on_sample(None, Sample(10.5, {}, {}, {}))
    rec.on_sample(None, Sample(12.0, {}, {}, {}))
    rec.on_event(None, Event(12.0, "trip", "wc1"))
    rec.on_event(None, Event(12.0, "restore", "wc1"))  # no time passed: no wait step between
    rec.flush()
    assert rec.steps == 3
    assert reporting.step_title(Event(57.0, "plug", "wc3", {"demand_a": 48.0, "response_delay_s": 6.0})) == (
        "t=57.0 s  plug wc3  demand_a=48 response_delay_s=6")


def test_live_progress_is_rate_limited_and_cleared() -> None:
    out = io.StringIO()
    now = [0.0]
    live = LiveProgress(lambda: out, lambda: 7, lambda: 100, clock=lambda: now[0], max_rate_hz=5)
    live.start("test_x[2u]", "[1/3]")
    rack = type("R", (), {"config": type("C", (), {"simulated": True})()})()
    sample = Sample(12.5, {"wc1": 32.0, "wc2": None}, {"wc1": 31.8, "wc2": 0.0}, {})
    for _ in range(10):  # ten samples within the same wall-clock instant: one update
        live.on_sample(rack, sample)
    now[0] = 0.21
    live.on_sample(rack, sample)
    assert live.writes == 2
    text = out.getvalue()
    assert text.startswith("\n\x1b[2K[1/3] test_x[2u]  t=   12.5s sim  pilot/current: wc1 32/31.8A  wc2 --/0.0A")
    assert "\x1b[1A\x1b[8G" in text  # back up to pytest's line, at its column
    live.clear()
    assert out.getvalue().endswith("\x1b[1B\r\x1b[2K\x1b[1A\x1b[8G") and not live.shown
    assert len(status_line("t", "[1/1]", sample, False, 30)) == 30


def _trace() -> Trace:
    header = {"units": {u: {"capability_a": 48.0} for u in ("wc1", "wc2", "wc3")},
              "budgets": {"fallback_s": 10.0, "vehicle_response_s": 6.0, "removal_s": 5.0, "reboot_s": 40.0,
                          "reallocation_s": 20.0}}
    events = [Event(0.0, "commission", None, {"leader": "wc1", "followers": ["wc2", "wc3"], "limit": 60.0,
                                                "enabled": True}),
              Event(1.0, "plug", "wc2", {"demand_a": 48.0}), Event(30.0, "cut_wifi", "wc2"),
              Event(60.0, "restore_wifi", "wc2"), Event(70.0, "remove", "wc3"), Event(80.0, "trip", "wc3"),
              Event(85.0, "restore", "wc3")]
    samples = [Sample(t * 0.5, {"wc1": 6.0, "wc2": 48.0 if t < 80 else 20.0, "wc3": None},
                      {"wc1": 0.0, "wc2": 47.5 if t < 85 else 20.0, "wc3": 0.0}, {}) for t in range(0, 260)]
    return Trace(header, samples, events)


def test_plot_is_1200_px_wide_and_marks_each_violation() -> None:
    from PIL import Image

    from rig.checks import Verdict, Violation
    from rig.plot import violation_marks

    limit = Verdict("network limit", False, "over", tuple(
        Violation(t, ("wc1", "wc2"), {"sum": 130.0}, "network over its limit") for t in (50.0, 50.5, 51.0, 80.0)))
    hold = Verdict("removal hold", False, "over 6 A", (Violation(75.0, ("wc3",), {"pilot": 48.0}, "over 6 A"),))
    marks = violation_marks([limit, hold, Verdict("sharing", True, "ok")], 0.5)
    assert [(m.check, m.start, m.end, m.unit) for m in marks] == [
        ("network limit", 50.0, 51.0, None), ("removal hold", 75.0, 75.0, "wc3"), ("network limit", 80.0, 80.0, None)]
    png = render_png(_trace(), "synthetic", marks=marks)
    image = Image.open(io.BytesIO(png))
    assert image.size[0] == 1200 and image.size[1] >= 500, image.size  # three lanes
    plain = Image.open(io.BytesIO(render_png(_trace(), "synthetic"))).convert("RGB")
    marked = image.convert("RGB")
    reddened = sum(1 for a, b in zip(marked.tobytes()[0::3], plain.tobytes()[0::3], strict=True) if a != b)
    assert reddened > 3000, reddened  # the bands and their labels, on the lanes and the network panel


def test_plot_marks_deadlines_from_the_trace_budgets() -> None:
    deadlines, bands = deadlines_and_bands(_trace())
    marks = {(d.unit, d.t, d.label) for d in deadlines}
    assert ("wc2", 40.0, "fallback 10 s") in marks and ("wc2", 46.0, "+response 6 s") in marks
    assert ("wc3", 75.0, "6 A by 5 s") in marks and ("wc3", 125.0, "back by 40 s") in marks
    fair = [b for b in bands if b.unit == "wc2"]
    assert fair and fair[0].value == 20.0 and (fair[0].start, fair[0].end) == (40.0, 60.0)
    png = render_png(_trace(), "synthetic")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert render_png(_trace(), "again") != png  # the figure is reused, the title is not
