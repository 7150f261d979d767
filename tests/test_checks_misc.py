"""Capability, reserve kept, not enabled, limit bounds and firmware requirement on hand-built traces."""

from __future__ import annotations

from trace_builder import TOL, B, TraceBuilder

from rig.checks import (
    RULES,
    capability,
    firmware_requirement,
    judged_note,
    limit_bounds,
    network_limit,
    not_enabled,
    rejudge,
    reserve_kept,
)


def test_capability_is_the_units_own_setting_and_a_lowered_one_is_in_force_after_its_budget() -> None:
    tb = TraceBuilder(caps={"wc3": 16.0}).commission(0.0, 100.0).hold(0.0, 30.0, {"wc3": 16.1})
    assert capability(tb.build(), B).passed
    tb.hold(10.0, 11.0, {"wc3": 16.2})
    assert capability(tb.build(), B).rules == ["capability.over"]
    tb = TraceBuilder().commission(0.0, 100.0).hold(0.0, 60.0, {"wc2": 32.0}).event(20.0, "set_max_output", "wc2",
                                                                                    amps=16.0)
    tb.hold(20.0 + B.limit_lowered_s, 60.0, {"wc2": 16.0})
    assert capability(tb.build(), B).passed
    tb.hold(20.0 + B.limit_lowered_s, 20.5 + B.limit_lowered_s, {"wc2": 32.0})
    assert capability(tb.build(), B).rules == ["capability.over"]


def lost_follower(others: float, lost_current: float | None) -> TraceBuilder:
    """Limit 60 over three units (fair 20 A); wc3's Wi-Fi is cut at 20 s for 60 s."""
    tb = TraceBuilder().commission(0.0, 60.0).event(20.0, "cut_wifi", "wc3").event(80.0, "restore_wifi", "wc3")
    return tb.hold(0.0, 100.0, {"wc1": others / 2, "wc2": others / 2, "wc3": 20.0},
                   {"wc1": others / 2, "wc2": others / 2, "wc3": lost_current})


def test_reserve_kept_judges_the_outcome_by_default_and_the_reserve_policy_as_an_option() -> None:
    assert reserve_kept(lost_follower(40.0, 19.9).build(), B).passed
    assert reserve_kept(lost_follower(50.0, 19.9).build(), B).rules == ["reserve-kept.offered"]
    # the lost follower draws little: by outcome the others may use what it leaves; by the policy they may not
    assert reserve_kept(lost_follower(50.0, 5.0).build(), B).passed
    policy = B.model_copy(update={"policy_reserve_by_fallback": True})
    assert reserve_kept(lost_follower(50.0, 5.0).build(), policy).rules == ["reserve-kept.offered"]
    v = reserve_kept(lost_follower(40.0, None).build(), B)
    assert not v.exercised, "a lost follower whose current is never measured does not judge the outcome"


def disabled_network(charges_until: float) -> TraceBuilder:
    tb = TraceBuilder().commission(0.0, 60.0, enabled=False).event(5.0, "plug", "wc2", demand_a=48.0)
    tb.hold(0.0, 50.0).event(50.0, "enable", on=True).hold(50.0, 120.0, {"wc2": 48.0}, {"wc2": 47.9})
    tb.event(120.0, "enable", on=False)
    tb.hold(120.0, charges_until, {"wc2": 48.0}, {"wc2": 47.9}).hold(charges_until, 200.0)
    return tb


def test_not_enabled_gives_disabling_its_own_budget() -> None:
    assert not_enabled(disabled_network(120.0 + B.disabled_s).build(), B, TOL).passed
    v = not_enabled(disabled_network(120.5 + B.disabled_s).build(), B, TOL)
    assert v.rules == ["not-enabled.disable-late"], v.report()
    tb = disabled_network(120.0).hold(20.0, 21.0, {"wc2": 6.0})
    assert not_enabled(tb.build(), B, TOL).rules == ["not-enabled.charges"]


def test_an_enabled_network_must_charge_and_the_6a_offer_is_a_policy_option() -> None:
    tb = disabled_network(120.0).hold(50.0, 120.0)
    assert not_enabled(tb.build(), B, TOL).rules == ["not-enabled.idle"]
    tb = TraceBuilder().commission(0.0, 24.0, enabled=False).event(5.0, "plug", "wc2", demand_a=48.0)
    tb.event(5.0, "plug", "wc3", demand_a=48.0).hold(0.0, 50.0).event(50.0, "enable", on=True)
    tb.hold(50.0, 120.0, {"wc2": 24.0}, {"wc2": 24.0})
    assert not_enabled(tb.build(), B, TOL).passed
    policy = B.model_copy(update={"policy_every_waiting_vehicle_6a": True})
    assert not_enabled(tb.build(), policy, TOL).rules == ["not-enabled.no-offer"]
    assert not not_enabled(TraceBuilder().commission(0.0, 60.0).hold(0.0, 99.0).build(), B, TOL).exercised


def test_limit_bounds_and_firmware_requirement_name_their_rules() -> None:
    tb = TraceBuilder().commission(0.0, 60.0).event(10.0, "set_limit", limit=17.0)
    tb.event(20.0, "set_limit_refused", limit=143.0, reply="ERR").hold(0.0, 30.0)
    v = limit_bounds(tb.build())
    assert v.rules == ["limit-bounds.accepted-invalid", "limit-bounds.refused-valid"], v.report()
    v = firmware_requirement({"wc1": "21.36.5", "wc2": "24.44.0"}, ["wc1", "wc2", "wc3", "wc4", "wc5", "wc6"])
    assert v.rules == ["firmware.too-old", "firmware.no-version"] and v.context["members"][0] == "wc1"


def test_every_rule_a_check_reports_is_listed() -> None:
    assert all(rule.split(".")[0] for rule in RULES)
    assert len(RULES) == len(set(RULES))


def test_a_trace_notes_its_checks_and_is_judged_again_with_other_budgets() -> None:
    tb = TraceBuilder().commission(0.0, 40.0).hold(0.0, 60.0, {"wc1": 20.0, "wc2": 20.0}, {"wc1": 20.0, "wc2": 20.0})
    tb.hold(20.0, 24.0, {"wc1": 20.0, "wc2": 20.0}, {"wc1": 20.5, "wc2": 20.5})  # 4 s at +1 A
    trace = tb.build()
    note = judged_note([network_limit(trace, B, TOL)])
    assert note == [{"check": "network limit"}]
    assert judged_note([network_limit(trace, B, TOL)], note) == note
    trace.header["judged"] = note
    assert not rejudge(trace, B)[0].passed
    assert rejudge(trace, B.model_copy(update={"overshoot_s": 5.0, "overshoot_area_s": 1.0}))[0].passed


def test_a_commission_event_may_carry_each_members_output_and_unknown_keys() -> None:
    tb = TraceBuilder().event(0.0, "commission", leader="wc1", followers=["wc2", "wc3"], limit=100.0, enabled=True,
                              reused=True, outputs={"wc3": 16.0}).hold(0.0, 30.0, {"wc3": 16.0})
    assert capability(tb.build(), B).passed
    tb.hold(15.0, 16.0, {"wc3": 20.0})
    assert capability(tb.build(), B).rules == ["capability.over"]
