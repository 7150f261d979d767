"""Plans for tests/test_commissioning.py (not collected by `pytest tests`: no `test_` prefix).

Five tests over three network configurations, in an order the run must change: two share a two-unit network,
one needs a three-unit network, one removes a unit from the two-unit network (it must run last of its group and,
on an operator-commissioned rack, be skipped), and one declares no network at all. With `--rig-bad-network`
(set through the RIG_BAD_NETWORK environment variable) the first test asks for a limit no leader accepts, as an
operator who mistyped would.
"""

from __future__ import annotations

import os

import pytest

from rig import checks
from rig.fixtures.plugin import expect
from rig.rack import Rack

BAD = os.environ.get("RIG_BAD_NETWORK") == "1"


def charge(rack: Rack) -> None:
    units = rack.network.members if rack.network else []
    for unit in units:
        rack.plug(unit, 32)
        rack.wait(2)
    rack.wait(30)
    expect(checks.network_limit(rack.trace, rack.budgets, rack.tolerance_a))


@pytest.mark.network(2, 200 if BAD else 40)
def test_two_units_first(rack: Rack) -> None:
    charge(rack)


@pytest.mark.network(2, 40)
@pytest.mark.reconfigures("remove")
def test_two_units_removal(rack: Rack) -> None:
    charge(rack)
    rack.remove_unit(rack.network.followers[0] if rack.network else "wc2")
    rack.wait(10)


@pytest.mark.network(3, 60)
def test_three_units(rack: Rack) -> None:
    charge(rack)


@pytest.mark.network(2, 40)
def test_two_units_again(rack: Rack) -> None:
    charge(rack)


def test_no_network_needed(rack: Rack) -> None:
    assert rack.network is None or rack.network.members
