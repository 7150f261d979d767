"""Faulty firmware models: each changes one behaviour of the reference, to prove a check catches it.

`make test` (tests/test_teeth.py) runs the plans meant for each against it and expects the check named in its
docstring to fail, for the reason that check gives, while the reference passes everything. Each is written the
way such a bug would be written: a small change in one place.
"""

from __future__ import annotations

import math
from typing import ClassVar

from firmware_under_test.models.reference import MIN_OFFER, Peer, ReferenceFirmware


class KeepsAllocationOnLeaderLoss(ReferenceFirmware):
    """A follower that loses its leader keeps its last allocation instead of falling back to its fair limit.
    Caught by: fair fallback."""

    firmware_version: ClassVar[str] = "24.44.0+fault.keeps-allocation"

    def _fallback_offer(self, now: float) -> float | None:
        if not self.nv.get("enabled"):
            return None
        return self.leader_alloc


class RaisesBeforeLowering(ReferenceFirmware):
    """A leader that raises one unit in the same breath as it lowers another, without waiting for the lowered
    vehicles to come down. Caught by: network limit (measured current above the limit while vehicles respond)."""

    firmware_version: ClassVar[str] = "24.44.0+fault.raises-before-lowering"

    def _committed(self, p: Peer) -> float:
        return p.alloc or 0.0


class RemovalKeepsFullCurrent(ReferenceFirmware):
    """A unit removed from the network forgets the 6 A hold and charges at its full capability at once.
    Caught by: removal hold."""

    firmware_version: ClassVar[str] = "24.44.0+fault.removal-full-current"

    def _on_removed(self) -> None:
        super()._on_removed()
        self.hold_6a = False


class RemovalSurvivesBreakerCycle(ReferenceFirmware):
    """The 6 A hold of a removed unit is kept in non-volatile memory, so cycling the breaker does not return the
    unit to its own configuration. Caught by: removal hold."""

    firmware_version: ClassVar[str] = "24.44.0+fault.removal-survives-cycle"

    def __init__(self, board) -> None:  # type: ignore[no-untyped-def]
        super().__init__(board)
        self.hold_6a = bool(self.nv.get("hold_6a"))

    def _on_removed(self) -> None:
        super()._on_removed()
        self.nv["hold_6a"] = True


class AcceptsAnyLimit(ReferenceFirmware):
    """The leader stores whatever network limit it is given, even under 6 A per unit or over the nameplates.
    Caught by: limit bounds."""

    firmware_version: ClassVar[str] = "24.44.0+fault.accepts-any-limit"

    def on_console(self, line: str) -> str:
        words = line.split()
        if words[:2] == ["gpm", "limit"] and len(words) == 3 and self.role == "leader":
            self.nv["limit"] = float(words[2])
            return "OK"
        return super().on_console(line)


class ReportsOldFirmware(ReferenceFirmware):
    """A build that reports 21.36.5: fine for five units, too old for a network of six.
    Caught by: firmware requirement."""

    firmware_version: ClassVar[str] = "21.36.5"


class ChargesWhileDisabled(ReferenceFirmware):
    """Units charge as standalone units while the network is configured but not enabled.
    Caught by: network not enabled."""

    firmware_version: ClassVar[str] = "24.44.0+fault.charges-while-disabled"

    def _follower_tick(self, now: float) -> None:
        super()._follower_tick(now)
        if not self.nv.get("enabled"):
            self.apply(self.cap)

    def _leader_tick(self, now: float) -> None:
        super()._leader_tick(now)
        if not self.nv.get("enabled"):
            self.apply(self.cap)


class NoSixAmpFloor(ReferenceFirmware):
    """The leader shares the limit in proportion to what each unit wants, without the 6 A floor, so a unit
    whose share comes out under 6 A gets no pilot at all. Caught by: sharing (a vehicle offered under 6 A)."""

    firmware_version: ClassVar[str] = "24.44.0+fault.no-6a-floor"

    def _share(self, available: float, active: list[Peer], now: float) -> dict[str, float | None]:
        wants = {p.name: max(MIN_OFFER, min(self._want(p, now), p.cap)) for p in active}
        total = sum(wants.values())
        if total <= available:
            return dict(wants)
        return {name: want * available / total for name, want in wants.items()}


class NeverGivesBackShare(ReferenceFirmware):
    """The leader never takes back current a vehicle stopped using (a finished or tapering battery), so the
    others are starved. Caught by: sharing (current left unused while others want it)."""

    firmware_version: ClassVar[str] = "24.44.0+fault.never-gives-back"

    def _want(self, peer: Peer, now: float) -> float:
        want = super()._want(peer, now)
        return max(want, peer.alloc or 0.0)


class FairLimitIgnoresCapability(ReferenceFirmware):
    """A follower's fallback limit is network limit / size, not bounded by the unit's own capability.
    Caught by: fair fallback (and capability)."""

    firmware_version: ClassVar[str] = "24.44.0+fault.fair-ignores-capability"

    def fair_limit(self, limit: float, size: int, cap: float) -> float:
        return limit / size

    @property
    def cap(self) -> float:
        if self.role == "follower" and self.lost_since is not None:
            return self.board.capability_a
        return super().cap


class PilotRoundedUp(ReferenceFirmware):
    """A follower in fallback rounds its fair limit up to whole amps (16.67 A becomes 17 A).
    Caught by: fair fallback."""

    firmware_version: ClassVar[str] = "24.44.0+fault.pilot-rounded-up"

    def _fallback_offer(self, now: float) -> float | None:
        offer = super()._fallback_offer(now)
        return None if offer is None else float(math.ceil(offer))

    def apply(self, amps: float | None) -> None:
        if amps is not None and self.lost_since is not None:
            self.offer = amps if self.board.pilot_state() != "A" else None
            self.board.set_pilot(self.offer)
            self.board.set_contactor(self.offer is not None and self.board.pilot_state() == "C")
            return
        super().apply(amps)


class HandsLostShareToOthers(ReferenceFirmware):
    """A leader that gives a silent follower's share to the others at once instead of keeping it in reserve.
    Caught by: reserve kept (and network limit, when the lost follower is still drawing)."""

    firmware_version: ClassVar[str] = "24.44.0+fault.hands-lost-share"

    def _reserve(self, peer: Peer, limit: float, size: int) -> float:
        return 0.0


class IgnoresOwnSetting(ReferenceFirmware):
    """A unit ignores its installer's branch-circuit setting and offers up to its hardware's maximum.
    Caught by: capability (and fair fallback, sharing)."""

    firmware_version: ClassVar[str] = "24.44.0+fault.ignores-own-setting"

    @property
    def cap(self) -> float:
        return self.board.capability_a
