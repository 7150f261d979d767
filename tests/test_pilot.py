"""The J1772 / IEC 61851-1 pilot of rig/pilot.py against the table of shared/domain/FACTS.md."""

from __future__ import annotations

import pytest

from rig.pilot import MIN_OFFER_A, PilotState, amps_to_duty, duty_to_amps, state_from_volts


@pytest.mark.parametrize(
    ("duty", "amps"),
    [
        (10.0, 6.0),
        (16.0, 9.6),
        (50.0, 30.0),
        (53.3, 31.98),
        (80.0, 48.0),
        (85.0, 51.0),
        (86.0, 55.0),
        (90.0, 65.0),
        (96.0, 80.0),
    ],
)
def test_duty_to_amps_follows_the_table(duty: float, amps: float) -> None:
    assert duty_to_amps(duty) == pytest.approx(amps)


@pytest.mark.parametrize("duty", [8.0, 8.5, 9.0, 9.99])
def test_8_to_10_percent_is_6a(duty: float) -> None:
    assert duty_to_amps(duty) == MIN_OFFER_A == 6.0


@pytest.mark.parametrize("duty", [None, 0.0, 5.0, 7.99, 96.01, 97.0, 100.0])
def test_no_charging_outside_8_to_96_percent(duty: float | None) -> None:
    assert duty_to_amps(duty) is None


def test_the_high_range_starts_just_above_85_percent() -> None:
    assert duty_to_amps(85.0) == pytest.approx(51.0)
    assert duty_to_amps(85.01) == pytest.approx(52.525)


@pytest.mark.parametrize(("amps", "duty"), [(6.0, 10.0), (30.0, 50.0), (48.0, 80.0), (51.0, 85.0), (80.0, 96.0)])
def test_amps_to_duty(amps: float, duty: float) -> None:
    assert amps_to_duty(amps) == pytest.approx(duty)


def advertisable_amps() -> list[float]:
    """6 A to 80 A in 0.25 A steps, leaving out the gap no duty can advertise (over 51 A up to 52.5 A)."""
    steps = [6.0 + 0.25 * i for i in range(int((80.0 - 6.0) / 0.25) + 1)]
    return [a for a in steps if not 51.0 < a <= 52.5]


def test_round_trip_amps_to_duty_to_amps() -> None:
    amps = advertisable_amps()
    assert amps[0] == 6.0 and amps[-1] == 80.0 and 51.0 in amps and 52.75 in amps
    for a in amps:
        duty = amps_to_duty(a)
        assert 10.0 <= duty <= 96.0, a
        assert duty_to_amps(duty) == pytest.approx(a, abs=1e-9), a


def test_round_trip_duty_to_amps_to_duty() -> None:
    duties = [10.0 + 0.5 * i for i in range(int((96.0 - 10.0) / 0.5) + 1)]
    for d in duties:
        amps = duty_to_amps(d)
        assert amps is not None
        assert amps_to_duty(amps) == pytest.approx(d, abs=1e-9), d


@pytest.mark.parametrize("amps", [51.01, 51.5, 52.0, 52.5])
def test_amps_between_51_and_52_5_cannot_be_advertised(amps: float) -> None:
    with pytest.raises(ValueError, match="cannot be advertised"):
        amps_to_duty(amps)


@pytest.mark.parametrize("amps", [0.0, 5.99, 80.01, 100.0, -6.0])
def test_amps_outside_6_to_80_are_refused(amps: float) -> None:
    with pytest.raises(ValueError, match=r"6 A to 80 A"):
        amps_to_duty(amps)


@pytest.mark.parametrize(
    ("volts", "state"),
    [
        (12.0, PilotState.A),
        (11.9, PilotState.A),
        (9.0, PilotState.B),
        (8.7, PilotState.B),
        (6.0, PilotState.C),
        (5.6, PilotState.C),
        (3.0, PilotState.D),
        (0.0, PilotState.E),
        (0.4, PilotState.E),
        (-12.0, PilotState.F),
        (-11.8, PilotState.F),
    ],
)
def test_state_from_volts(volts: float, state: PilotState) -> None:
    assert state_from_volts(volts) is state


def test_state_boundaries_lie_between_nominal_levels() -> None:
    assert state_from_volts(10.6) is PilotState.A
    assert state_from_volts(10.4) is PilotState.B
    assert state_from_volts(7.6) is PilotState.B
    assert state_from_volts(7.4) is PilotState.C
    assert state_from_volts(4.6) is PilotState.C
    assert state_from_volts(4.4) is PilotState.D
    assert state_from_volts(-5.0) is PilotState.E
    assert state_from_volts(-7.0) is PilotState.F


def test_states_compare_as_their_letters() -> None:
    assert PilotState("C") is PilotState.C
    assert [str(s) for s in PilotState] == ["A", "B", "C", "D", "E", "F"]
