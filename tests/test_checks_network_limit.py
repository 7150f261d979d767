"""The network limit check on hand-built traces, at every boundary of its budgets."""

from __future__ import annotations

from trace_builder import TOL, B, TraceBuilder

from rig.checks import network_limit

LIMIT = 40.0


def base(end: float = 120.0) -> TraceBuilder:
    """Two vehicles sharing 40 A evenly; the checks see the limit respected until a test adds an excursion."""
    return TraceBuilder().commission(0.0, LIMIT).hold(0.0, end, {"wc1": 20.0, "wc2": 20.0},
                                                         {"wc1": 19.5, "wc2": 19.5})


def over(tb: TraceBuilder, start: float, end: float, pct: float) -> TraceBuilder:
    """Measured network current `pct` % of the limit above limit + tolerance from `start` to `end`."""
    total = LIMIT + TOL + LIMIT * pct / 100.0
    return tb.hold(start, end, {"wc1": 20.0, "wc2": 20.0}, {"wc1": total / 2, "wc2": total / 2})


def test_a_network_within_its_limit_passes() -> None:
    v = network_limit(base().build(), B, TOL)
    assert v.passed and v.exercised, v.report()


def test_not_exercised_without_commissioning_or_without_a_measured_current() -> None:
    tb = TraceBuilder().hold(0.0, 10.0, {"wc1": 20.0})
    assert not network_limit(tb.build(), B, TOL).exercised
    tb = TraceBuilder().commission(0.0, LIMIT).hold(0.0, 10.0, {"wc1": 20.0}, {"wc1": None})
    v = network_limit(tb.build(), B, TOL)
    assert not v.exercised and not v.passed and "measured" in v.summary


def test_an_unmeasured_sample_is_neither_0_a_nor_a_violation() -> None:
    tb = base()
    tb.hold(50.0, 52.0, {"wc1": 20.0, "wc2": 20.0}, {"wc1": None, "wc2": 19.5})
    assert network_limit(tb.build(), B, TOL).passed
    # an excursion that goes on through an unmeasured sample is still one excursion, and judged by its length
    tb = over(base(), 50.0, 52.0, 2.0)
    tb.hold(52.0, 52.5, {"wc1": 20.0, "wc2": 20.0}, {"wc1": None, "wc2": None})
    over(tb, 52.5, 54.5, 2.0)
    v = network_limit(tb.build(), B, TOL)
    assert v.rules == ["network-limit.too-long"], v.report()


def test_an_excursion_exactly_as_long_as_the_budget_passes_and_half_a_second_more_fails() -> None:
    assert network_limit(over(base(), 50.0, 50.0 + B.overshoot_s, 1.0).build(), B, TOL).passed
    v = network_limit(over(base(), 50.0, 50.5 + B.overshoot_s, 1.0).build(), B, TOL)
    assert "network-limit.too-long" in v.rules, v.report()


def test_an_excursion_exactly_as_high_as_the_budget_passes_and_higher_fails() -> None:
    assert network_limit(over(base(), 50.0, 51.0, B.overshoot_peak_pct).build(), B, TOL).passed
    v = network_limit(over(base(), 50.0, 51.0, B.overshoot_peak_pct + 0.5).build(), B, TOL)
    assert v.rules == ["network-limit.too-high"], v.report()


def test_a_short_tall_overshoot_is_caught_by_its_height() -> None:
    """The weakness of issue 10: +30 % for 2 s passed because it was short."""
    v = network_limit(over(base(), 50.0, 52.0, 30.0).build(), B, TOL)
    assert "network-limit.too-high" in v.rules and "network-limit.too-long" not in v.rules, v.report()


def test_excursions_that_restart_are_judged_one_by_one_and_counted() -> None:
    tb = base()
    for start in (20.0, 23.0):  # two 2 s excursions 1 s apart: neither is 4 s long
        over(tb, start, start + 2.0, 2.0)
    v = network_limit(tb.build(), B, TOL)
    assert v.passed and "2 excursion(s)" in v.summary, v.report()
    over(tb, 26.0, 28.0, 2.0)  # a third within the window: a series
    v = network_limit(tb.build(), B, TOL)
    assert v.rules == ["network-limit.too-many"], v.report()
    # the same three spread wider than the window are forgiven one by one
    tb = base(1400.0)
    for start in (20.0, 20.0 + B.overshoot_window_s + 1, 20.0 + 2 * B.overshoot_window_s + 2):
        over(tb, start, start + 2.0, 2.0)
    assert network_limit(tb.build(), B, TOL).passed


def test_accumulated_overshoot_is_judged_over_the_window() -> None:
    # one excursion at the peak budget for the whole length budget adds up exactly to the area budget
    assert network_limit(over(base(), 50.0, 53.0, 10.0).build(), B, TOL).passed
    tb = base()
    over(tb, 20.0, 23.0, 8.0)
    over(tb, 60.0, 63.0, 8.0)  # two allowed excursions, 0.48 limit-seconds together
    v = network_limit(tb.build(), B, TOL)
    assert v.rules == ["network-limit.accumulated"], v.report()


def test_advertised_pilots_over_the_limit_fail() -> None:
    tb = base().hold(30.0, 31.0, {"wc1": 20.0, "wc2": 20.0, "wc3": 6.0})
    v = network_limit(tb.build(), B, TOL)
    assert v.rules == ["network-limit.offered"], v.report()
    tb = base().hold(30.0, 31.0, {"wc1": 20.1, "wc2": 20.1})  # within the tight tolerance per unit
    assert network_limit(tb.build(), B, TOL).passed


def test_a_lowered_limit_is_in_force_after_its_own_budget_not_the_sharing_budget() -> None:
    def lowered(pilots_until: float, current_until: float) -> TraceBuilder:
        tb = base().event(40.0, "set_limit", limit=24.0)
        tb.hold(40.0, pilots_until, {"wc1": 20.0, "wc2": 20.0}, {"wc1": 19.5, "wc2": 19.5})
        tb.hold(pilots_until, current_until, {"wc1": 12.0, "wc2": 12.0}, {"wc1": 19.5, "wc2": 19.5})
        return tb.hold(current_until, 120.0, {"wc1": 12.0, "wc2": 12.0}, {"wc1": 11.9, "wc2": 11.9})

    edge = 40.0 + B.limit_lowered_s
    assert network_limit(lowered(edge, edge + B.vehicle_response_s).build(), B, TOL).passed
    v = network_limit(lowered(edge + 2.0, edge + 2.0).build(), B, TOL)
    assert "network-limit.lowered-late" in v.rules, v.report()
    v = network_limit(lowered(edge, edge + B.vehicle_response_s + 4.0).build(), B, TOL)
    assert "network-limit.too-long" in v.rules and "network-limit.lowered-late" not in v.rules, v.report()


def test_unknown_events_do_not_change_the_network() -> None:
    tb = base().event(30.0, "note", text="anything").event(31.0, "judged_by_someone", unit="wc1")
    assert network_limit(tb.build(), B, TOL).passed


def test_a_cut_off_unit_within_its_fallback_budget_counts_at_its_fair_limit() -> None:
    """Two cut-offs that overlap: one unit has fallen back and raised to its fair limit, the other still holds the
    larger share it had been given, as its own fallback budget allows: the network is not blamed for that."""
    tb = TraceBuilder().commission(0.0, 60.0)
    tb.hold(0.0, 100.0, {"wc1": 10.0, "wc2": 18.0, "wc3": 32.0}, {"wc1": 10.0, "wc2": 18.0, "wc3": 32.0})
    tb.event(20.0, "cut_wifi", "wc2").event(25.0, "cut_wifi", "wc3")  # wc3 cut before the leader could lower it
    tb.hold(31.0, 40.0, {"wc1": 10.0, "wc2": 20.0, "wc3": 32.0}, {"wc1": 10.0, "wc2": 20.0, "wc3": 32.0})
    tb.event(40.0, "restore_wifi", "wc2").event(40.0, "restore_wifi", "wc3")
    assert network_limit(tb.build(), B, TOL).passed
    # what the others take beyond what the cut-off units' fair limits leave is the network's
    tb.hold(31.0, 40.0, {"wc1": 24.0, "wc2": 20.0, "wc3": 32.0}, {"wc1": 24.0, "wc2": 20.0, "wc3": 32.0})
    assert "network-limit.offered" in network_limit(tb.build(), B, TOL).rules
