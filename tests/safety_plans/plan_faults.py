"""Fault-injection plans for tests/test_fault_injection.py (not collected by `pytest tests`: no `test_` prefix).

Each test brings up the simulated rack through the real `rack` fixture, commissions two units, plugs two
vehicles and lets time pass; then it makes one instrument misbehave the way real ones do (time out, answer
garbage, drop its connection) through the simulated device behind it, and uses that instrument. The drivers know
nothing of this. The rig must report the test *broken*, put the rack in its safe state and keep the trace.

`world_probe` (conftest.py) is requested before `rack`, so it is torn down after it: it writes the world's state
(powered, pilot relays, load, Wi-Fi) as the rack was left, for the outer test to judge. A finalizer added by the
test clears the fault before the rack's teardown when the instrument is meant to come back (a transient fault);
a persistent fault stays until the rack's teardown is over (the probe clears it then: the run's rack serves the
next test).
"""

from __future__ import annotations

from typing import Any

import pytest

from rig.rack import Rack

TARGETS = ["load", "analyzer", "labjack", "console", "api"]
FAULTS = ["timeout", "garbage", "drop"]
LJM_ERRORS = {
    "timeout": "LJME_NO_RESPONSE_BYTES_RECEIVED",
    "garbage": "LJME_INCORRECT_NUM_RESPONSE_BYTES_RECEIVED",
    "drop": "LJME_RECONNECT_FAILED",
}


def labjack_of(rack: Rack) -> tuple[str, Any]:
    """The LabJack that reads wc1's pilot (read every tick), or else the one with its relays."""
    unit = rack.units["wc1"]
    name = unit.pilot.instrument if unit.pilot.instrument in rack.inst.labjacks else unit.wifi_relay.instrument
    address = rack.config.instruments[name].address
    return name, rack.sim.labjacks[address]


def inject(rack: Rack, target: str, fault: str) -> tuple[str, Any]:
    """Make the instrument misbehave; returns its rack-file name and what clears the fault."""
    sim = rack.sim
    if target == "labjack":
        name, device = labjack_of(rack)
        device.fail_with = LJM_ERRORS[fault]
        return name, lambda: setattr(device, "fail_with", None)
    if target == "api":
        server = sim.api_servers["wc1"]
        server.slow_s = 1.5
        server.quirk = {"timeout": "slow", "garbage": "garbage", "drop": "drop"}[fault]
        return "wc1-api", lambda: setattr(server, "quirk", None)
    name = {"load": rack.units["wc1"].loads[0], "analyzer": rack.units["wc1"].analyzer.instrument,
            "console": rack.units["wc1"].console}[target]
    server = sim.servers[name]
    server.fault = {"timeout": "silent", "garbage": "garbage", "drop": "drop"}[fault]
    if fault == "drop":
        server.drop_clients()
    return name, lambda: setattr(server, "fault", None)


def use(rack: Rack, target: str) -> None:
    """What a plan does next with the instrument that went wrong."""
    if target == "load":
        rack.set_demand("wc1", 20)  # a new setpoint for wc1's load
    elif target == "console":
        rack.status("wc1")
    elif target == "api":
        rack.inst.apis["wc1"].vitals()
    elif target == "labjack" and rack.units["wc1"].pilot.instrument not in rack.inst.labjacks:
        rack.cut_wifi("wc2")
    rack.wait(5)


def scenario(rack: Rack) -> None:
    rack.commission("wc1", ["wc2"], 60)
    rack.plug("wc1", 32)
    rack.plug("wc2", 32)
    rack.wait(20)


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("target", TARGETS)
def test_transient(world_probe: dict[str, Any], rack: Rack, request: pytest.FixtureRequest, target: str,
                   fault: str) -> None:
    world_probe["sim"] = rack.sim
    scenario(rack)
    _, clear = inject(rack, target, fault)
    request.addfinalizer(clear)  # the instrument comes back before the rack is made safe
    use(rack, target)
    pytest.fail(f"the {fault} of the {target} went unnoticed")


@pytest.mark.parametrize("target", ["load", "labjack"])
def test_persistent(world_probe: dict[str, Any], rack: Rack, target: str) -> None:
    world_probe["sim"] = rack.sim
    scenario(rack)
    world_probe["clear"] = [inject(rack, target, "timeout")[1]]  # gone for the rest of this test, back after it
    use(rack, target)
    pytest.fail(f"the {target} that went away was not noticed")


def test_next_test_restores_first(world_probe: dict[str, Any], rack: Rack) -> None:
    world_probe["sim"] = rack.sim
    events = [e.action for e in rack.trace.events]
    assert events[:2] == ["restore_unsafe", "safe_state"], events


def test_one_dropped_connection_is_retried(world_probe: dict[str, Any], rack: Rack) -> None:
    world_probe["sim"] = rack.sim
    scenario(rack)
    rack.sim.servers[rack.units["wc1"].analyzer.instrument].drop_clients()  # switched off and on again
    rack.wait(5)
    retries = [e for e in rack.trace.events if e.action == "instrument_retry"]
    assert retries and retries[0].data["instrument"] == rack.units["wc1"].analyzer.instrument, retries


def test_interlock_trips_above_the_panel_level(world_probe: dict[str, Any], rack: Rack) -> None:
    world_probe["sim"] = rack.sim
    assert rack.config.trip_level_a is not None
    rack.commission("wc1", ["wc2", "wc3", "wc4"], 180)  # a limit above the panel's trip level
    for unit in ("wc1", "wc2", "wc3", "wc4"):
        rack.plug(unit, 48)
    rack.wait(120)
    pytest.fail("the interlock did not trip")
