"""Faulty firmware models: each changes one behaviour of the reference, to prove a check catches it.

`make test` runs the test plans against each of these and expects the plan meant to catch it to fail, for the
reason its check gives, while the reference passes everything.
"""

from __future__ import annotations

from firmware_under_test.models.reference import ReferenceFirmware


class KeepsAllocationOnLeaderLoss(ReferenceFirmware):
    """A follower that loses its leader keeps its last allocation instead of falling back to its fair limit.
    Caught by: fair fallback."""

    def _fallback_offer(self, now: float) -> float | None:
        if not self.nv.get("enabled"):
            return None
        return self.leader_alloc


class RaisesBeforeLowering(ReferenceFirmware):
    """A leader that raises one unit in the same breath as it lowers another, without waiting for the lowered
    vehicles to come down. Caught by: network limit (measured current above the limit while vehicles respond)."""

    def _committed(self, p) -> float:  # type: ignore[no-untyped-def]
        return p.alloc or 0.0


class RemovalKeepsFullCurrent(ReferenceFirmware):
    """A unit removed from the network forgets the 6 A hold and charges at its full capability at once.
    Caught by: removal hold."""

    def _on_removed(self) -> None:
        super()._on_removed()
        self.hold_6a = False


__all__ = ["KeepsAllocationOnLeaderLoss", "RaisesBeforeLowering", "RemovalKeepsFullCurrent"]
