"""A network that is not enabled charges nothing; enabling it starts charging.

Seed 004: "Opmerking: Geen enkele unit in het netwerk kan een aangesloten voertuig opladen als Power Sharing
niet is ingeschakeld."

Each scenario commissions the network without enabling it, connects vehicles, and checks that no unit offers a
pilot or draws current; then enables the network and checks that every waiting vehicle is offered at least 6 A.
"""

from __future__ import annotations

import pytest
from plan_support import expect_all, members, network_limit, not_enabled, plug_all, scenarios, settle_s

from rig.rack import Rack

SCENARIOS = {
    "2u-both": (2, 40, (48, 48)),
    "2u-follower": (2, 40, (0, 32)),
    "3u-all": (3, 60, (48, 48, 48)),
    "3u-leader": (3, 60, (48, 0, 0)),
    "4u-mixed": (4, 80, (16, 48, 0, 32)),
    "4u-all": (4, 80, (48, 48, 48, 48)),
    "5u-some": (5, 100, (0, 48, 48, 0, 48)),
    "5u-all": (5, 100, (48, 48, 48, 48, 48)),
    "6u-all": (6, 120, (48, 48, 48, 48, 48, 48)),
    "6u-some": (6, 120, (48, 0, 48, 0, 48, 0)),
}
"""One disabled network per size: each test enables it and disables it again, so the next test of its size finds it
as declared and shares its commissioning."""


@pytest.mark.reconfigures("enable")
@pytest.mark.parametrize("scenario", scenarios(SCENARIOS, lambda s: pytest.mark.network(s[0], s[1], enabled=False),
                                               gate=("6u-all",)))
def test_disabled_network_charges_nothing_until_enabled(rack: Rack, scenario: tuple) -> None:
    size, limit, demands = scenario
    units = members(rack)
    plug_all(rack, units, demands)
    rack.wait(settle_s(rack))  # nothing may charge, however long the leader is given
    rack.enable(True)
    rack.wait(settle_s(rack))
    rack.enable(False)
    rack.wait(settle_s(rack))
    expect_all(rack, not_enabled, network_limit)
