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
from plan_support import OBSERVE_S, expect_all, limit_bounds, members, network_limit, settle_s

from rig import gpm
from rig.config import RackFileError, load_rack
from rig.rack import Rack

NETWORKS = {2: 40.0, 3: 60.0, 4: 80.0, 5: 100.0, 6: 120.0}
"""The network of each size the bounds are tried on (shared with other plans: rig plan counts them)."""


@pytest.mark.reconfigures("limit")
@pytest.mark.parametrize("size", [pytest.param(n, marks=[pytest.mark.network(n, limit)] + ([pytest.mark.gate] if n == 6
                                                                                            else []))
                                  for n, limit in NETWORKS.items()])
def test_leader_accepts_the_bounds_and_refuses_beyond(rack: Rack, size: int) -> None:
    """One network per size: just under the minimum (refused), the minimum (accepted: the limit is lowered under a
    charging vehicle), just over the maximum (refused), the maximum (accepted), then the limit it was declared with,
    so the next test of this network finds it as declared."""
    units = members(rack)
    nameplates = [rack.units[u].nameplate_a for u in units]
    low, high = gpm.min_network_limit(size), gpm.max_network_limit(nameplates)
    rack.plug(units[0], 48)
    rack.wait(settle_s(rack))
    for asked in (low - 1, low, high + 1, high, NETWORKS[size]):
        reply = rack.set_limit(asked)
        assert reply, "the leader gave no reply"
        rack.wait(settle_s(rack) if reply.startswith("OK") else OBSERVE_S)
    # the verdict on accepting or refusing is the check's, from the trace's events
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
