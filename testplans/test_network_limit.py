"""The network never draws more than its limit.

Seed 000 (Network Limit): "This is the maximum total current a group power management network is allowed to
consume in amps. This represents the continuous current which the network will not exceed."

Each scenario commissions a network of 2 to 6 units, lets vehicles with different demands arrive, taper and
leave, and judges the whole trace: the advertised pilots never sum above the limit, and the measured network
current never stays above the limit plus the measurement tolerance longer than the overshoot budget. Vehicles
are lazy (they follow a lowered pilot only after the vehicle-response budget), so a leader that raises one unit
before the lowered ones have come down is caught.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from plan_support import members, plug_all, scenarios, settle_s

from rig.checks import network_limit
from rig.fixtures.plugin import expect
from rig.rack import Rack


@dataclass(frozen=True)
class Scenario:
    size: int
    limit_a: float
    first: tuple[float, ...]
    """Demands of the vehicles plugged first, on the network's units in order (0 = no vehicle)."""
    later: tuple[float, ...]
    """Demands of vehicles arriving later on the units still free, several in the same second."""
    taper_to_a: float = 10.0


SCENARIOS = {
    "2u-min-limit": Scenario(2, 12, (48,), (48,)),
    "2u-one-then-two": Scenario(2, 60, (48,), (32,)),
    "2u-small-charger": Scenario(2, 40, (16,), (48,)),
    "3u-tight": Scenario(3, 50, (48, 48), (48,)),
    "3u-mixed": Scenario(3, 60, (32,), (48, 16)),
    "3u-high": Scenario(3, 90, (48, 48), (48,)),
    "4u-min": Scenario(4, 24, (48, 48), (48, 48)),
    "4u-mixed": Scenario(4, 80, (48, 0, 32), (48,)),
    "4u-wide": Scenario(4, 150, (48, 48), (48, 48)),
    "5u-tight": Scenario(5, 60, (48, 48, 48), (48, 48)),
    "5u-mixed": Scenario(5, 100, (16, 48), (32, 48, 48)),
    "6u-min": Scenario(6, 36, (48, 48, 48), (48, 48, 48)),
    "6u-default": Scenario(6, 120, (48, 48), (48, 32, 16, 48)),
    "6u-high": Scenario(6, 200, (48, 48, 48, 48), (48, 48)),
}
"""Limits from the few networks of each size the plans share (rig plan counts them), at the minimum, tight and wide."""


@pytest.mark.parametrize("scenario", scenarios(SCENARIOS, gate=("6u-default",)))
def test_network_never_exceeds_its_limit(rack: Rack, scenario: Scenario) -> None:
    units = members(rack)
    first = [(u, d) for u, d in zip(units, scenario.first, strict=False) if d > 0]
    plug_all(rack, [u for u, _ in first], [d for _, d in first])
    rack.wait(settle_s(rack))
    free = [u for u in units if u not in rack.vehicles]
    for unit, demand in zip(free, scenario.later, strict=False):
        rack.plug(unit, demand)  # arrivals in the same second
    rack.wait(settle_s(rack))
    rack.set_demand(first[0][0], scenario.taper_to_a)  # a battery tapering frees current for the others
    rack.wait(settle_s(rack))
    rack.unplug(first[-1][0])
    rack.wait(settle_s(rack))
    expect(network_limit(rack.trace, rack.budgets, rack.tolerance_a))
