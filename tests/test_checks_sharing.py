"""The sharing check on hand-built traces: outcomes, allowances that scale, no exemption by pilot state."""

from __future__ import annotations

from trace_builder import TOL, B, TraceBuilder

from rig.checks import sharing
from rig.checks.sharing import utilisation_allowance

SETTLED = 10.0 + B.reallocation_s


def network(limit: float, demands: dict[str, float]) -> TraceBuilder:
    tb = TraceBuilder().commission(0.0, limit)
    for unit, demand in demands.items():
        tb.event(10.0, "plug", unit, demand_a=demand)
    return tb


def test_not_exercised_before_the_network_settles() -> None:
    tb = network(40.0, {"wc1": 16.0}).hold(0.0, SETTLED - 0.5, {"wc1": 3.0})
    v = sharing(tb.build(), B, TOL)
    assert not v.exercised and not v.passed


def test_demand_under_the_limit_is_met_within_the_pwm_resolution() -> None:
    tb = network(80.0, {"wc1": 16.0, "wc2": 32.0})
    tb.hold(0.0, SETTLED + 10, {"wc1": 16.0 - B.pwm_step_a, "wc2": 32.0}, {"wc1": 15.7, "wc2": 32.0})
    assert sharing(tb.build(), B, TOL).passed
    tb.hold(SETTLED, SETTLED + 10, {"wc1": 16.0 - B.pwm_step_a - 0.1, "wc2": 32.0}, {"wc1": 15.6, "wc2": 32.0})
    assert sharing(tb.build(), B, TOL).rules == ["sharing.demand-unmet"]


def test_the_utilisation_allowance_scales_with_the_limit_and_the_charging_vehicles() -> None:
    assert utilisation_allowance(B, 40.0, 2) == 0.05 * 40 + 2 * 2.5
    assert utilisation_allowance(B, 200.0, 6) > utilisation_allowance(B, 40.0, 2)
    edge = 40.0 - utilisation_allowance(B, 40.0, 2) - TOL  # 32.5 A drawn of 40
    tb = network(40.0, {"wc1": 48.0, "wc2": 48.0})
    tb.hold(0.0, SETTLED + 10, {"wc1": 20.0, "wc2": 20.0}, {"wc1": edge / 2, "wc2": edge / 2})
    assert sharing(tb.build(), B, TOL).passed
    # short of it for as long as a vehicle takes to follow a lowered pilot: a reallocation in progress
    tb.hold(SETTLED, SETTLED + B.vehicle_response_s, {"wc1": 20.0, "wc2": 20.0},
            {"wc1": edge / 2 - 0.1, "wc2": edge / 2 - 0.1})
    assert sharing(tb.build(), B, TOL).passed
    tb.hold(SETTLED, SETTLED + B.vehicle_response_s + 0.5, {"wc1": 20.0, "wc2": 20.0},
            {"wc1": edge / 2 - 0.1, "wc2": edge / 2 - 0.1})
    assert sharing(tb.build(), B, TOL).rules == ["sharing.unused"]


def test_unmeasured_current_is_not_judged_for_utilisation() -> None:
    tb = network(40.0, {"wc1": 48.0, "wc2": 48.0})
    tb.hold(0.0, SETTLED + 10, {"wc1": 20.0, "wc2": 20.0}, {"wc1": None, "wc2": 10.0})
    v = sharing(tb.build(), B, TOL)
    assert v.passed and v.exercised, v.report()


def test_a_vehicle_that_draws_nothing_gives_its_share_back_whatever_its_pilot_state() -> None:
    tb = network(48.0, {"wc1": 48.0, "wc2": 48.0}).event(20.0, "set_demand", "wc2", demand_a=0.0)
    settled = 20.0 + B.reallocation_s
    tb.hold(0.0, settled + 10, {"wc1": 42.0, "wc2": 6.0}, {"wc1": 42.0, "wc2": 0.0})
    assert sharing(tb.build(), B, TOL).passed  # the lowest offer a pilot can make is not a share kept
    tb.hold(settled, settled + 10, {"wc1": 24.0, "wc2": 24.0}, {"wc1": 24.0, "wc2": 0.0})
    v = sharing(tb.build(), B, TOL)
    assert "sharing.idle-share" in v.rules and "sharing.unused" in v.rules, v.report()


def test_the_6a_floor_for_every_waiting_vehicle_is_a_policy_option_off_by_default() -> None:
    tb = network(40.0, {"wc1": 48.0, "wc2": 48.0, "wc3": 48.0})
    tb.hold(0.0, SETTLED + 10, {"wc1": 40.0, "wc2": None, "wc3": None}, {"wc1": 40.0})
    assert sharing(tb.build(), B, TOL).passed  # a later vehicle waits while the first uses the whole limit
    policy = B.model_copy(update={"policy_every_waiting_vehicle_6a": True})
    assert sharing(tb.build(), policy, TOL).rules == ["sharing.under-6a"]


def test_no_sample_is_judged_within_the_reallocation_budget_of_a_change() -> None:
    tb = network(80.0, {"wc1": 16.0}).event(50.0, "set_demand", "wc1", demand_a=32.0)
    tb.hold(0.0, 50.0 + B.reallocation_s, {"wc1": 16.0}, {"wc1": 16.0})
    tb.hold(50.0 + B.reallocation_s, 50.0 + B.reallocation_s + 5, {"wc1": 32.0}, {"wc1": 32.0})
    assert sharing(tb.build(), B, TOL).passed
    tb.hold(50.0 + B.reallocation_s, 50.0 + B.reallocation_s + 5, {"wc1": 16.0}, {"wc1": 16.0})
    assert sharing(tb.build(), B, TOL).rules == ["sharing.demand-unmet"]
