"""The fair fallback check on hand-built traces: every cut-off, whatever its length and whoever is cut off."""

from __future__ import annotations

from trace_builder import TOL, B, TraceBuilder

from rig.checks import cut_offs, fair_fallback

# three units, limit 60 A: fair limit 20 A each; wc2 is given 30 A before the cut
GIVEN = {"wc1": 10.0, "wc2": 30.0, "wc3": 20.0}
DRAWN = {"wc1": 9.9, "wc2": 29.9, "wc3": 19.9}
CUT = 40.0


def cut_wifi(unit: str = "wc2", length: float = 30.0) -> TraceBuilder:
    tb = TraceBuilder().commission(0.0, 60.0).hold(0.0, 120.0, GIVEN, DRAWN)
    return tb.event(CUT, "cut_wifi", unit).event(CUT + length, "restore_wifi", unit)


def falls_back(tb: TraceBuilder, unit: str, pilot_at: float, current_at: float, end: float) -> TraceBuilder:
    """`unit` lowers its pilot to 20 A at `pilot_at` and its vehicle follows at `current_at`."""
    tb.hold(pilot_at, current_at, {**GIVEN, unit: 20.0}, DRAWN)
    return tb.hold(current_at, end, {**GIVEN, unit: 20.0}, {**DRAWN, unit: 19.9})


def test_a_follower_at_its_fair_limit_by_the_deadline_passes_at_the_budgets_edge() -> None:
    deadline = CUT + B.fallback_s
    tb = falls_back(cut_wifi(), "wc2", deadline, deadline + B.vehicle_response_s, CUT + 30.0)
    v = fair_fallback(tb.build(), B, TOL)
    assert v.passed and v.exercised, v.report()


def test_half_a_second_late_fails_on_the_pilot_then_on_the_current() -> None:
    deadline = CUT + B.fallback_s
    v = fair_fallback(falls_back(cut_wifi(), "wc2", deadline + 0.5, deadline + 6.5, CUT + 30).build(), B, TOL)
    assert v.rules == ["fair-fallback.pilot"], v.report()
    v = fair_fallback(falls_back(cut_wifi(), "wc2", deadline, deadline + B.vehicle_response_s + 0.5,
                                 CUT + 30).build(), B, TOL)
    assert v.rules == ["fair-fallback.current"], v.report()


def test_a_cut_shorter_than_the_deadline_is_judged_and_may_never_raise_a_unit() -> None:
    tb = cut_wifi("wc3", length=4.0)  # a short cut of a follower given its fair limit exactly
    v = fair_fallback(tb.build(), B, TOL)
    assert v.passed and v.exercised, v.report()
    tb.hold(CUT + 1.0, CUT + 4.0, {**GIVEN, "wc3": 24.0}, DRAWN)  # raised itself during the short cut
    v = fair_fallback(tb.build(), B, TOL)
    assert v.rules == ["fair-fallback.raised"], v.report()


def test_a_follower_given_less_than_its_fair_limit_may_raise_to_it_only_after_the_deadline() -> None:
    tb = cut_wifi("wc3", length=40.0)
    tb.hold(CUT, 120.0, {**GIVEN, "wc3": 10.0}, {**DRAWN, "wc3": 9.9})
    tb.hold(CUT + B.fallback_s, CUT + 40.0, {**GIVEN, "wc3": 20.0}, {**DRAWN, "wc3": 19.9})
    assert fair_fallback(tb.build(), B, TOL).passed
    tb.hold(CUT + B.fallback_s - 1.0, CUT + 40.0, {**GIVEN, "wc3": 20.0}, {**DRAWN, "wc3": 19.9})
    assert fair_fallback(tb.build(), B, TOL).rules == ["fair-fallback.raised"]


def test_overlapping_causes_make_one_cut_off_from_the_first_to_the_last() -> None:
    tb = TraceBuilder().commission(0.0, 60.0).hold(0.0, 120.0, GIVEN, DRAWN)
    tb.event(40.0, "cut_wifi", "wc2").event(45.0, "cut_wifi", "wc1").event(48.0, "restore_wifi", "wc2")
    tb.event(70.0, "restore_wifi", "wc1")
    spans = [(c.unit, c.start, c.end) for c in cut_offs(tb.build())]
    assert ("wc2", 40.0, 70.0) in spans and ("wc3", 45.0, 70.0) in spans and ("wc1", 45.0, 70.0) in spans


def test_the_isolated_leader_is_judged_by_what_its_followers_fair_limits_leave() -> None:
    tb = TraceBuilder().commission(0.0, 60.0).hold(0.0, 120.0, {"wc1": 20.0, "wc2": 20.0, "wc3": 20.0},
                                                    {"wc1": 19.9, "wc2": 19.9, "wc3": 19.9})
    tb.event(CUT, "cut_wifi", "wc1").event(CUT + 40.0, "restore_wifi", "wc1")
    assert fair_fallback(tb.build(), B, TOL).passed
    tb.hold(CUT + 12.0, CUT + 40.0, {"wc1": 48.0, "wc2": 20.0, "wc3": 20.0}, {"wc1": 19.9, "wc2": 19.9, "wc3": 19.9})
    v = fair_fallback(tb.build(), B, TOL)
    assert v.rules == ["fair-fallback.isolated-leader"], v.report()


def test_a_follower_that_powers_up_without_its_leader_is_held_to_its_fair_limit_at_once() -> None:
    tb = TraceBuilder().commission(0.0, 60.0).hold(0.0, 120.0, {"wc2": 30.0}, {"wc2": 29.9})
    tb.event(30.0, "trip", "wc1").event(30.0, "trip", "wc2").hold(30.0, 35.0)
    tb.event(35.0, "restore", "wc2").hold(35.0, 60.0).event(80.0, "restore", "wc1")
    tb.hold(40.0, 80.0, {"wc2": 20.0}, {"wc2": 19.9})
    v = fair_fallback(tb.build(), B, TOL)
    assert v.passed and any(c.kind == "boot" for c in cut_offs(tb.build())), v.report()
    tb.hold(42.0, 43.0, {"wc2": 48.0}, {"wc2": 19.9})
    assert fair_fallback(tb.build(), B, TOL).rules == ["fair-fallback.boot"]


def test_not_exercised_without_a_cut_off_and_unmeasured_current_is_named() -> None:
    tb = TraceBuilder().commission(0.0, 60.0).hold(0.0, 120.0, GIVEN, DRAWN)
    v = fair_fallback(tb.build(), B, TOL)
    assert not v.exercised and not v.passed
    tb = cut_wifi()
    falls_back(tb, "wc2", CUT + 5.0, CUT + 6.0, CUT + 30.0)
    tb.hold(CUT + 6.0, CUT + 30.0, {**GIVEN, "wc2": 20.0}, {**DRAWN, "wc2": None})
    v = fair_fallback(tb.build(), B, TOL)
    assert v.passed and "current not measured" in v.summary, v.report()


def test_a_cut_after_a_reconnection_too_short_to_notice_may_continue_the_earlier_cut() -> None:
    """wc3 (given 10 A, fair 20 A) is cut off by its leader's Wi-Fi for 7 s, hears nothing in the 1 s the link is
    back, and is cut again by its own Wi-Fi: past the first cut's deadline it may be at its fair limit, though its
    own cut is younger than the fallback budget; raising before either deadline is still caught."""
    tb = TraceBuilder().commission(0.0, 60.0).hold(0.0, 120.0, {**GIVEN, "wc3": 10.0}, {**DRAWN, "wc3": 9.9})
    tb.event(CUT, "cut_wifi", "wc1").event(CUT + 7.0, "restore_wifi", "wc1")
    second = CUT + 8.0
    tb.event(second, "cut_wifi", "wc3").event(second + 40.0, "restore_wifi", "wc3")
    tb.hold(CUT + B.fallback_s + 1.0, second + 40.0, {**GIVEN, "wc3": 20.0}, {**DRAWN, "wc3": 9.9})
    v = fair_fallback(tb.build(), B, TOL)
    assert v.passed and v.exercised, v.report()
    tb.hold(second + 0.5, second + 40.0, {**GIVEN, "wc3": 20.0}, {**DRAWN, "wc3": 9.9})  # before either deadline
    v = fair_fallback(tb.build(), B, TOL)
    assert v.rules == ["fair-fallback.raised"], v.report()


def test_the_pilot_front_ends_accuracy_is_allowed_on_top_of_the_budget() -> None:
    """A streamed divider measures a pilot to about 0.16 A (the trace header's `pilot_accuracy_a`): a reading that
    far over the fair limit is the rig's own error, never the firmware's; one beyond it still fails."""
    tb = falls_back(cut_wifi(), "wc2", CUT + B.fallback_s, CUT + B.fallback_s + B.vehicle_response_s, CUT + 30.0)
    tb.hold(CUT + 20.0, CUT + 30.0, {**GIVEN, "wc2": 20.25}, {**DRAWN, "wc2": 19.9})
    assert fair_fallback(tb.build(), B, TOL).rules == ["fair-fallback.pilot"]
    tb.header["pilot_accuracy_a"] = {"wc1": 0.16, "wc2": 0.16, "wc3": 0.16}
    v = fair_fallback(tb.build(), B, TOL)
    assert v.passed, v.report()
    tb.hold(CUT + 20.0, CUT + 30.0, {**GIVEN, "wc2": 20.3}, {**DRAWN, "wc2": 19.9})
    assert fair_fallback(tb.build(), B, TOL).rules == ["fair-fallback.pilot"]
