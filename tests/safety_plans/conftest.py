"""What the fault plans of this folder share (plan_faults.py, plan_rig_faults.py): the probe of the simulated world.

`world_probe` is requested before `rack`, so it is torn down after it: it writes the simulated world's state
(powered, pilot relays, load, Wi-Fi) as the rack left it, to `$RIG_PROBE_DIR/<test>.json`, for the outer test to
judge. Then it runs what the test put in `holder["clear"]`: the run's rack serves the next test, so a fault meant
to last the whole test is mended only once the rack's teardown is over.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def world_probe(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    holder: dict[str, Any] = {}
    yield holder
    sim = holder.get("sim")
    if sim is None:
        return
    units = {name: {"powered": u.powered, "b_closed": u.b_closed, "c_closed": u.c_closed, "load_on": u.load_on,
                    "wifi_up": u.wifi_up, "current_a": u.true_current()} for name, u in sim.world.units.items()}
    out = Path(os.environ["RIG_PROBE_DIR"]) / f"{request.node.name}.json"
    out.write_text(json.dumps({"units": units, "world_t": sim.world.now}))
    for clear in holder.get("clear", []):
        clear()
