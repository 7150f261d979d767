"""Tiers and rack time (issue 11): what each tier runs, how long it holds a rack, and what a real rack would take.

The figures come from testplans/rack_time.json, the simulated rack's measurement of every test (`make rack-time`),
which `rig plan` reads without touching any instrument; `make bench` measures them again.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rig.budgets import Budgets
from rig.tiers import Allowances, Measured, estimate, in_tier, load_rack_times

ROOT = Path(__file__).resolve().parents[1]


def plan(tier: str, rack: str = "racks/sim-6.toml") -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-m", "rig.cli", "plan", "--tier", tier, "--rack", rack, "--json"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return json.loads(proc.stdout)


def readme_plans() -> set[str]:
    """The plan modules of the README's plan table."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return set(re.findall(r"^\| `(test_\w+\.py)` \|", text, flags=re.MULTILINE))


@pytest.fixture(scope="module")
def gate() -> dict[str, Any]:
    return plan("gate")


def test_the_gate_covers_every_row_of_the_plan_table_six_unit_cases_first(gate: dict[str, Any]) -> None:
    rows = readme_plans()
    assert len(rows) >= 15, rows
    covered = {t["test"].split("::")[0].split("/")[-1] for t in gate["tests_listed"]}
    assert rows <= covered, rows - covered
    networks = [t["network"] for t in gate["tests_listed"] if t["network"]]
    sizes = [int(n.split("u-")[0]) for n in networks]
    assert sizes[0] == 6 and sizes == sorted(sizes, reverse=True), networks  # the six-unit cases first


def test_the_gate_takes_at_most_an_hour_of_rack_time_and_an_hour_and_a_half_on_a_real_rack(
        gate: dict[str, Any]) -> None:
    assert not gate["unmeasured"], gate["unmeasured"]
    assert 0.3 < gate["rack_time_h"] <= 1.0, gate
    assert gate["real_rack_estimate_h"] <= 1.5, gate


@pytest.mark.parametrize("rack", ["racks/sim-6.toml", "racks/lab-example.toml"])
def test_the_nightly_fits_in_eight_hours_on_one_real_rack(rack: str) -> None:
    nightly = plan("nightly", rack)
    assert not nightly["unmeasured"], nightly["unmeasured"]
    assert 3.0 < nightly["real_rack_estimate_h"] <= 8.0, nightly
    assert nightly["network_configurations"] < 40, nightly  # networks shared, not one per scenario


def test_every_test_that_holds_a_rack_is_measured() -> None:
    weekend = plan("weekend")
    assert not weekend["unmeasured"], f"run `make rack-time`: {weekend['unmeasured']}"
    times = load_rack_times(ROOT / "testplans" / "rack_time.json")
    assert {t["test"] for t in weekend["tests_listed"] if t["uses_rack"]} <= set(times)


def test_each_tier_holds_what_it_should() -> None:
    gate, nightly, weekend, soak = (plan(t)["tests_listed"] for t in ("gate", "nightly", "weekend", "soak"))
    names = [{t["test"] for t in tier} for tier in (gate, nightly, weekend, soak)]
    assert names[0] < names[1] < names[2] and names[3] < names[2]
    assert [t.split("::")[-1] for t in names[3]] == ["test_random_traffic_and_faults[eight-hours]"]
    assert not any("eight-hours" in t for t in names[1])  # the nightly leaves the soak to its own tier


def test_a_tier_is_chosen_by_markers() -> None:
    assert in_tier({"gate"}, "gate") and not in_tier(set(), "gate")
    assert in_tier(set(), "nightly") and not in_tier({"soak"}, "nightly") and not in_tier({"weekend"}, "nightly")
    assert in_tier({"soak"}, "soak") and not in_tier({"gate"}, "soak")
    assert all(in_tier(m, "weekend") for m in ({"soak"}, {"weekend"}, set(), {"gate"}))


def test_the_real_rack_estimate_replaces_the_simulations_quick_parts_by_the_budgets() -> None:
    budgets = Budgets()
    allow = Allowances.of(budgets, "console")
    assert allow.commissioning_s == 2 * budgets.reboot_s + 5 and allow.reboot_s == budgets.reboot_s - 7
    measured = {"a": Measured(600.0, 30.0, 1, 2), "b": Measured(300.0)}
    e = estimate(["a", "b", "c"], measured, networks=1, allow=allow)
    assert e.rack_s == 900.0 and e.unmeasured == ["c"]
    assert e.real_s == pytest.approx(900.0 - 30.0 + 2 * allow.reboot_s + allow.commissioning_s)
    operator = Allowances.of(budgets, "operator")
    assert operator.commissioning_s > allow.commissioning_s  # an operator in the app takes minutes
    campaign = Measured(3000.0, 300.0, 10, 4, scenarios=10)
    assert campaign.scaled(1).rack_s == 300.0 and campaign.scaled(1).commissionings == 1


def test_a_tier_over_its_limit_is_refused_with_exit_1(tmp_path: Path) -> None:
    data = json.loads((ROOT / "testplans" / "rack_time.json").read_text(encoding="utf-8"))
    for figures in data["tests"].values():
        figures["rack_s"] *= 3  # as if every test took three times as long
    slow = tmp_path / "rack_time.json"
    slow.write_text(json.dumps(data), encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "rig.cli", "plan", "--tier", "nightly", "--times", str(slow)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "tier limit: 8 h EXCEEDED" in proc.stdout, proc.stdout[-1000:] + proc.stderr
    from rig.night_plan import exceeds

    assert exceeds("gate", 3000, 6000) and exceeds("gate", 3700, 4000) and not exceeds("gate", 3000, 4000)
    assert not exceeds("weekend", 1e6, 1e6)
