"""What the teeth tests share (tests/test_teeth_*.py, tests/test_reference_night.py): runs of the plans against a
firmware model in a subprocess, read back from their JUnit XML, and which models are judged where.

The checks have teeth: each faulty firmware model is caught by the rule meant for it, in the plan meant for it,
and for no reason beyond the checks its one bug also breaks; the correct models (the reference, builds that are
slow or eager within every budget, coarse PWMs, other sharing policies) pass the plans where they differ.

Each run is a real `pytest testplans/...` in a subprocess against the simulated rack, with the model named on the
command line exactly as an engineer would try it; the JUnit XML says which tests failed, which checks failed and
which rules fired (every violation names its rule id). To stay cheap, a faulty model runs only the scenarios meant
to catch it (all of them one after the other in one process, tests/teeth_batch.py, which imports the rig once), a
correct model only the plans where it differs from the reference (the nightly's seeds), the soak is shortened
(`--soak-hours`), and the reference's whole night runs once (tests/reference_night.py). The files are split so that
`make test`'s two workers share them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = "firmware_under_test.models"
SOAK_HOURS = "0.25"
"""The soak's rack time in the teeth runs: a quarter of an hour of random traffic and faults (eight hours in the soak
tier; the reference night runs half an hour)."""
ENV = dict(os.environ)

@dataclass(frozen=True)
class Run:
    """One pytest run of plans against a model: every test id with its failure text (None when it passed)."""

    results: dict[str, str | None]
    stdout: str = ""

    @property
    def failed(self) -> dict[str, str]:
        return {k: v for k, v in self.results.items() if v is not None}


def plan_args(tmp: Path, model: str | None, *args: str) -> list[str]:
    """The pytest arguments of one run of plans against a model, with its trace directory under `tmp`."""
    out = ["-q", "-p", "no:allure_pytest", "-p", "no:randomly", "-p", "no:xdist", "-p", "no:cacheprovider",
           "--no-live", f"--trace-dir={tmp / 'traces'}", f"--soak-hours={SOAK_HOURS}", *args]
    return out + ([f"--firmware-model={MODELS}.{model}"] if model else [])


def read_junit(junit: Path, output: str = "", ignore: str = "") -> Run:
    """Every test id of a run with its failure text; a broken (rig-fault) test fails the caller at once. Test ids
    starting with `ignore` (another file's plans in the same run) are left out."""
    assert junit.exists(), f"pytest did not run: {output[-3000:]}"
    results: dict[str, str | None] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        name = f"{case.get('classname', '').rsplit('.', 1)[-1]}.py::{case.get('name')}"
        if ignore and name.startswith(ignore):
            continue
        error = case.find("error")
        assert error is None, f"{name} is broken, not failed: {error.get('message')}"
        if case.find("skipped") is not None:
            continue
        failure = case.find("failure")
        results[name] = None if failure is None else (failure.get("message") or "") + "\n" + (failure.text or "")
    assert results, f"no test ran: {output[-2000:]}"
    return Run(results, output)


def run_plans(tmp: Path, model: str | None, *args: str) -> Run:
    """Run plans in a subprocess and read its JUnit XML."""
    junit = tmp / "junit.xml"
    cmd = [sys.executable, "-m", "pytest", *plan_args(tmp, model, *args), f"--junitxml={junit}"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900, env=ENV)
    return read_junit(junit, proc.stdout + proc.stderr)


def run_batch(tmp: Path, runs: dict[str, tuple[str | None, list[str]]]) -> dict[str, Run]:
    """Several runs in one subprocess, one pytest session after the other (tests/teeth_batch.py): the rig is
    imported once instead of once per run."""
    spec = [{"junit": str(tmp / name / "junit.xml"), "args": plan_args(tmp / name, model, *args)}
            for name, (model, args) in runs.items()]
    (tmp / "batch.json").write_text(json.dumps(spec), encoding="utf-8")
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "teeth_batch.py"), str(tmp / "batch.json")],
                          cwd=ROOT, capture_output=True, text=True, timeout=900, env=ENV)
    return {name: read_junit(tmp / name / "junit.xml", proc.stdout + proc.stderr) for name in runs}


def failed_checks(text: str) -> set[str]:
    return set(re.findall(r"([a-z][a-z ]*[a-z]): FAILED", text))


def fired_rules(text: str) -> set[str]:
    return set(re.findall(r"\[([a-z-]+\.[a-z0-9-]+)\]", text))


# -- the correct models ---------------------------------------------------------------------------------------

SOAK = "testplans/test_soak.py"

POLICY_PLANS = ["testplans/test_sharing_by_demand.py", "testplans/test_plug_storms.py",
                "testplans/test_follower_loss.py"]
"""Where a sharing policy matters: who gets how much when the vehicles want more than the limit."""

CUT_OFF_PLANS = ["testplans/test_fallback_fair_limit.py", "testplans/test_leader_loss.py",
                 "testplans/test_wifi_flapping.py", "testplans/test_pairing.py"]
"""Where how fast a unit notices a lost leader matters."""

REDUCTION_PLANS = ["testplans/test_removal_6a.py", "testplans/test_network_bounds.py", "testplans/test_not_enabled.py"]
"""Where how fast a build applies a safety reduction, and returns after a breaker cycle, matters."""

ROUNDING_PLANS = ["testplans/test_fallback_fair_limit.py", "testplans/test_removal_6a.py",
                  "testplans/test_sharing_by_demand.py"]
"""Where a coarse PWM meets a bound: fractional fair limits, the return to 48 A, demands met."""

NOT_LONG_HOLD = "not 3u-long-hold"
"""The removal plan's 900 s hold tests hold timers, not a PWM's rounding: the rounding models skip it here."""

CORRECT: dict[str, tuple[list[str], str | None]] = {
    "correct:SlowButInBudget": (CUT_OFF_PLANS + REDUCTION_PLANS + ["testplans/test_follower_loss.py", SOAK], None),
    "correct:EightBitPwm": (ROUNDING_PLANS + ["testplans/test_mixed_breakers.py", SOAK], NOT_LONG_HOLD),
    "correct:EagerFallback": (CUT_OFF_PLANS, None),
    "correct:WholeAmpsDown": (ROUNDING_PLANS, NOT_LONG_HOLD),
    "alternatives:ProportionalSharing": (POLICY_PLANS, None),
    "alternatives:FirstComeFirstServed": (POLICY_PLANS, None),
    "alternatives:StrictQueue": (POLICY_PLANS, None),
}
"""Each correct model other than the reference, with the plans where it differs from the reference (the slow and
the 8-bit builds with the soak too). `make sweep` runs every one of them on the whole nightly tier."""


def assert_correct_passes(tmp: Path, model: str) -> None:
    """Run a correct model on the plans where it differs from the reference (CORRECT); none may fail."""
    plans, deselect = CORRECT[model]
    args = [*plans, "-m", "not weekend"] + (["-k", deselect] if deselect else [])
    run = run_plans(tmp, model, *args)
    failed = {k: (v or "").splitlines()[:4] for k, v in run.failed.items()}
    assert not failed, f"a correct firmware failed: {failed}"
    if SOAK in plans:
        assert any("test_soak" in k for k in run.results), "the soak did not run"


# -- the faulty models ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Caught:
    """Where a faulty model must be caught: the plan and scenarios meant for it, the check and rule meant to
    catch it, and the other checks its one bug may also break."""

    plan: str
    k: str
    check: str
    rule: str
    also: set[str] = field(default_factory=set)
    args: tuple[str, ...] = ()


CAMPAIGN_EXAMPLES = ("--campaign-size=1",)
"""The campaign's fixed examples (a follower booting without its leader, an isolated leader) run first."""

CAUGHT_BY: dict[str, Caught] = {
    "KeepsAllocationOnLeaderLoss": Caught("test_fallback_fair_limit.py", "2u-follower-wifi",
                                          "fair fallback", "fair-fallback.pilot"),
    "PilotRoundedUp": Caught("test_fallback_fair_limit.py", "3u-fractional-wifi", "fair fallback",
                             "fair-fallback.pilot"),
    "RaisesBeforeLowering": Caught("test_network_limit.py", "3u-tight",
                                   "network limit", "network-limit.too-high"),
    "RemovalKeepsFullCurrent": Caught("test_removal_6a.py", "2u-alone", "removal hold", "removal.hold-late"),
    "RemovalSurvivesBreakerCycle": Caught("test_removal_6a.py", "2u-alone", "removal hold", "removal.return"),
    "AcceptsAnyLimit": Caught("test_network_bounds.py", "beyond and 2", "limit bounds",
                              "limit-bounds.accepted-invalid", {"network limit"}),
    "ReportsOldFirmware": Caught("test_firmware_requirements.py", "6", "firmware requirement", "firmware.too-old"),
    "ChargesWhileDisabled": Caught("test_not_enabled.py", "2u-both", "network not enabled",
                                   "not-enabled.charges", {"network limit"}),
    "NeverGivesBackShare": Caught("test_sharing_by_demand.py", "5u-taper-chain", "sharing",
                                  "sharing.unused"),
    "FairLimitIgnoresCapability": Caught("test_mixed_breakers.py", "fair_limit and 100A", "fair fallback",
                                         "fair-fallback.pilot", {"capability"}),
    "HandsLostShareToOthers": Caught("test_follower_loss.py", "2u-wifi", "reserve kept", "reserve-kept.offered",
                                     {"network limit", "fair fallback", "sharing"}),
    "IgnoresOwnSetting": Caught("test_mixed_breakers.py", "no_unit and 100A", "capability", "capability.over",
                                {"fair fallback", "sharing", "network limit"}),
    # at the edges of the budgets (issue 10)
    "LowersLimitLate": Caught("test_network_bounds.py", "beyond and 2", "network limit",
                              "network-limit.lowered-late"),
    "DisablesLate": Caught("test_not_enabled.py", "2u-both", "network not enabled",
                           "not-enabled.disable-late"),
    "RemovalHoldLate": Caught("test_removal_6a.py", "2u-alone", "removal hold", "removal.hold-late"),
    "RemovalHoldEndsOnTimer": Caught("test_removal_6a.py", "long-hold", "removal hold", "removal.hold"),
    "HoldReturnsAfterCycle": Caught("test_removal_6a.py", "2u-alone", "removal hold", "removal.return"),
    "ReturnsLateAfterCycle": Caught("test_removal_6a.py", "2u-alone", "removal hold", "removal.return"),
    "UnderOffers": Caught("test_removal_6a.py", "2u-alone", "removal hold", "removal.return"),
    "FallsBackLate": Caught("test_fallback_fair_limit.py", "2u-follower-wifi", "fair fallback",
                            "fair-fallback.pilot"),
    "RaisesOnLoss": Caught("test_follower_loss.py", "4u-wifi-small-car", "fair fallback", "fair-fallback.raised",
                           {"network limit"}),
    "BootsAtFullCapability": Caught("test_campaign.py", "", "fair fallback", "fair-fallback.boot",
                                    {"network limit"}, CAMPAIGN_EXAMPLES),
    "IsolatedLeaderTakesAll": Caught("test_campaign.py", "", "fair fallback", "fair-fallback.isolated-leader",
                                     {"network limit", "reserve kept"}, CAMPAIGN_EXAMPLES),
    "IdleVehicleKeepsShare": Caught("test_sharing_by_demand.py", "2u-finish", "sharing", "sharing.idle-share"),
    "WastesHeadroom": Caught("test_sharing_by_demand.py", "4u-one-car", "sharing", "sharing.unused"),
    "ReallocatesLate": Caught("test_sharing_by_demand.py", "3u-under-mixed", "sharing", "sharing.demand-unmet"),
}
