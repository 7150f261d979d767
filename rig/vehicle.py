"""Emulated vehicles: a pilot state and a current that follows the pilot, with a response delay.

The rack presents the vehicle's pilot state through the pilot resistors and draws the vehicle's current
through the unit's AC load. A vehicle draws the smaller of what it wants (its demand) and what the pilot
offers. It takes a raise at once (the worst case for the network limit) and follows a lowered pilot only after
its response delay, which can be set up to the "lazy" edge of the allowed window. When the pilot stops (no
PWM), the unit has opened its contactor and the vehicle draws nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from rig.pilot import PilotState


@dataclass
class Vehicle:
    """One emulated vehicle on one unit."""

    demand_a: float
    response_delay_s: float = 2.0
    draw_a: float = 0.0
    _lower_due: float | None = None

    @property
    def state(self) -> PilotState:
        """C while it wants current, B when plugged in but not asking for any."""
        return PilotState.C if self.demand_a > 0 else PilotState.B

    def set_demand(self, amps: float) -> None:
        """A vehicle that wants less lowers at once: it is the vehicle's own choice, not a pilot to follow."""
        if amps < 0:
            raise ValueError(f"a vehicle cannot want {amps} A")
        self.demand_a = amps
        self.draw_a = min(self.draw_a, amps)

    def step(self, now: float, offer_a: float | None) -> float:
        """The current to draw at `now`, given the pilot's offer (None: no PWM, so nothing)."""
        if offer_a is None:
            # no PWM: the unit has opened its contactor (or lost power); the charge stops, and a later offer
            # starts it again from nothing rather than at the old current
            self.draw_a = 0.0
            self._lower_due = None
            return 0.0
        target = min(self.demand_a, offer_a)
        if target >= self.draw_a:
            self.draw_a = target
            self._lower_due = None
        else:
            if self._lower_due is None:
                self._lower_due = now + self.response_delay_s
            if now >= self._lower_due - 1e-9:
                self.draw_a = target
                self._lower_due = None
        return self.draw_a
