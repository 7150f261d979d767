"""The network limit's bounds: 6 A per unit at the least, the sum of nameplates minus 1 A at the most.

Seed 004: "De minimale stroomlimiet is 6 ampère per Wall Connector. Een netwerk met zes units heeft een
minimumlimiet van 36 ampère." and "De maximale netwerklimiet is de som van de waarden op het typeplaatje van
alle units in het netwerk, minus één ampère. Een netwerk van zes eenfasige Wall Connectors kan een maximale
netwerklimiet van 287 ampère hebben."

The leader must accept the minimum and the maximum and refuse a limit just outside either; the rig's own rack
validation refuses an out-of-range limit before it touches any instrument.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from plan_support import expect_all, limit_bounds, members, network_limit

from rig import gpm
from rig.config import RackFileError, load_rack
from rig.rack import Rack

CASES = ["minimum", "under-minimum", "maximum", "over-maximum"]


@pytest.mark.reconfigures("limit")
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("size", [pytest.param(n, marks=pytest.mark.network(n, 6.0 * n + 6)) for n in (2, 3, 4, 5, 6)])
def test_leader_accepts_the_bounds_and_refuses_beyond(rack: Rack, size: int, case: str) -> None:
    units = members(rack)
    nameplates = [rack.units[u].nameplate_a for u in units]
    low, high = gpm.min_network_limit(size), gpm.max_network_limit(nameplates)
    asked = {"minimum": low, "under-minimum": low - 1, "maximum": high, "over-maximum": high + 1}[case]
    rack.plug(units[0], 48)
    rack.wait(20)
    reply = rack.set_limit(asked)
    rack.wait(30)
    rack.wait(0)  # the verdict on accepting or refusing is the check's, from the trace's events
    assert reply, "the leader gave no reply"
    expect_all(rack, limit_bounds, network_limit)


@pytest.mark.parametrize("limit", [35, 288], ids=["under-36A", "over-287A"])
def test_rack_file_with_out_of_range_limit_is_refused_before_any_instrument(tmp_path: Path, limit: int) -> None:
    text = Path("racks/sim-6.toml").read_text()
    assert tomllib.loads(text)["network"]["limit_a"] == 120
    bad = tmp_path / "rack.toml"
    bad.write_text(text.replace("limit_a = 120", f"limit_a = {limit}"))
    with pytest.raises(RackFileError) as err:
        load_rack(bad)
    message = str(err.value)
    assert "\n" not in message and "network.limit_a" in message and f"{limit}" in message
