"""Mixed breakers: each unit keeps its own branch-circuit setting.

Seed 004: "Voorbeeld: bij een netwerk van vier Wall Connectors waarbij de leidende Wall Connector een
stroomonderbreker van 60 A heeft en de volgende Wall Connectors een stroomonderbreker van respectievelijk 60 A,
50 A en 20 A hebben, maakt u afzonderlijk verbinding met de twee laatstgenoemde Wall Connectors om de maximale
stroomsterkte ervan in te stellen via de activeringsinterface."
Seed 000 (Fallback (Fair) Limit): "... bounded to within a single unit's capability."

The example network: 60, 60, 50 and 20 A breakers give 48, 48, 40 and 16 A. No unit is ever offered more than
its own maximum, and when the 20 A unit loses its leader its fair limit is bounded by its 16 A.
"""

from __future__ import annotations

import pytest
from plan_support import capability, commission, expect_all, fair_fallback, network_limit, plug_all, sharing

from rig import gpm
from rig.rack import Rack

BREAKERS = (60, 60, 50, 20)


def setup_example(rack: Rack, limit: float) -> list[str]:
    units = commission(rack, 4, limit)
    for unit, breaker in zip(units, BREAKERS, strict=True):
        rack.set_max_output(unit, gpm.max_output_for_breaker(breaker))
    return units


@pytest.mark.parametrize("limit", [70, 100, 120, 151], ids=lambda v: f"limit-{v}A")
def test_no_unit_is_offered_more_than_its_own_maximum(rack: Rack, limit: float) -> None:
    units = setup_example(rack, limit)
    plug_all(rack, units, (48, 48, 48, 48))
    rack.wait(60)
    rack.unplug(units[0])
    rack.wait(60)
    expect_all(rack, capability, sharing, network_limit)


@pytest.mark.parametrize("limit", [100, 120, 140], ids=lambda v: f"limit-{v}A")
def test_fair_limit_of_the_20a_unit_is_bounded_by_its_16a(rack: Rack, limit: float) -> None:
    units = setup_example(rack, limit)
    assert rack.fair_limit(units[3]) == 16.0 < limit / 4
    plug_all(rack, units, (0, 0, 0, 48))
    rack.wait(40)
    rack.trip_breaker(units[0])  # the leader goes: every follower falls back
    rack.wait(60)
    rack.restore_breaker(units[0])
    rack.wait(60)
    expect_all(rack, fair_fallback, capability, network_limit)
