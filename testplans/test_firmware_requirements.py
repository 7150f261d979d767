"""Firmware requirements: 21.18.0 for group power management, 21.36.6 for a network of six.

Seed 000: "Wall Connector firmware version 21.18.0 or higher is required for Group power management operation."
Seed 004: "Power Sharing met maximaal 6 Wall Connectors is alleen beschikbaar op firmwareversie 21.36.6 of hoger."

Every unit reports its version through its API; the rig refuses to commission a network whose members run
older firmware than its size needs, naming the unit.
"""

from __future__ import annotations

import pytest
from plan_support import commission, network_units

from rig.checks import firmware_requirement
from rig.fixtures.plugin import expect
from rig.rack import Rack


@pytest.mark.parametrize("size", [2, 3, 4, 5, 6])
def test_every_member_runs_firmware_new_enough_for_the_network(rack: Rack, size: int) -> None:
    versions = rack.read_versions()
    members = network_units(rack, size)
    assert set(members) <= set(versions), f"units without a reported version: {set(members) - set(versions)}"
    expect(firmware_requirement(versions, members))
    commission(rack, size, 6.0 * size)  # the rig refuses to commission a network the firmware cannot run
