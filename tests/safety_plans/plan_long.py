"""Plans for tests/test_sigkill.py (not collected by `pytest tests`): two short tests that finish, then a scenario
that runs until it is killed or stopped by a signal.

The long scenario publishes the simulated world's clock in a shared memory page (RIG_CLOCK_FILE) each time the
rack's clock advances, before the tick's sample is taken and written. The page is independent of the trace
writer and survives the process, so after a SIGKILL the outer test knows how far rack time had got and can
compare it with the last sample the trace kept.

With RIG_SIGNAL_DURING_SAFE=SIGHUP (or another signal), the process sends itself that signal from inside the
next `Rack.safe()` (when the first load is switched off): a second signal arriving while the rack is being made
safe, at a moment the outer test could not hit from outside.
"""

from __future__ import annotations

import mmap
import os
import signal
import struct
from typing import Any

from rig.rack import Rack


def test_short_one(rack: Rack) -> None:
    rack.plug("wc1", 16)
    rack.wait(5)
    rack.unplug("wc1")


def test_short_two(rack: Rack) -> None:
    rack.wait(5)


def test_long_scenario(world_probe: dict[str, Any], rack: Rack) -> None:
    world_probe["sim"] = rack.sim
    with open(os.environ["RIG_CLOCK_FILE"], "r+b") as f:
        page = mmap.mmap(f.fileno(), 8)
    sleep = rack.clock.sleep

    def published_sleep(seconds: float) -> None:
        sleep(seconds)
        page[:8] = struct.pack("<d", rack.clock.now())

    rack.clock.sleep = published_sleep
    if os.environ.get("RIG_SIGNAL_DURING_SAFE"):
        sig = getattr(signal, os.environ["RIG_SIGNAL_DURING_SAFE"])
        load = rack.inst.loads[rack.units["wc1"].loads[0]]
        switch_off = load.off

        def off_and_signal() -> None:
            load.off = switch_off  # once: the run's rack is made safe again when the run ends
            os.kill(os.getpid(), sig)
            switch_off()

        load.off = off_and_signal
    rack.commission("wc1", ["wc2"], 60)
    rack.plug("wc1", 32)
    rack.plug("wc2", 32)
    rack.cut_wifi("wc2")
    rack.wait(10_000_000)
