"""Pairing: adding a follower reboots the leader and drops its Wi-Fi, and the limit holds through it.

Seed 004: "Opmerking: Bij het koppelen van volgers wordt de leider opnieuw opgestart en wordt de
wifi-verbinding verbroken."

Each scenario charges vehicles on a network, pairs one more unit at the leader (which reboots), and checks the
limit throughout and that the grown network shares by demand once it has settled.
"""

from __future__ import annotations

import pytest
from plan_support import (
    expect_all,
    members,
    network_limit,
    network_units,
    plug_all,
    reboot_window_s,
    scenarios,
    settle_s,
    sharing,
)

from rig.rack import Rack

SCENARIOS = {
    "2+1-one-car": (2, 60, (0, 48)),
    "2+1": (2, 40, (48, 48)),
    "3+1": (3, 60, (48, 16, 48)),
    "4+1": (4, 90, (48, 48, 48, 48)),
    "5+1": (5, 90, (0, 48, 48, 0, 48)),
}


@pytest.mark.reconfigures("add")
@pytest.mark.parametrize("scenario", scenarios(SCENARIOS, gate=("5+1",)))
def test_limit_holds_while_a_follower_is_paired(rack: Rack, scenario: tuple) -> None:
    size, limit, demands = scenario
    units = members(rack)
    plug_all(rack, units, demands)
    rack.wait(settle_s(rack))
    newcomer = network_units(rack, size + 1)[-1]
    rack.add_follower(newcomer)
    rack.wait(3)
    rack.plug(newcomer, 48)  # a vehicle arrives while the leader is still rebooting
    rack.wait(reboot_window_s(rack))
    expect_all(rack, network_limit, sharing)

