"""Faulty firmware models: each changes one behaviour of the reference, to prove a check catches it.

`make test` (tests/test_teeth.py) runs the plans meant for each against it and expects the check named in its
docstring to fail, for the reason that check gives, while the reference passes everything. Each is written the
way such a bug would be written: a small change in one place.
"""

from __future__ import annotations

import math
from typing import ClassVar

from firmware_under_test.models.reference import MIN_OFFER, Peer, ReferenceFirmware
from firmware_under_test.models.timing import DelayedReductions


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
    whose share comes out under 6 A gets no pilot at all. The seeds promise no per-vehicle floor, so this is faulty
    only for a lab that holds its builds to that policy. Caught by: sharing (sharing.under-6a) under the
    manifest reference-6a-floor-policy.toml."""

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


# -- at the edges of the budgets: each just outside one budget that a slow correct build keeps ---------------


class LowersLimitLate(DelayedReductions):
    """A lowered network limit is applied 12 s after the command (limit_lowered_s is 10 s).
    Caught by: network limit (network-limit.lowered-late)."""

    firmware_version: ClassVar[str] = "24.44.0+fault.lowers-limit-late"
    LIMIT_DELAY_S: ClassVar[float] = 12.0


class DisablesLate(DelayedReductions):
    """Disabling Power Sharing takes effect 12 s after the command (disabled_s is 10 s).
    Caught by: network not enabled (not-enabled.disable-late)."""

    firmware_version: ClassVar[str] = "24.44.0+fault.disables-late"
    DISABLE_DELAY_S: ClassVar[float] = 12.0


class RemovalHoldLate(DelayedReductions):
    """A removed unit applies its 6 A hold 12 s after the leader's notice (removal_s is 10 s).
    Caught by: removal hold (removal.hold-late)."""

    firmware_version: ClassVar[str] = "24.44.0+fault.removal-hold-late"
    REMOVAL_DELAY_S: ClassVar[float] = 12.0


class ReturnsLateAfterCycle(DelayedReductions):
    """After the breaker cycle that ends a removal, the unit offers its configuration only 38 s after its
    firmware starts, 43 s after power returns (reboot_s is 40 s). Caught by: removal hold (removal.return)."""

    firmware_version: ClassVar[str] = "24.44.0+fault.returns-late"
    STANDALONE_DELAY_S: ClassVar[float] = 36.0


class RemovalHoldEndsOnTimer(ReferenceFirmware):
    """The 6 A hold of a removed unit ends on a 45 s timer instead of lasting until the breaker cycles.
    Caught by: removal hold (removal.hold), in the plan's scenario that holds longer than any timer."""

    firmware_version: ClassVar[str] = "24.44.0+fault.removal-hold-timer"
    HOLD_TIMER_S: ClassVar[float] = 45.0

    def _on_removed(self) -> None:
        super()._on_removed()
        self.__dict__["hold_until"] = self.board.now() + self.HOLD_TIMER_S

    def tick(self) -> None:
        until = self.__dict__.get("hold_until")
        if until is not None and self.board.now() >= until:
            self.hold_6a = False
        super().tick()


class HoldReturnsAfterCycle(ReferenceFirmware):
    """After the breaker cycle the unit offers its configuration, but 36 s after it starts the hold comes back
    (a copy of the hold flag restored late from flash). One sample after the cycle shows it back; the window
    does not. Caught by: removal hold (removal.return)."""

    firmware_version: ClassVar[str] = "24.44.0+fault.hold-returns"
    REHOLD_AFTER_S: ClassVar[float] = 36.0

    def _on_removed(self) -> None:
        super()._on_removed()
        self.nv["hold_6a"] = True

    def tick(self) -> None:
        if self.nv.get("hold_6a") and self.board.now() - self.booted_at >= self.REHOLD_AFTER_S:
            self.hold_6a = True
        super().tick()


class FallsBackLate(ReferenceFirmware):
    """A follower counts its leader as lost only after 12 s of silence (fallback_s is 10 s), then falls back.
    Caught by: fair fallback (fair-fallback.pilot)."""

    firmware_version: ClassVar[str] = "24.44.0+fault.falls-back-late"
    LOSS_S: ClassVar[float] = 12.0


class RaisesOnLoss(ReferenceFirmware):
    """A follower that loses its leader moves straight to its fair limit, raising itself when it had been given
    less, before the leader can have kept that share free. Caught by: fair fallback (fair-fallback.raised)."""

    firmware_version: ClassVar[str] = "24.44.0+fault.raises-on-loss"
    RAISE_HOLD_S: ClassVar[float] = 0.0


class BootsAtFullCapability(ReferenceFirmware):
    """A follower that powers up offers its full capability until it first hears its leader.
    Caught by: fair fallback (fair-fallback.boot), when its leader is down as it boots."""

    firmware_version: ClassVar[str] = "24.44.0+fault.boots-at-full"

    def _fallback_offer(self, now: float) -> float | None:
        if self.leader_alloc is None and self.nv.get("enabled"):
            return self.cap
        return super()._fallback_offer(now)


class IsolatedLeaderTakesAll(ReferenceFirmware):
    """A leader that hears none of its followers offers itself its full capability, as if it were alone.
    Caught by: fair fallback (fair-fallback.isolated-leader)."""

    firmware_version: ClassVar[str] = "24.44.0+fault.isolated-leader"

    def _allocate(self, now: float, self_peer: Peer) -> dict[str, float | None]:
        allocs = super()._allocate(now, self_peer)
        if self.peers and self.nv.get("enabled") and not any(p.online(now) for p in self.peers.values()):
            allocs[self.board.name] = self.cap
        return allocs


class IdleVehicleKeepsShare(ReferenceFirmware):
    """The leader leaves a vehicle that stopped asking (state B) the share it had, instead of giving it back.
    Caught by: sharing (sharing.idle-share)."""

    firmware_version: ClassVar[str] = "24.44.0+fault.idle-keeps-share"

    def _want(self, peer: Peer, now: float) -> float:
        if peer.state == "B" and peer.alloc is not None:
            return peer.alloc
        return super()._want(peer, now)


class WastesHeadroom(ReferenceFirmware):
    """The leader keeps 8 A of the limit back for itself as a safety margin, whatever the limit: a fifth of a
    40 A network left unused. Caught by: sharing (sharing.unused) on small limits."""

    firmware_version: ClassVar[str] = "24.44.0+fault.wastes-headroom"

    def _share(self, available: float, active: list[Peer], now: float) -> dict[str, float | None]:
        return super()._share(max(available - 8.0, MIN_OFFER * len(active)), active, now)


class UnderOffers(ReferenceFirmware):
    """Every pilot is advertised 0.5 A under what was meant (a duty-cycle offset): a unit back from its removal
    offers 47.5 A for its configured 48 A, more than a real PWM's resolution (pwm_step_a 0.3 A) under it, where
    an 8-bit PWM's 47.81 A is within. Caught by: removal hold (removal.return)."""

    firmware_version: ClassVar[str] = "24.44.0+fault.under-offers"

    def pwm(self, amps: float) -> float:
        return super().pwm(amps) - 0.5 if amps >= MIN_OFFER + 0.5 else super().pwm(amps)


class ReallocatesLate(ReferenceFirmware):
    """The leader takes back current a vehicle stopped using only after 40 s, later than reallocation_s (30 s)
    allows. Caught by: sharing (sharing.unused when the vehicles want more than the limit, sharing.demand-unmet
    when they want less)."""

    firmware_version: ClassVar[str] = "24.44.0+fault.reallocates-late"
    GIVE_BACK_AFTER_S: ClassVar[float] = 40.0

    def _want(self, peer: Peer, now: float) -> float:
        low = self.__dict__.setdefault("_low_since", {})
        before = peer.want
        want = super()._want(peer, now)
        if peer.alloc is not None and want < peer.alloc - 1e-9:
            since = low.setdefault(peer.name, now)
            if now - since < self.GIVE_BACK_AFTER_S:
                peer.want = max(before, peer.alloc)
                return peer.want
        else:
            low.pop(peer.name, None)
        return want
