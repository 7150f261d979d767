"""Plug and unplug storms: vehicles arrive and leave, several in the same second.

Seed 004: "De beschikbare laadstroom voor mijn auto verandert voortdurend. Is dit normaal? Ja." and Seed 000:
"This represents the continuous current which the network will not exceed."

Each scenario (a fixed random seed) throws bursts of arrivals, departures and demand changes at the network,
several within one second, and judges the limit throughout and the sharing once things settle.
"""

from __future__ import annotations

import random

import pytest
from plan_support import expect_all, members, network_limit, sharing

from rig.rack import Rack

SEEDS = list(range(1, 21))


def storm(seed: int) -> tuple[random.Random, int, int]:
    """The seed's random stream and the network it draws first (size, limit): the same every night."""
    rng = random.Random(1000 + seed)
    size = rng.randint(2, 6)
    limit = round(rng.uniform(6.0 * size, min(48.0 * size - 1, 200)))
    return rng, size, limit


@pytest.mark.parametrize("seed", [pytest.param(s, marks=pytest.mark.network(*storm(s)[1:])) for s in SEEDS])
def test_limit_holds_through_plug_storms(rack: Rack, seed: int) -> None:
    rng, size, limit = storm(seed)
    units = members(rack)
    for _ in range(rng.randint(3, 6)):
        for unit in rng.sample(units, rng.randint(1, size)):  # a burst within the same second
            if unit in rack.vehicles and rng.random() < 0.4:
                rack.unplug(unit)
            elif unit in rack.vehicles:
                rack.set_demand(unit, rng.choice([0, 10, 16, 32, 48]))
            else:
                rack.plug(unit, rng.choice([16, 24, 32, 48, 48]))
            rack.wait(rng.choice([0.0, 0.5]))
        rack.wait(rng.uniform(5, 40))
    rack.wait(rack.budgets.reallocation_s + 20)
    expect_all(rack, network_limit, sharing)
