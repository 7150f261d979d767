"""A small plan for tests/test_lab.py (not collected by `pytest tests`: no `test_` prefix): short scenarios on
the real `rack` fixture, grouped by the network they commission, as the nightly's plans are. The runs load
tests/lab_plans/lab_faults.py beside it, which writes down which rack ran each test and brings on the faults.

`RIG_LAB_HOLD=<seconds>`: every test (or those whose name contains `RIG_LAB_HOLD_ONLY`) holds that long on the
wall clock with a vehicle plugged in (the rack out of its safe state, its unsafe marker written), so that a run
can be caught mid-test.
"""

from __future__ import annotations

import os
import time

import pytest

from rig.rack import Rack


def _scenario(rack: Rack, request: pytest.FixtureRequest, size: int) -> None:
    units = [u.name for u in rack.config.units][:size]
    rack.plug(units[0], 16)  # the rack leaves its safe state (its unsafe marker is written)
    if os.environ.get("RIG_LAB_HOLD_ONLY", "test_") in request.node.name:
        time.sleep(float(os.environ.get("RIG_LAB_HOLD", "0")))  # wall time, so that a run can be caught mid-test
    rack.wait(2)
    assert rack.last is not None


@pytest.mark.network(2, 40)
@pytest.mark.parametrize("step", [1, 2, 3])
def test_two_units(rack: Rack, request: pytest.FixtureRequest, step: int) -> None:
    _scenario(rack, request, 2)


@pytest.mark.network(3, 60)
@pytest.mark.parametrize("step", [1, 2, 3])
def test_three_units(rack: Rack, request: pytest.FixtureRequest, step: int) -> None:
    _scenario(rack, request, 3)


@pytest.mark.network(6, 120)
@pytest.mark.parametrize("step", [1, 2, 3])
def test_six_units(rack: Rack, request: pytest.FixtureRequest, step: int) -> None:
    _scenario(rack, request, 6)


@pytest.mark.parametrize("step", [1, 2, 3])
def test_no_network_marker(rack: Rack, request: pytest.FixtureRequest, step: int) -> None:
    _scenario(rack, request, 2)
