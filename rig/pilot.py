"""The J1772 / IEC 61851-1 control pilot: duty cycle ↔ advertised amps, and the pilot states.

The rig measures a unit's offer as a duty cycle (LabJack "pulse width in" or the CAN EV emulator) and turns
it into amps here, so the conversion is written once. Sources: Fluke FEV300 manual, OpenEVSE guide.
"""

from __future__ import annotations

from enum import StrEnum

MIN_OFFER_A = 6.0
"""The lowest current a valid PWM advertises (10 % duty; 8–10 % also reads as 6 A)."""


class PilotState(StrEnum):
    """Pilot states by the positive level the EVSE sees."""

    A = "A"  # +12 V, no vehicle
    B = "B"  # +9 V, vehicle connected (2.74 kΩ + diode)
    C = "C"  # +6 V, vehicle ready to charge (1.3 kΩ added in parallel)
    D = "D"  # +3 V, ventilation required
    E = "E"  # 0 V, EVSE error or no power
    F = "F"  # -12 V only, EVSE not available


PILOT_HIGH_VOLTS: dict[PilotState, float] = {
    PilotState.A: 12.0,
    PilotState.B: 9.0,
    PilotState.C: 6.0,
    PilotState.D: 3.0,
    PilotState.E: 0.0,
    PilotState.F: -12.0,
}


def state_from_volts(high_v: float) -> PilotState:
    """The pilot state whose nominal positive level is nearest to a measured high level."""
    return min(PILOT_HIGH_VOLTS, key=lambda s: abs(PILOT_HIGH_VOLTS[s] - high_v))


def duty_to_amps(duty_pct: float | None) -> float | None:
    """Amps a duty cycle (in percent) advertises, or None when it means "no charging".

    None stands for no PWM at all (constant level, 100 %), duties under 8 % (5 % asks for digital
    communication) and anything above 96 %.
    """
    if duty_pct is None or duty_pct < 8.0 or duty_pct > 96.0:
        return None
    if duty_pct < 10.0:
        return MIN_OFFER_A
    if duty_pct <= 85.0:
        return duty_pct * 0.6
    return (duty_pct - 64.0) * 2.5


def amps_to_duty(amps: float) -> float:
    """Duty cycle (percent) that advertises `amps`; refuses values no PWM can advertise.

    The two ranges leave a gap: 85 % advertises 51 A and the first duty above it already (85 − 64) × 2.5 =
    52.5 A, so nothing over 51 A and up to 52.5 A can be advertised (85 % reads back as 51 A, not 52.5 A).
    """
    if amps < MIN_OFFER_A or amps > 80.0:
        raise ValueError(f"{amps:g} A cannot be advertised on the pilot (6 A to 80 A)")
    if 51.0 < amps <= 52.5:
        raise ValueError(f"{amps:g} A cannot be advertised on the pilot (85 % gives 51 A, any higher duty over 52.5 A)")
    if amps <= 51.0:
        return amps / 0.6
    return amps / 2.5 + 64.0
