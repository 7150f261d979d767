"""The checks have teeth: each faulty firmware model is caught by the check meant for it, and only by it,
while the reference model passes every plan.

Each run is a real `pytest testplans` in a subprocess against the simulated rack, with the faulty model named on
the command line, exactly as an engineer would try it; the JUnit XML says which tests failed and why.
"""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

FAULTY = {
    "firmware_under_test.models.faulty:KeepsAllocationOnLeaderLoss": ("test_fallback_fair_limit.py", "fair fallback"),
    "firmware_under_test.models.faulty:RaisesBeforeLowering": ("test_network_limit.py", "network limit"),
    "firmware_under_test.models.faulty:RemovalKeepsFullCurrent": ("test_removal_6a.py", "removal hold"),
}


def run_plans(tmp: Path, model: str | None) -> dict[str, str | None]:
    """Run every plan; map each test id to its failure message (None when it passed)."""
    junit = tmp / "junit.xml"
    cmd = [sys.executable, "-m", "pytest", "testplans", "-q", "-p", "no:allure_pytest",
           f"--junitxml={junit}", f"--trace-dir={tmp / 'traces'}"]
    if model:
        cmd.append(f"--firmware-model={model}")
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert junit.exists(), f"pytest did not run: {proc.stdout[-2000:]}{proc.stderr[-2000:]}"
    results: dict[str, str | None] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        name = f"{case.get('classname', '').rsplit('.', 1)[-1]}.py::{case.get('name')}"
        failure = case.find("failure")
        error = case.find("error")
        assert error is None, f"{name} is broken, not failed: {error.get('message')}"
        results[name] = None if failure is None else (failure.get("message") or "") + (failure.text or "")
    assert results, "no test ran"
    return results


def test_reference_firmware_passes_every_plan(tmp_path: Path) -> None:
    results = run_plans(tmp_path, None)
    failed = {k: v for k, v in results.items() if v is not None}
    assert not failed, f"the reference firmware failed: {failed}"
    assert len(results) >= 30


@pytest.mark.parametrize("model", FAULTY, ids=[m.rsplit(":", 1)[1] for m in FAULTY])
def test_faulty_firmware_is_caught_by_its_check(tmp_path: Path, model: str) -> None:
    plan, check = FAULTY[model]
    results = run_plans(tmp_path, model)
    failed = {k: v for k, v in results.items() if v is not None}
    caught = [k for k, v in failed.items() if k.startswith(plan.removesuffix(".py")) and f"{check}: FAILED" in v]
    assert caught, f"{model} was not caught by {check} in {plan}; failures: {list(failed)}"
    wrong = {k: v.splitlines()[0] for k, v in failed.items() if f"{check}: FAILED" not in v}
    assert not wrong, f"{model} failed for another reason than {check}: {wrong}"
