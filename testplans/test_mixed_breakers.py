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
from plan_support import (
    capability,
    expect_all,
    fair_fallback,
    fallback_window_s,
    members,
    network_limit,
    plug_all,
    reboot_window_s,
    settle_s,
    sharing,
)

from rig import gpm
from rig.rack import Rack

BREAKERS = (60, 60, 50, 20)
OUTPUTS = tuple(gpm.max_output_for_breaker(b) for b in BREAKERS)
"""Each unit's maximum output, set at commissioning as the installer does (48, 48, 40 and 16 A)."""


def example(limits: list[int], gate: int | None = None) -> list[object]:
    """The example network at each limit, declared with its members' settings."""
    return [pytest.param(v, id=f"limit-{v}A", marks=[pytest.mark.network(4, v, outputs=OUTPUTS)]
                         + ([pytest.mark.gate] if v == gate else [])) for v in limits]


@pytest.mark.parametrize("limit", example([70, 100, 151], gate=100))
def test_no_unit_is_offered_more_than_its_own_maximum(rack: Rack, limit: float) -> None:
    units = members(rack)
    plug_all(rack, units, (48, 48, 48, 48))
    rack.wait(settle_s(rack))
    rack.unplug(units[0])
    rack.wait(settle_s(rack))
    expect_all(rack, capability, sharing, network_limit)


@pytest.mark.parametrize("limit", example([100, 151]))
def test_fair_limit_of_the_20a_unit_is_bounded_by_its_16a(rack: Rack, limit: float) -> None:
    units = members(rack)
    assert rack.fair_limit(units[3]) == 16.0 < limit / 4
    plug_all(rack, units, (0, 0, 0, 48))
    rack.wait(settle_s(rack))
    rack.trip_breaker(units[0])  # the leader goes: every follower falls back
    rack.wait(fallback_window_s(rack))
    rack.restore_breaker(units[0])
    rack.wait(reboot_window_s(rack))
    expect_all(rack, fair_fallback, capability, network_limit)
