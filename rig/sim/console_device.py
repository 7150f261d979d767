"""A simulated unit service console, reached as `socket://127.0.0.1:<port>` the way a serial-to-TCP adapter is."""

from __future__ import annotations

from rig.sim.world import World

PROMPT = "wc> "


class ServiceConsole:
    """Passes each command line to the unit's firmware and returns its reply followed by the prompt.

    A unit whose firmware is not running (no power, booting) says nothing, as a dead serial line does.
    """

    def __init__(self, world: World, unit_name: str) -> None:
        self.world = world
        self.unit_name = unit_name

    def handle(self, line: str) -> str | None:
        reply = self.world.console(self.unit_name, line)
        if not reply:
            return None
        return reply + "\r\n" + PROMPT
