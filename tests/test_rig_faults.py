"""Each rig fault the strict instruments can show, injected mid-scenario, makes the test broken (Allure
"broken", JUnit <error>), never failed; it names what went wrong; and the rack is left safe.

tests/safety_plans/plan_rig_faults.py runs in a pytest subprocess against a copy of the simulated rack.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from safety_harness import allure_results, fast_rack, junit_cases, run_pytest

from rig.trace import read_trace

PLAN = "tests/safety_plans/plan_rig_faults.py"
EXPECTED = {
    "test_load_protection_trip": ("LoadProtectionTrip", "load1a: protection tripped: OPP (PROT? = 64)"),
    "test_pulse_width_line_without_clock": ("PulseClockStopped", "t7-pilots: DIO_EF_CLOCK0 is not running"),
    "test_stale_pulse_register": ("StalePulseRegister", "FIO0 READ_A reads"),
    "test_nan_streak_is_tolerated_then_over_range": ("AnalyzerOverRange", "item 1 is over range (INF) (element 1"),
    "test_nan_streak_longer_than_its_budget": ("AnalyzerNoData", "element 1 (wc1) has answered NAN (no data)"),
    "test_relay_that_does_not_switch": ("RelayMismatch", "t7-relays: relay line(s) did not switch: EIO0 reads 0"),
}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("rigfaults")
    proc = run_pytest(tmp, PLAN, f"--rack={fast_rack(tmp)}")
    assert (tmp / "junit.xml").exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    return {"tmp": tmp, "proc": proc, "allure": allure_results(tmp / "results"),
            "junit": junit_cases(tmp / "junit.xml")}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_rig_fault_is_broken_named_and_leaves_the_rack_safe(run: dict[str, Any], name: str) -> None:
    kind, text = EXPECTED[name]
    result = run["allure"][name]
    message = result["statusDetails"]["message"]
    assert result["status"] == "broken", (name, result["status"], message)
    assert kind in message and text in message, message
    assert "went unnoticed" not in message
    assert run["junit"][name] == "error"
    units = json.loads((run["tmp"] / f"{name}.json").read_text())["units"]
    unsafe = {n: s for n, s in units.items() if not (s["powered"] and not s["b_closed"] and not s["c_closed"]
                                                     and not s["load_on"] and s["wifi_up"])}
    assert not unsafe, unsafe
    trace = read_trace(run["tmp"] / "traces" / f"{name}.jsonl")
    actions = [e.action for e in trace.events]
    assert "rig_fault" in actions and actions[-1] == "safe_state" and trace.events[-1].data["problems"] == []
    assert any((s.current.get("wc1") or 0) > 20 for s in trace.samples), "the scenario never charged"
