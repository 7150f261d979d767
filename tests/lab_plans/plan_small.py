"""A small plan for tests/test_lab.py (not collected by `pytest tests`: no `test_` prefix): short scenarios on
the real `rack` fixture, grouped by the network they commission, as the nightly's plans are.

Every test appends one JSON line to `$RIG_LAB_LOG` (the rack it ran on, its process, when), so the outer test
can tell which rack ran what, and in which order. What the environment can ask for:

- `RIG_LAB_BREAK=<rack name>`: the second test that runs on that rack makes it unusable, as a rack whose
  instrument died would be: the test is broken, and the rack's remaining tests must go to the other racks;
- `RIG_LAB_BREAK_TEST=<test name>`: that test breaks whichever rack runs it;
- `RIG_LAB_CRASH_TEST=<test name>`: the process running that test dies;
- `RIG_LAB_HOLD=<seconds>`: every test (or those whose name contains `RIG_LAB_HOLD_ONLY`) holds that long on the
  wall clock with a vehicle plugged in, so that a run can be caught mid-test.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from rig.fixtures import safety as safety_hooks
from rig.instruments.errors import InstrumentError
from rig.rack import Rack

_ran_here: list[str] = []


def _log(rack: Rack, request: pytest.FixtureRequest, started: float) -> None:
    line = {"test": request.node.nodeid, "rack": rack.config.name, "pid": os.getpid(), "start": started,
            "end": time.time()}
    with Path(os.environ["RIG_LAB_LOG"]).open("a", encoding="utf-8") as f:
        f.write(json.dumps(line) + "\n")


def _scenario(rack: Rack, request: pytest.FixtureRequest, size: int, limit_a: float) -> None:
    started = time.time()
    _ran_here.append(request.node.nodeid)
    breaks = (rack.config.name == os.environ.get("RIG_LAB_BREAK") and len(_ran_here) == 2
              or request.node.name == os.environ.get("RIG_LAB_BREAK_TEST"))
    if request.node.name == os.environ.get("RIG_LAB_CRASH_TEST"):
        os._exit(3)  # the worker process dies under the test
    if breaks:
        exc = InstrumentError("analyzer", "no reply within 0.5 s (the rack's analyzer went away)")
        safety_hooks.mark_rack_unusable(request, rack.config.name, exc)
        _log(rack, request, started)
        raise exc
    units = [u.name for u in rack.config.units][:size]
    rack.plug(units[0], 16)  # the rack leaves its safe state (its unsafe marker is written)
    if os.environ.get("RIG_LAB_HOLD_ONLY", "test_") in request.node.name:
        time.sleep(float(os.environ.get("RIG_LAB_HOLD", "0")))  # wall time, so that a run can be caught mid-test
    rack.wait(2)
    assert rack.last is not None
    _log(rack, request, started)


@pytest.mark.network(2, 40)
@pytest.mark.parametrize("step", [1, 2, 3])
def test_two_units(rack: Rack, request: pytest.FixtureRequest, step: int) -> None:
    _scenario(rack, request, 2, 40)


@pytest.mark.network(3, 60)
@pytest.mark.parametrize("step", [1, 2, 3])
def test_three_units(rack: Rack, request: pytest.FixtureRequest, step: int) -> None:
    _scenario(rack, request, 3, 60)


@pytest.mark.network(6, 120)
@pytest.mark.parametrize("step", [1, 2, 3])
def test_six_units(rack: Rack, request: pytest.FixtureRequest, step: int) -> None:
    _scenario(rack, request, 6, 120)


@pytest.mark.parametrize("step", [1, 2, 3])
def test_no_network_marker(rack: Rack, request: pytest.FixtureRequest, step: int) -> None:
    _scenario(rack, request, 2, 40)
