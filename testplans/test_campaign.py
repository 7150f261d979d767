"""Randomised campaigns: hypothesis generates whole scenarios and every invariant must hold.

Seed 000: "This represents the continuous current which the network will not exceed." and (Fallback (Fair)
Limit) "Equal to (network limit) / (network size) bounded to within a single unit's capability."

A scenario is a network size, a limit, each unit's branch-circuit setting, and a schedule of arrivals,
departures, demand changes, Wi-Fi cuts and breaker trips. hypothesis draws them, runs each on a fresh rack, and
judges the trace with every check the scenario exercised. A failure is shrunk to a minimal scenario and printed
as JSON with the command that replays it:

    pytest testplans/test_campaign.py::test_replay --campaign-replay '<json>'

`--campaign-size N` sets how many scenarios a campaign draws (the nightly runs 25, derandomised, so the same
ones every night).
"""

from __future__ import annotations

import itertools
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rig import checks, gpm
from rig.fixtures.plugin import RigSettings
from rig.fixtures.tiers import campaign_size
from rig.rack import Rack

OUTPUTS = [48.0, 48.0, 40.0, 32.0, 24.0, 16.0]


@dataclass(frozen=True)
class Step:
    wait_s: float
    action: str
    unit: int
    value: float


@dataclass(frozen=True)
class Scenario:
    size: int
    limit_a: float
    outputs: tuple[float, ...]
    steps: tuple[Step, ...]

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @staticmethod
    def from_json(text: str) -> Scenario:
        data = json.loads(text)
        return Scenario(data["size"], data["limit_a"], tuple(data["outputs"]),
                        tuple(Step(**step) for step in data["steps"]))


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    size = draw(st.integers(2, 6))
    outputs = tuple(draw(st.sampled_from(OUTPUTS)) for _ in range(size))
    low, high = gpm.min_network_limit(size), gpm.max_network_limit([48.0] * size)
    limit = float(draw(st.integers(int(low), int(min(high, 200)))))
    step = st.builds(
        Step,
        wait_s=st.sampled_from([0.0, 0.5, 2.0, 10.0, 30.0, 60.0]),
        action=st.sampled_from(["plug", "plug", "unplug", "demand", "cut_wifi", "trip"]),
        unit=st.integers(0, size - 1),
        value=st.sampled_from([0.0, 10.0, 16.0, 32.0, 48.0, 20.0, 45.0]),
    )
    steps = tuple(draw(st.lists(step, min_size=1, max_size=12)))
    return Scenario(size, limit, outputs, steps)


def run_scenario(rack: Rack, scenario: Scenario) -> list[checks.Verdict]:
    """Play a scenario on a fresh rack and return the verdicts of every check it exercised."""
    units = [u.name for u in rack.config.units][: scenario.size]
    rack.commission(units[0], units[1:], scenario.limit_a, outputs=dict(zip(units, scenario.outputs, strict=True)))
    for step in scenario.steps:
        unit = units[step.unit]
        if step.action == "plug" and unit not in rack.vehicles:
            rack.plug(unit, step.value or 48.0)
        elif step.action == "unplug" and unit in rack.vehicles:
            rack.unplug(unit)
        elif step.action == "demand" and unit in rack.vehicles:
            rack.set_demand(unit, step.value)
        elif step.action == "cut_wifi":
            rack.cut_wifi(unit)
            rack.wait(5 + step.value)
            rack.restore_wifi(unit)
        elif step.action == "trip":
            rack.trip_breaker(unit)
            rack.wait(5 + step.value)
            rack.restore_breaker(unit)
        rack.wait(step.wait_s)
    restores = [e.t for e in rack.trace.events if e.action == "restore"]
    rebooting = max(0.0, max(restores, default=-1e9) + rack.budgets.reboot_s - rack.now)
    rack.wait(rebooting + rack.budgets.reallocation_s + 10)  # the reboot window only when a unit is still in it
    t, b, tol = rack.trace, rack.budgets, rack.tolerance_a
    verdicts = [checks.network_limit(t, b, tol), checks.fair_fallback(t, b, tol), checks.reserve_kept(t, b),
                checks.capability(t, b), checks.sharing(t, b, tol)]
    return [v for v in verdicts if not v.summary.startswith("not exercised")]


def judge(rack: Rack, scenario: Scenario, trace: Path) -> None:
    """Play one scenario on the run's rack, in a trace of its own."""
    rack.end_test()
    rack.begin_test(trace)
    failed = [v for v in run_scenario(rack, scenario) if not v.passed]
    if failed:
        replay = f"pytest testplans/test_campaign.py::test_replay --campaign-replay '{scenario.to_json()}'"
        pytest.fail("\n".join(v.report() for v in failed) + f"\nscenario: {scenario.to_json()}\nreplay: {replay}",
                    pytrace=False)


@pytest.mark.campaign
@pytest.mark.gate
@pytest.mark.reconfigures("commission")
def test_random_scenarios_keep_every_invariant(pytestconfig: pytest.Config, rig_settings: RigSettings,
                                              rack: Rack) -> None:
    numbers = itertools.count(1)

    @settings(max_examples=campaign_size(pytestconfig), deadline=None, derandomize=True,
              database=None, print_blob=True, suppress_health_check=[HealthCheck.too_slow])
    @given(scenarios())
    def campaign(scenario: Scenario) -> None:
        judge(rack, scenario, rig_settings.trace_dir / f"campaign-{next(numbers):03d}.jsonl")

    campaign()


@pytest.mark.reconfigures("commission")
def test_replay(pytestconfig: pytest.Config, rig_settings: RigSettings, rack: Rack) -> None:
    text = pytestconfig.getoption("--campaign-replay")
    if not text:
        pytest.skip("nothing to replay: give --campaign-replay '<scenario json>'")
    judge(rack, Scenario.from_json(text), rig_settings.trace_dir / "campaign-replay.jsonl")
