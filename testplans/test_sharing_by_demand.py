"""Sharing follows what each vehicle actually draws.

Seed 004: "Ja. Power Sharing werkt door alle beschikbare stroom zo efficiënt mogelijk te verdelen op basis van de
werkelijke stroom die door elk voertuig wordt gevraagd." and step 3: "Dit is de totale stroom die op intelligente
wijze wordt verdeeld over alle units waarmee voertuigen worden opgeladen."

A vehicle that wants less than its share (a 16 A onboard charger, a tapering battery, a finished charge) leaves
the rest to the others within the reallocation budget. When the vehicles want less than the limit in total,
each gets what it asks for; when they want more, the network uses the limit, within a tolerance, and no vehicle
that wants current is offered less than 6 A.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from plan_support import expect_all, members, network_limit, plug_all, scenarios, settle_s, sharing

from rig.rack import Rack


@dataclass(frozen=True)
class Scenario:
    size: int
    limit_a: float
    demands: tuple[float, ...]
    changes: tuple[tuple[int, float], ...] = ()
    """(unit index, new demand) applied one after the other; 0 = the vehicle has finished."""


SCENARIOS = {
    "2u-under": Scenario(2, 60, (16, 32)),
    "2u-over-small-charger": Scenario(2, 40, (16, 48)),
    "2u-finish": Scenario(2, 40, (48, 48), ((0, 0),)),
    "3u-taper": Scenario(3, 60, (48, 48, 48), ((1, 10),)),
    "3u-under-mixed": Scenario(3, 90, (16, 24, 32)),
    "3u-over": Scenario(3, 50, (48, 48, 48)),
    "4u-chargers": Scenario(4, 80, (16, 16, 48, 48)),
    "4u-finish-two": Scenario(4, 80, (48, 48, 48, 48), ((0, 0), (2, 0))),
    "4u-min": Scenario(4, 24, (48, 48, 48, 48)),
    "5u-taper-chain": Scenario(5, 100, (48, 48, 48, 48, 48), ((0, 20), (1, 12), (2, 8))),
    "5u-under": Scenario(5, 100, (16, 16, 16, 16, 16)),
    "5u-over-one-small": Scenario(5, 90, (48, 48, 16, 48, 48)),
    "6u-over": Scenario(6, 120, (48, 48, 48, 48, 48, 48)),
    "6u-finish-and-return": Scenario(6, 100, (48, 48, 48, 48, 0, 0), ((0, 0), (0, 48))),
    "6u-small-chargers": Scenario(6, 72, (16, 16, 16, 16, 48, 48)),
    "6u-min": Scenario(6, 36, (48, 48, 48, 48, 48, 48)),
    "6u-high-under": Scenario(6, 287, (48, 48, 48, 48, 48, 32)),
    "4u-one-car": Scenario(4, 24, (0, 0, 48, 0)),
}


@pytest.mark.parametrize("scenario", scenarios(SCENARIOS, gate=("6u-finish-and-return",)))
def test_current_follows_what_vehicles_draw(rack: Rack, scenario: Scenario) -> None:
    units = members(rack)
    plug_all(rack, units, scenario.demands)
    rack.wait(settle_s(rack))
    for index, demand in scenario.changes:
        rack.set_demand(units[index], demand)
        rack.wait(settle_s(rack))
    expect_all(rack, sharing, network_limit)
