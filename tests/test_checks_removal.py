"""The removal hold check on hand-built traces: the hold for as long as the unit is powered, the return over a
window."""

from __future__ import annotations

from trace_builder import TOL, B, TraceBuilder

from rig.checks import removal_hold

REMOVED = 20.0
TRIP = 200.0
RESTORE = 205.0
END = RESTORE + B.reboot_s + 10.0


def removal(hold_from: float = REMOVED + 1.0, hold_until: float = TRIP, back_from: float = RESTORE + 10.0,
            back: float = 48.0) -> TraceBuilder:
    """wc2 charges at 30 A, is removed, holds 6 A from `hold_from` to `hold_until`, has its breaker cycled and
    offers `back` from `back_from` on."""
    tb = TraceBuilder().commission(0.0, 60.0).hold(0.0, END, {"wc2": 30.0}, {"wc2": 29.9})
    tb.event(5.0, "plug", "wc2", demand_a=48.0).event(REMOVED, "remove", "wc2")
    tb.hold(hold_from, hold_until, {"wc2": 6.0}, {"wc2": 6.0})
    tb.event(TRIP, "trip", "wc2").hold(TRIP, back_from).event(RESTORE, "restore", "wc2")
    return tb.hold(back_from, END, {"wc2": back}, {"wc2": 47.9})


def test_a_hold_applied_at_the_budget_and_kept_until_the_breaker_passes() -> None:
    v = removal_hold(removal(hold_from=REMOVED + B.removal_s).build(), B, TOL)
    assert v.passed and v.exercised, v.report()


def test_a_hold_half_a_second_late_fails_as_late() -> None:
    v = removal_hold(removal(hold_from=REMOVED + B.removal_s + 0.5).build(), B, TOL)
    assert v.rules == ["removal.hold-late"], v.report()


def test_a_hold_that_ends_before_the_breaker_cycles_fails_however_late() -> None:
    tb = removal()
    tb.hold(150.0, TRIP, {"wc2": 30.0}, {"wc2": 6.0})  # a timer ran out 130 s in
    v = removal_hold(tb.build(), B, TOL)
    assert v.rules == ["removal.hold"], v.report()


def test_the_current_is_judged_a_vehicle_response_later_and_none_is_not_a_reading() -> None:
    tb = removal(hold_from=REMOVED + B.removal_s)
    tb.hold(REMOVED + B.removal_s, REMOVED + B.removal_s + B.vehicle_response_s, {"wc2": 6.0}, {"wc2": 29.9})
    assert removal_hold(tb.build(), B, TOL).passed
    tb.hold(100.0, 101.0, {"wc2": 6.0}, {"wc2": None})
    assert removal_hold(tb.build(), B, TOL).passed
    tb.hold(101.0, 102.0, {"wc2": 6.0}, {"wc2": 12.0})
    assert removal_hold(tb.build(), B, TOL).rules == ["removal.hold-current"]


def test_the_return_is_judged_over_the_whole_window_not_one_sample() -> None:
    assert removal_hold(removal(back_from=RESTORE + B.reboot_s).build(), B, TOL).passed
    v = removal_hold(removal(back_from=RESTORE + B.reboot_s + 0.5).build(), B, TOL)
    assert v.rules == ["removal.return"], v.report()
    tb = removal()
    tb.hold(RESTORE + B.reboot_s + 5.0, END, {"wc2": 6.0}, {"wc2": 6.0})  # back, then held again
    assert removal_hold(tb.build(), B, TOL).rules == ["removal.return"]


def test_the_return_allows_the_pwm_resolution_under_the_configured_maximum() -> None:
    assert removal_hold(removal(back=48.0 - B.pwm_step_a).build(), B, TOL).passed
    assert removal_hold(removal(back=47.81).build(), B, TOL).passed  # an 8-bit PWM's 48 A
    assert removal_hold(removal(back=48.0 - B.pwm_step_a - 0.1).build(), B, TOL).rules == ["removal.return"]


def test_without_a_breaker_cycle_the_hold_is_judged_and_the_return_named_as_not_exercised() -> None:
    tb = TraceBuilder().commission(0.0, 60.0).hold(0.0, 300.0, {"wc2": 30.0}, {"wc2": 29.9})
    tb.event(5.0, "plug", "wc2", demand_a=48.0).event(REMOVED, "remove", "wc2").hold(21.0, 300.0, {"wc2": 6.0})
    v = removal_hold(tb.build(), B, TOL)
    assert v.passed and "not exercised" in v.summary, v.report()
    v = removal_hold(TraceBuilder().commission(0.0, 60.0).hold(0.0, 50.0).build(), B, TOL)
    assert not v.exercised and not v.passed
