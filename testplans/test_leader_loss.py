"""Leader loss: the leader's breaker trips; the followers fall back, and share again when it returns.

Seed 004: "Dit kan komen door het wegvallen van vermogen (een van de als volger geïnstalleerde Wall Connectors is
verwijderd, er is een stroomonderbreker geactiveerd, enz.) of door het wegvallen van de wifi-communicatie."
Seed 000 (Leader): "Refers to the Wall Connector unit that is set up as the sole controller of current allocation
in a group power management network."

Every follower is at or under its fair limit by the fallback deadline; when the leader's breaker closes again
it takes back control and the network shares by demand again.
"""

from __future__ import annotations

import pytest
from plan_support import (
    expect_all,
    fair_fallback,
    fallback_window_s,
    members,
    network_limit,
    plug_all,
    reboot_window_s,
    scenarios,
    settle_s,
    sharing,
)

from rig.rack import Rack

SCENARIOS = {
    "2u": (2, 40, (48, 48)),
    "3u-follower-heavy": (3, 60, (0, 48, 48)),
    "4u-uneven": (4, 90, (48, 16, 48, 0)),
    "5u-two-cars": (5, 100, (0, 48, 0, 48, 0)),
    "6u-full": (6, 120, (48, 48, 48, 48, 48, 48)),
    "6u-one-car": (6, 72, (0, 0, 48, 0, 0, 0)),
}


@pytest.mark.parametrize("scenario", scenarios(SCENARIOS, gate=("6u-full",)))
def test_followers_fall_back_and_share_again_after_the_leader_returns(rack: Rack, scenario: tuple) -> None:
    size, limit, demands = scenario
    units = members(rack)
    plug_all(rack, units, demands)
    rack.wait(settle_s(rack))
    rack.trip_breaker(units[0])
    rack.wait(fallback_window_s(rack))
    rack.restore_breaker(units[0])
    rack.wait(reboot_window_s(rack))
    expect_all(rack, fair_fallback, sharing, network_limit)
