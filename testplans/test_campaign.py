"""Randomised campaigns: hypothesis generates whole scenarios and every invariant must hold.

Seed 000: "This represents the continuous current which the network will not exceed." and (Fallback (Fair)
Limit) "Equal to (network limit) / (network size) bounded to within a single unit's capability."

A scenario is a network size, a limit, each unit's branch-circuit setting, and a schedule of arrivals,
departures, demand changes, Wi-Fi cuts, breaker trips and power cycles of a follower while its leader is down.
Every scenario plugs at least one vehicle in, so every scenario exercises at least the network limit. hypothesis
draws them, runs each on a fresh rack with a trace of its own (`<trace dir>/campaign/NNN-<digest>.jsonl`), and
judges the trace with every campaign check. A check a scenario did not exercise is listed in the report (the
attachment "campaign checks"), never dropped silently, and is not a failure of that scenario. A few scenarios
are always run first (`@example`): the situations random schedules rarely reach (a follower that powers up while
its leader is down, a leader cut off from every follower while it charges).

A failure is shrunk to a minimal scenario and printed as JSON with the command that replays it (the replay is
`testplans/campaign_replay.py`, collected only when named, so a night never shows it as a skipped test):

    pytest testplans/campaign_replay.py --campaign-replay '<json>'

`--campaign-size N` sets how many scenarios a campaign draws (the nightly runs 25, derandomised, so the same
ones every night).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import allure
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from rig import checks, gpm
from rig.fixtures.plugin import RigSettings
from rig.fixtures.tiers import campaign_size
from rig.rack import Rack

OUTPUTS = [48.0, 48.0, 40.0, 32.0, 24.0, 16.0]

ACTIONS = ["plug", "plug", "unplug", "demand", "cut_wifi", "trip", "boot_alone"]
"""Step kinds; `boot_alone` trips the leader and the step's unit, powers the unit up while the leader stays
down, then restores the leader."""


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
    units = st.integers(0, size - 1)
    waits = st.sampled_from([0.0, 0.5, 2.0, 10.0, 30.0, 60.0])
    values = st.sampled_from([0.0, 10.0, 16.0, 32.0, 48.0, 20.0, 45.0])
    # the first step plugs a vehicle in: a scenario without one would exercise no check
    first = st.builds(Step, wait_s=waits, action=st.just("plug"), unit=units, value=values)
    step = st.builds(Step, wait_s=waits, action=st.sampled_from(ACTIONS), unit=units, value=values)
    steps = (draw(first), *draw(st.lists(step, min_size=0, max_size=11)))
    return Scenario(size, limit, outputs, steps)


EXAMPLES = [
    # a follower charging powers up while its leader is down: it has been given nothing, so its fair limit at most
    Scenario(3, 60.0, (48.0, 48.0, 48.0), (Step(20.0, "plug", 1, 48.0), Step(30.0, "boot_alone", 1, 30.0))),
    # the leader charges, then its Wi-Fi is cut for long: the isolated leader leaves its followers' fair limits
    Scenario(3, 60.0, (48.0, 48.0, 48.0), (Step(3.0, "plug", 0, 48.0), Step(3.0, "plug", 2, 16.0),
                                           Step(40.0, "cut_wifi", 0, 40.0))),
]


def run_scenario(rack: Rack, scenario: Scenario) -> None:
    """Play a scenario on a fresh rack."""
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
        elif step.action == "boot_alone" and unit != units[0]:
            rack.trip_breaker(units[0])
            rack.trip_breaker(unit)
            rack.wait(5)
            rack.restore_breaker(unit)  # powers up while its leader is down
            rack.wait(20 + step.value)
            rack.restore_breaker(units[0])
        rack.wait(step.wait_s)
    restores = [e.t for e in rack.trace.events if e.action == "restore"]
    rebooting = max(0.0, max(restores, default=-1e9) + rack.budgets.reboot_s - rack.now)
    rack.wait(rebooting + rack.budgets.reallocation_s + 10)  # the reboot window only when a unit is still in it


def judge_trace(rack: Rack) -> tuple[list[checks.Verdict], list[checks.Verdict]]:
    """Every campaign check on the rack's trace: (verdicts of the checks exercised, those not exercised). The
    trace notes the checks that judged it, marked so that `rig judge` lists the unexercised ones too."""
    t, b, tol = rack.trace, rack.budgets, rack.tolerance_a
    verdicts = [checks.network_limit(t, b, tol), checks.fair_fallback(t, b, tol), checks.reserve_kept(t, b),
                checks.capability(t, b), checks.sharing(t, b, tol)]
    rack.writer.note_header(judged=[{**entry, "exercised_only": True} for entry in checks.judged_note(verdicts)],
                            judged_at=round(rack.now, 3))
    return [v for v in verdicts if v.exercised], [v for v in verdicts if not v.exercised]


def scenario_trace(trace_dir: Path, index: int, scenario: Scenario) -> Path:
    """Each scenario's own trace, numbered in the order drawn and named by its content."""
    digest = hashlib.sha1(scenario.to_json().encode()).hexdigest()[:10]
    return trace_dir / "campaign" / f"{index:03d}-{digest}.jsonl"


def judge(rack: Rack, scenario: Scenario, trace: Path, listing: list[str]) -> None:
    """Run one scenario on the run's rack, in a trace of its own, and fail with the evidence of every exercised
    check that failed."""
    rack.end_test()
    rack.begin_test(trace)
    rack.writer.note_header(test=f"testplans/test_campaign.py::{trace.stem}", scenario=scenario.to_json())
    run_scenario(rack, scenario)
    exercised, skipped = judge_trace(rack)
    if not exercised:  # the rig drew a scenario that judges nothing: its fault (broken), not the firmware's
        raise RuntimeError(f"scenario exercised no check: {scenario.to_json()}")
    failed = [v for v in exercised if not v.passed]
    listing.append(f"{trace.name}: judged by {', '.join(v.check for v in exercised)}; not exercised: "
                   + (", ".join(f"{v.check} ({v.summary.removeprefix('not exercised: ')})" for v in skipped)
                      or "none"))
    if failed:
        replay = f"pytest testplans/campaign_replay.py --campaign-replay '{scenario.to_json()}'"
        pytest.fail("\n".join(v.report() for v in failed) + f"\nscenario: {scenario.to_json()}\ntrace: {trace}"
                    f"\nreplay: {replay}", pytrace=False)


@pytest.mark.campaign
@pytest.mark.gate
@pytest.mark.reconfigures("commission")
def test_random_scenarios_keep_every_invariant(pytestconfig: pytest.Config, rig_settings: RigSettings,
                                              rack: Rack, request: pytest.FixtureRequest) -> None:
    listing: list[str] = []
    count = [0]

    @settings(max_examples=campaign_size(pytestconfig), deadline=None, derandomize=True,
              database=None, print_blob=True, suppress_health_check=[HealthCheck.too_slow])
    @given(scenarios())
    def campaign(scenario: Scenario) -> None:
        count[0] += 1
        judge(rack, scenario, scenario_trace(rig_settings.trace_dir, count[0], scenario), listing)

    for fixed in EXAMPLES:
        campaign = example(fixed)(campaign)
    try:
        campaign()
    finally:
        allure.attach("\n".join(listing), "campaign checks", allure.attachment_type.TEXT)
        # its rack time grows with the tier's campaign size: rig plan scales it by the scenarios drawn
        request.node.user_properties.append(("scenarios", count[0] - len(EXAMPLES)))
