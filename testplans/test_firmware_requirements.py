"""Firmware requirements: 21.18.0 for group power management, 21.36.6 for a network of six.

Seed 000: "Wall Connector firmware version 21.18.0 or higher is required for Group power management operation."
Seed 004: "Power Sharing met maximaal 6 Wall Connectors is alleen beschikbaar op firmwareversie 21.36.6 of hoger."

Every unit reports its version through its API; the rig refuses to commission a network whose members run
older firmware than its size needs, naming the unit.
"""

from __future__ import annotations

import pytest
from plan_support import members

from rig.checks import firmware_requirement
from rig.fixtures.plugin import expect
from rig.rack import Rack


@pytest.mark.parametrize("size", [pytest.param(n, marks=[pytest.mark.network(n, 6.0 * n)]
                                             + ([pytest.mark.gate] if n == 6 else [])) for n in (2, 3, 4, 5, 6)])
def test_every_member_runs_firmware_new_enough_for_the_network(rack: Rack, size: int) -> None:
    # the network was commissioned only after the rig read every member's version (before pairing, when every
    # unit's API is reachable) and found it new enough: a network the firmware cannot run is refused, naming the unit
    versions = rack.read_versions()
    units = members(rack)
    assert set(units) <= set(versions), f"units without a reported version: {set(units) - set(versions)}"
    expect(firmware_requirement(versions, units))
