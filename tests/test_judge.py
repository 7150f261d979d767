"""`rig judge`: stored traces judged again with another manifest's budgets, with the outputs of a run."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from support import ROOT
from trace_builder import TraceBuilder

from rig.cli import main

REFERENCE = str(ROOT / "firmware_under_test" / "manifests" / "reference.toml")


def night(tmp_path: Path) -> Path:
    """A night of three traces: one that passes, one with a 4 s excursion of 1 A, one with no judged note."""
    traces = tmp_path / "traces"
    traces.mkdir()
    ok = TraceBuilder().commission(0.0, 40.0).hold(0.0, 60.0, {"wc1": 20.0, "wc2": 20.0}, {"wc1": 19.0, "wc2": 19.0})
    ok.header["test"] = "testplans/test_network_limit.py::test_ok[a]"
    ok.write(traces / "ok.jsonl", judged=[{"check": "network limit"}])
    edge = TraceBuilder().commission(0.0, 40.0).hold(0.0, 60.0, {"wc1": 20.0, "wc2": 20.0},
                                                     {"wc1": 20.0, "wc2": 20.0})
    edge.hold(20.0, 24.0, {"wc1": 20.0, "wc2": 20.0}, {"wc1": 20.5, "wc2": 20.5})
    edge.header["test"] = "testplans/test_network_limit.py::test_edge[b]"
    edge.write(traces / "edge.jsonl", judged=[{"check": "network limit"}])
    TraceBuilder().hold(0.0, 5.0).write(traces / "unjudged.jsonl")
    return traces


def manifest(tmp_path: Path, **budgets: float) -> str:
    path = tmp_path / "m.toml"
    lines = ['build = "tight"', 'version = "24.44.0"', "[budgets]"] + [f"{k} = {v}" for k, v in budgets.items()]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_a_night_is_judged_again_and_a_looser_budget_changes_the_verdict(tmp_path: Path, capsys) -> None:
    traces = night(tmp_path)
    junit, allure = tmp_path / "junit.xml", tmp_path / "allure"
    code = main(["judge", str(traces), "--manifest", REFERENCE, "--junitxml", str(junit), "--alluredir", str(allure)])
    out = capsys.readouterr().out
    assert code == 1, out
    assert "FAILED  testplans/test_network_limit.py::test_edge[b]" in out and "network-limit.too-long" in out
    cases = {c.get("name"): c for c in ET.parse(junit).getroot().iter("testcase")}
    assert cases["test_edge[b]"].find("failure") is not None and cases["test_ok[a]"].find("failure") is None
    assert cases["test_edge[b]"].get("classname") == "testplans.test_network_limit"
    assert cases["unjudged"].find("skipped") is not None
    results = [json.loads(p.read_text()) for p in allure.glob("*-result.json")]
    assert sorted(r["status"] for r in results) == ["failed", "passed", "skipped"]
    failed = next(r for r in results if r["status"] == "failed")
    assert any(a["name"] == "check: network limit" for a in failed["attachments"])
    loose = manifest(tmp_path, overshoot_s=5.0, overshoot_area_s=1.0)
    assert main(["judge", str(traces), "--manifest", loose, "-q"]) == 0
    assert "overshoot_s: 3.0 -> 5.0" in capsys.readouterr().out


def test_a_trace_that_cannot_be_read_or_ended_on_a_rig_fault_is_broken_never_failed(tmp_path: Path,
                                                                                    capsys) -> None:
    traces = tmp_path / "traces"
    traces.mkdir()
    (traces / "garbage.jsonl").write_text("not json\n{}\n")
    tb = TraceBuilder().commission(0.0, 40.0).hold(0.0, 60.0, {"wc1": 48.0}, {"wc1": 48.0})
    tb.event(59.0, "rig_fault", instrument="analyzer", error="timeout")
    tb.write(traces / "fault.jsonl", judged=[{"check": "network limit"}])
    junit = tmp_path / "junit.xml"
    assert main(["judge", str(traces), "--manifest", REFERENCE, "--junitxml", str(junit)]) == 2
    out = capsys.readouterr().out
    assert "garbage.jsonl" in out and "rig fault" in out
    cases = list(ET.parse(junit).getroot().iter("testcase"))
    assert all(c.find("error") is not None and c.find("failure") is None for c in cases)


def test_campaign_checks_a_scenario_did_not_exercise_are_listed_not_failed(tmp_path: Path, capsys) -> None:
    tb = TraceBuilder().commission(0.0, 40.0).hold(0.0, 60.0, {"wc1": 20.0}, {"wc1": 19.0})
    tb.write(tmp_path / "001-x.jsonl", judged=[{"check": "network limit", "exercised_only": True},
                                                {"check": "fair fallback", "exercised_only": True}])
    assert main(["judge", str(tmp_path / "001-x.jsonl"), "--manifest", REFERENCE]) == 0
    assert "listed, not exercised by this scenario: fair fallback" in capsys.readouterr().out


def test_bad_input_is_one_line(tmp_path: Path, capsys) -> None:
    assert main(["judge", str(tmp_path / "nowhere"), "--manifest", REFERENCE]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nowhere" in err
    with pytest.raises(SystemExit):
        main(["judge", str(tmp_path)])


@pytest.mark.parametrize("noted", [True, False])
def test_only_what_the_test_judged_is_judged_again_not_the_safe_state_after_it(tmp_path: Path, capsys,
                                                                               noted: bool) -> None:
    """After its verdicts a test's rack goes to its safe state (vehicles unplugged without an unplug event, a
    power-cycled unit recovering): those samples are the rig's, not a scenario's."""
    from rig.checks import REGISTRY
    from rig.trace import read_trace

    b = TraceBuilder(units=("wc1", "wc2")).commission(0.0, 40.0).event(0.0, "plug", "wc1", demand_a=20.0,
                                                                         response_delay_s=6.0)
    b.hold(0.0, 120.0, {"wc1": 20.0, "wc2": None}, {"wc1": 19.5})
    b.event(120.0, "safe_state", problems=[], powered_up=["wc2"])
    b.hold(120.5, 200.0, {"wc1": None, "wc2": None}, {"wc1": 0.0})
    b.header["test"] = "testplans/test_sharing_by_demand.py::test_x[a]"
    if noted:
        b.header["judged_at"] = 120.0
    path = b.write(tmp_path / "t.jsonl", judged=[{"check": "sharing"}])
    whole = read_trace(path)
    from rig.budgets import Budgets

    assert not REGISTRY["sharing"](whole, Budgets(), 0.5, {}).passed  # the tidy-up judged as a scenario would fail
    assert main(["judge", str(path), "--manifest", REFERENCE]) == 0, capsys.readouterr().out
