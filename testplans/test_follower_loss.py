"""Follower loss: the others deliver less, so the limit holds, until the follower returns or is removed.

Seed 004: "Als een van de Wall Connectors van een Power Sharing-netwerk niet beschikbaar is, leveren de andere
Wall Connectors van het netwerk minder vermogen om overschrijding van de maximale stroomsterkte te voorkomen."
and "Als een volger is verwijderd of vervangen, verwijder deze dan vanaf de leider uit het Power
Sharing-netwerk."

A follower whose Wi-Fi is cut while it charges falls back to its fair limit, and the leader keeps that share in
reserve. A follower whose breaker trips is silent in the same way: the leader cannot tell, so it keeps the
share too and the others deliver less. The share is freed when the follower comes back, or when it is removed
from the network at the leader.
"""

from __future__ import annotations

import pytest
from plan_support import (
    OBSERVE_S,
    expect_all,
    fair_fallback,
    fallback_window_s,
    members,
    network_limit,
    plug_all,
    reboot_window_s,
    reserve_kept,
    scenarios,
    settle_s,
    sharing,
)

from rig.rack import Rack

SCENARIOS = {
    "2u-wifi": (2, 60, (48, 48), 1, "wifi"),
    "3u-wifi": (3, 60, (48, 48, 48), 2, "wifi"),
    "4u-wifi-small-car": (4, 80, (48, 48, 16, 48), 2, "wifi"),
    "6u-wifi": (6, 120, (48, 48, 48, 48, 48, 48), 4, "wifi"),
    "2u-breaker": (2, 40, (48, 48), 1, "breaker"),
    "3u-breaker": (3, 90, (48, 48, 48), 1, "breaker"),
    "5u-breaker": (5, 100, (48, 0, 48, 48, 48), 3, "breaker"),
    "6u-breaker": (6, 72, (48, 48, 48, 0, 48, 48), 5, "breaker"),
}


@pytest.mark.parametrize("scenario", scenarios(SCENARIOS, gate=("6u-wifi",)))
def test_lost_follower_share_is_kept_until_it_returns(rack: Rack, scenario: tuple) -> None:
    size, limit, demands, lost_index, how = scenario
    units = members(rack)
    plug_all(rack, units, demands)
    rack.wait(settle_s(rack))
    lost = units[lost_index]
    (rack.cut_wifi if how == "wifi" else rack.trip_breaker)(lost)
    rack.wait(fallback_window_s(rack) + OBSERVE_S)  # the reserve is watched while the follower stays lost
    (rack.restore_wifi if how == "wifi" else rack.restore_breaker)(lost)
    rack.wait(settle_s(rack) if how == "wifi" else reboot_window_s(rack))
    judges = [reserve_kept, sharing, network_limit] + ([fair_fallback] if how == "wifi" else [])
    expect_all(rack, *judges)


@pytest.mark.reconfigures("remove")
@pytest.mark.parametrize("size", [pytest.param(n, marks=pytest.mark.network(n, limit))
                                  for n, limit in ((2, 40), (4, 80), (6, 72))])
def test_removing_a_silent_follower_frees_its_share(rack: Rack, size: int) -> None:
    units = members(rack)
    plug_all(rack, units, [48] * size)
    rack.wait(settle_s(rack))
    lost = units[-1]
    rack.trip_breaker(lost)
    rack.wait(fallback_window_s(rack) + OBSERVE_S)
    rack.remove_unit(lost)
    rack.wait(settle_s(rack))
    expect_all(rack, reserve_kept, sharing, network_limit)
