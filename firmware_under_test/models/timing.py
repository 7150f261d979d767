"""A firmware whose safety reductions and return to standalone take time: the base of slow correct builds and of
builds that are late.

The reference applies a lowered limit, a disabled network and a removal at once, and offers its configuration
as soon as it boots standalone. A real build takes time for each: a queue of pending changes, a PWM that waits
before it changes again. `DelayedReductions` delays each by a class attribute (0 = as the reference), so a slow
build and a late one differ only in their numbers.
"""

from __future__ import annotations

from typing import Any, ClassVar

from firmware_under_test.models.reference import ReferenceFirmware
from rig.sim.firmware_api import Board


class DelayedReductions(ReferenceFirmware):
    """The reference, with every safety reduction and the standalone return delayed by its class attribute."""

    LIMIT_DELAY_S: ClassVar[float] = 0.0
    """A lowered network limit is applied this long after the command (a raised one at once)."""
    DISABLE_DELAY_S: ClassVar[float] = 0.0
    """Disabling the network takes effect this long after the command."""
    REMOVAL_DELAY_S: ClassVar[float] = 0.0
    """A removed unit applies its 6 A hold this long after the leader's notice."""
    STANDALONE_DELAY_S: ClassVar[float] = 0.0
    """A standalone unit offers its configuration this long after its firmware started."""

    def __init__(self, board: Board) -> None:
        super().__init__(board)
        self.pending: list[tuple[float, str, Any]] = []

    def on_console(self, line: str) -> str:
        words = line.split()
        now = self.board.now()
        if self.role == "leader" and words[:2] == ["gpm", "limit"] and self.LIMIT_DELAY_S:
            old = self.nv.get("limit")
            reply = super().on_console(line)
            new = self.nv.get("limit")
            if reply.startswith("OK") and old is not None and new is not None and new < old:
                self.nv["limit"] = old
                self.pending.append((now + self.LIMIT_DELAY_S, "limit", new))
            return reply
        if self.role == "leader" and words == ["gpm", "enable", "0"] and self.DISABLE_DELAY_S:
            if not self.nv.get("enabled"):
                return super().on_console(line)
            self.pending.append((now + self.DISABLE_DELAY_S, "enabled", False))
            return "OK"
        if words[:2] == ["gpm", "enable"]:
            self.pending = [p for p in self.pending if p[1] != "enabled"]
        return super().on_console(line)

    def _on_removed(self) -> None:
        if not self.REMOVAL_DELAY_S:
            super()._on_removed()
        elif not any(kind == "removed" for _, kind, _ in self.pending):
            self.pending.append((self.board.now() + self.REMOVAL_DELAY_S, "removed", None))

    def tick(self) -> None:
        now = self.board.now()
        due = [p for p in self.pending if p[0] <= now]
        if due:
            self.pending = [p for p in self.pending if p[0] > now]
            for _, kind, value in due:
                if kind == "removed":
                    super()._on_removed()
                else:
                    self.nv[kind] = value
        super().tick()
        if (self.role == "standalone" and not self.hold_6a and self.STANDALONE_DELAY_S
                and now - self.booted_at < self.BOOT_S + self.STANDALONE_DELAY_S):
            self.apply(None)
