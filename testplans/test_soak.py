"""A soak: hours of rack time with random arrivals, departures, demands and faults; every invariant holds.

Seed 000: "This represents the continuous current which the network will not exceed." Seed 004: "Power Sharing
werkt door alle beschikbare stroom zo efficiënt mogelijk te verdelen op basis van de werkelijke stroom die door
elk voertuig wordt gevraagd."

A six-unit network lives through a night: vehicles come and go, batteries taper, Wi-Fi links drop, breakers
trip and close again. Every check that the night exercised must pass over the whole trace.
"""

from __future__ import annotations

import random

import pytest
from plan_support import (
    capability,
    expect_all,
    fair_fallback,
    members,
    network_limit,
    reserve_kept,
    sharing,
)

from rig.fixtures.tiers import soak_hours
from rig.rack import Rack

SHORT_H = 0.1
"""The soak's short form, six minutes in the gate and the nightly: the same traffic and faults, closer together."""


@pytest.mark.network(6, 120)
@pytest.mark.parametrize("length", [pytest.param("six-minutes", marks=pytest.mark.gate),
                                    pytest.param("eight-hours", marks=pytest.mark.soak)])
def test_random_traffic_and_faults(rack: Rack, pytestconfig: pytest.Config, length: str) -> None:
    """Eight hours (`--soak-hours`) in the soak tier, six minutes with the events closer together in the gate and the
    nightly."""
    rng = random.Random(8)
    units = members(rack)
    short = length == "six-minutes"
    end = rack.now + (SHORT_H if short else soak_hours(pytestconfig)) * 3600
    pause = (10.0, 90.0) if short else (20.0, 600.0)
    while rack.now < end:
        unit = rng.choice(units)
        roll = rng.random()
        if roll < 0.45:
            if unit in rack.vehicles:
                rack.unplug(unit)
            else:
                rack.plug(unit, rng.choice([16, 24, 32, 40, 48, 48]))
        elif roll < 0.75 and unit in rack.vehicles:
            rack.set_demand(unit, rng.choice([0, 6, 10, 16, 32, 48]))
        elif roll < 0.88:
            rack.cut_wifi(unit)
            rack.wait(rng.uniform(2, 90))
            rack.restore_wifi(unit)
        elif roll < 0.96:
            rack.trip_breaker(unit)
            rack.wait(rng.uniform(5, 60))
            rack.restore_breaker(unit)
        rack.wait(rng.uniform(*pause))
    expect_all(rack, network_limit, fair_fallback, reserve_kept, capability, sharing)
