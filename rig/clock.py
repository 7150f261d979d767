"""The wall clock of a real rack. A simulated rack uses the world's virtual clock instead (rig/sim/world.py).

Both have `now()` and `sleep()`; only `Rack.wait()` and `Rack.wait_until()` call `sleep()` (DESIGN rule 2).
"""

from __future__ import annotations

import time


class WallClock:
    """Seconds since the rack was opened, on the monotonic clock."""

    def __init__(self) -> None:
        self._t0 = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self._t0

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)
