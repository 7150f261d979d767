"""A soak: eight hours of rack time with random arrivals, departures, demands and faults; every invariant holds.

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
    commission,
    expect_all,
    fair_fallback,
    network_limit,
    reserve_kept,
    sharing,
)

from rig.rack import Rack


@pytest.mark.soak
def test_eight_hours_of_random_traffic_and_faults(rack: Rack, pytestconfig: pytest.Config) -> None:
    rng = random.Random(8)
    units = commission(rack, 6, 120)
    end = rack.now + pytestconfig.getoption("--soak-hours") * 3600  # 8 h in the nightly
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
        rack.wait(rng.uniform(20, 600))
    expect_all(rack, network_limit, fair_fallback, reserve_kept, capability, sharing)
