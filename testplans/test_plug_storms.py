"""Plug and unplug storms: vehicles arrive and leave, several in the same second.

Seed 004: "De beschikbare laadstroom voor mijn auto verandert voortdurend. Is dit normaal? Ja." and Seed 000:
"This represents the continuous current which the network will not exceed."

Each scenario (a fixed random seed) throws bursts of arrivals, departures and demand changes at the network,
several within one second, and judges the limit throughout and the sharing once things settle.
"""

from __future__ import annotations

import random

import pytest
from plan_support import NETWORKS, expect_all, members, network_limit, settle_s, sharing

from rig.rack import Rack

NIGHTLY = range(1, 9)
WEEKEND = range(9, 41)
GATE = 8
"""Seeds run every night, and the further ones the weekend runs; the gate runs one (a six-unit network)."""


def storm(seed: int) -> tuple[random.Random, int, float]:
    """The seed's random stream and the network it draws first (size, limit): the same every night."""
    rng = random.Random(1000 + seed)
    size = rng.randint(2, 6)
    limit = rng.choice(NETWORKS[size])
    return rng, size, limit


def seeds() -> list[object]:
    return [pytest.param(s, marks=[pytest.mark.network(*storm(s)[1:])] + ([pytest.mark.gate] if s == GATE else [])
                         + ([pytest.mark.weekend] if s in WEEKEND else [])) for s in (*NIGHTLY, *WEEKEND)]


@pytest.mark.parametrize("seed", seeds())
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
    rack.wait(settle_s(rack))
    expect_all(rack, network_limit, sharing)
