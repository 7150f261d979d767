"""Plans for tests/test_rig_faults.py (not collected by `pytest tests`: no `test_` prefix): the rig faults the
strict instruments can show, each in the middle of a scenario, through the simulated device behind the
instrument. The rig must report each test *broken*, name what went wrong, and leave the rack safe.

`world_probe` (conftest.py) is requested before `rack`, so it is torn down after it and records the world as
the rack left it; then it mends what the test broke in the simulated device (the run's rack serves the next test,
which finds the instruments set up again after a rig fault, as a lab rack would).
"""

from __future__ import annotations

from typing import Any

import pytest

from rig.rack import Rack


def scenario(rack: Rack) -> None:
    rack.commission("wc1", ["wc2"], 60)
    rack.plug("wc1", 30)
    rack.plug("wc2", 16)
    rack.wait(20)


def t7(rack: Rack, name: str) -> Any:
    return rack.sim.labjacks[rack.config.instruments[name].address]


def test_load_protection_trip(world_probe: dict[str, Any], rack: Rack) -> None:
    world_probe["sim"] = rack.sim
    scenario(rack)
    rack.sim.servers[rack.units["wc1"].loads[0]].device.trip(64)  # one load of wc1's group trips (OPP)
    rack.wait(5)
    pytest.fail("the load's protection trip went unnoticed")


def test_pulse_width_line_without_clock(world_probe: dict[str, Any], rack: Rack) -> None:
    world_probe["sim"] = rack.sim
    scenario(rack)
    t7(rack, rack.units["wc1"].pilot.instrument).stop_clock()  # the T7 restarted behind the rig's back
    rack.wait(5)
    pytest.fail("pulse width in without its clock went unnoticed")


def test_stale_pulse_register(world_probe: dict[str, Any], rack: Rack) -> None:
    world_probe["sim"] = rack.sim
    scenario(rack)
    device, line = t7(rack, rack.units["wc1"].pilot.instrument), rack.units["wc1"].pilot.duty_line
    device.stale_lines.add(line)
    world_probe["clear"] = [lambda: device.stale_lines.discard(line)]
    rack.wait(5)
    pytest.fail("a pulse register that does not reset went unnoticed")


def test_nan_streak_is_tolerated_then_over_range(world_probe: dict[str, Any], rack: Rack) -> None:
    world_probe["sim"] = rack.sim
    scenario(rack)
    device = rack.sim.servers[rack.units["wc1"].analyzer.instrument].device
    device.nan_until = rack.sim.world.now + 1.0  # within the 2 s budget: no reading, not a fault
    rack.wait(3)
    assert any(s.current["wc1"] is None for s in rack.trace.samples[-6:]), "the NAN was not read as no reading"
    device.range_a[1], device.external[1] = 5.0, False  # element 1 turned down to 5 A at its front panel
    device._changed()
    rack.wait(5)
    pytest.fail("the over-range reading went unnoticed")


def test_nan_streak_longer_than_its_budget(world_probe: dict[str, Any], rack: Rack) -> None:
    world_probe["sim"] = rack.sim
    scenario(rack)
    device = rack.sim.servers[rack.units["wc1"].analyzer.instrument].device
    device.nan_until = rack.sim.world.now + 60.0
    world_probe["clear"] = [lambda: setattr(device, "nan_until", 0.0)]
    rack.wait(10)
    pytest.fail("a streak of NAN went unnoticed")


def test_relay_that_does_not_switch(world_probe: dict[str, Any], rack: Rack) -> None:
    world_probe["sim"] = rack.sim
    scenario(rack)
    ref = rack.units["wc1"].breaker_relay
    device = t7(rack, ref.instrument)
    device.stuck[ref.line] = 0
    world_probe["clear"] = [lambda: device.stuck.pop(ref.line, None)]
    rack.trip_breaker("wc1")
    rack.wait(5)
    pytest.fail("a relay that did not switch went unnoticed")
