"""The checks have teeth: each faulty firmware model is caught by the check meant for it, in the plan meant for
it, and for no reason beyond the checks its one bug also breaks; the reference and the alternative policies pass
every plan.

Each run is a real `pytest testplans/...` in a subprocess against the simulated rack, with the model named on the
command line exactly as an engineer would try it; the JUnit XML says which tests failed and why.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FAULTY = "firmware_under_test.models.faulty"
ALTERNATIVES = "firmware_under_test.models.alternatives"

# model: (plan that must catch it, check that must fail, other checks its bug may also break)
CAUGHT_BY: dict[str, tuple[str, str, set[str]]] = {
    "KeepsAllocationOnLeaderLoss": ("test_fallback_fair_limit.py", "fair fallback", set()),
    "PilotRoundedUp": ("test_fallback_fair_limit.py", "fair fallback", set()),
    "RaisesBeforeLowering": ("test_network_limit.py", "network limit", set()),
    "RemovalKeepsFullCurrent": ("test_removal_6a.py", "removal hold", set()),
    "RemovalSurvivesBreakerCycle": ("test_removal_6a.py", "removal hold", set()),
    "AcceptsAnyLimit": ("test_network_bounds.py", "limit bounds", set()),
    "ReportsOldFirmware": ("test_firmware_requirements.py", "firmware requirement", set()),
    "ChargesWhileDisabled": ("test_not_enabled.py", "network not enabled", {"network limit"}),
    "NoSixAmpFloor": ("test_sharing_by_demand.py", "sharing", set()),
    "NeverGivesBackShare": ("test_sharing_by_demand.py", "sharing", set()),
    "FairLimitIgnoresCapability": ("test_mixed_breakers.py", "fair fallback", {"capability"}),
    "HandsLostShareToOthers": ("test_follower_loss.py", "reserve kept", {"network limit", "fair fallback", "sharing"}),
    "IgnoresOwnSetting": ("test_mixed_breakers.py", "capability", {"fair fallback", "sharing", "network limit"}),
}


def run_plans(tmp: Path, model: str | None, *args: str) -> dict[str, str | None]:
    """Run plans in a subprocess; map each test id to its failure text (None when it passed)."""
    junit = tmp / "junit.xml"
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:allure_pytest", "-p", "no:randomly",
           f"--junitxml={junit}", f"--trace-dir={tmp / 'traces'}", *args]
    if model:
        cmd.append(f"--firmware-model={model}")
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900, env=env)
    assert junit.exists(), f"pytest did not run: {proc.stdout[-3000:]}{proc.stderr[-3000:]}"
    results: dict[str, str | None] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        name = f"{case.get('classname', '').rsplit('.', 1)[-1]}.py::{case.get('name')}"
        error = case.find("error")
        assert error is None, f"{name} is broken, not failed: {error.get('message')}"
        if case.find("skipped") is not None:
            continue
        failure = case.find("failure")
        results[name] = None if failure is None else (failure.get("message") or "") + (failure.text or "")
    assert results, f"no test ran: {proc.stdout[-2000:]}"
    return results


@pytest.mark.parametrize("model", [None, f"{ALTERNATIVES}:ProportionalSharing", f"{ALTERNATIVES}:FirstComeFirstServed"],
                         ids=["reference", "proportional", "first-come-first-served"])
def test_correct_firmware_passes_every_plan(tmp_path: Path, model: str | None) -> None:
    results = run_plans(tmp_path, model, "testplans", "-m", "not soak", "--campaign-size=10")
    failed = {k: (v or "").splitlines()[:3] for k, v in results.items() if v is not None}
    assert not failed, f"a correct firmware failed: {failed}"
    assert len(results) >= 150


@pytest.mark.parametrize("name", CAUGHT_BY)
def test_faulty_firmware_is_caught_by_its_check(tmp_path: Path, name: str) -> None:
    plan, check, also = CAUGHT_BY[name]
    results = run_plans(tmp_path, f"{FAULTY}:{name}", f"testplans/{plan}")
    failed = {k: v for k, v in results.items() if v is not None}
    caught = [k for k, v in failed.items() if f"{check}: FAILED" in v]
    assert caught, f"{name} was not caught by {check} in {plan}; failures: {list(failed)}"
    allowed = {check, *also}
    wrong = {k: v.splitlines()[0] for k, v in failed.items()
             if not any(f"{c}: FAILED" in v for c in allowed)}
    assert not wrong, f"{name} failed for another reason than {sorted(allowed)}: {wrong}"
