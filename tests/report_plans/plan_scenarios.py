"""A small plan for the report tests (tests/test_reporting.py, tests/test_html_report.py): two scenarios that pass
and one the firmware fails, against the simulated rack in a few seconds.

Not collected by `pytest tests` (the file name does not start with `test_`); the report tests run it in a
subprocess, as `make nightly` runs the real plans.
"""

from __future__ import annotations

import pytest

from rig.checks import fair_fallback, network_limit
from rig.fixtures.plugin import expect
from rig.rack import Rack

SCENARIOS = {"2u-follower-wifi": 2, "3u-follower-wifi": 3}


@pytest.mark.parametrize("size", SCENARIOS.values(), ids=SCENARIOS.keys())
def test_cut_off_follower_falls_back(rack: Rack, size: int) -> None:
    units = [u.name for u in rack.config.units][:size]
    rack.commission(units[0], units[1:], 60)
    rack.plug(units[-1], 48)
    rack.wait(30)
    rack.cut_wifi(units[-1])
    rack.wait(25)
    rack.restore_wifi(units[-1])
    rack.wait(10)
    expect(fair_fallback(rack.trace, rack.budgets, rack.tolerance_a),
           network_limit(rack.trace, rack.budgets, rack.tolerance_a))


def test_leader_hands_out_more_than_it_may(rack: Rack) -> None:
    """Fails by design: waits for the leader to offer a vehicle more than the network limit, which it never does."""
    units = [u.name for u in rack.config.units][:2]
    rack.commission(units[0], units[1:], 40)
    rack.plug(units[1], 48)
    rack.wait_until(lambda r: (r.last.pilot.get(units[1]) or 0.0) > 40, 20, f"{units[1]} offered over 40 A")
