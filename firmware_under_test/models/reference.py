"""The reference firmware model: Power Sharing as the seeds describe it, written as the device behaves.

Every unit runs this code. It sees only its own board (`rig.sim.firmware_api.Board`) and talks to the others
only through Wi-Fi messages. It does not import the rig's rules or checks (DESIGN rule 6): the numbers below
are the firmware's own, so a mistake in the rig's checks is not mirrored here.

Roles, kept in non-volatile memory:
- standalone: offers its own capability to a connected vehicle.
- leader: the sole controller of current allocation. Every second it hears each follower's status (pilot
  state, offer, measured current) and sends each its allocation. It shares the network limit by what each
  vehicle actually draws, never allocates more than the limit in total, and lowers before it raises: a unit is
  raised only into headroom that exists once lowered units have confirmed and their vehicles come down. A
  follower that falls silent keeps at least its fair limit in reserve.
- follower: applies what the leader allocates. When it hears nothing for a few seconds it falls back: it lowers
  at once to at most its fair limit (network limit / network size, bounded by its own capability), and only
  after a hold raises up to it, so the leader has time to lower the others first.
A unit removed from the network holds 6 A until its power is cycled (the hold is kept in RAM only), then
runs standalone on its own configuration. A network that is not enabled offers nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from rig.sim.firmware_api import Board

HEARTBEAT_S = 1.0
LOSS_S = 3.0
"""Silence after which the leader (or a follower) counts the other side as gone."""
RAISE_HOLD_S = 10.0
"""A fallen-back follower waits this long before raising towards its fair limit."""
LISTEN_S = 3.0
"""A freshly booted leader listens this long before it allocates."""
BOOT_S = 2.0
"""Self-test after power-on before the pilot is driven."""
REBOOT_AFTER_PAIRING_S = 2.0
REMOVAL_NOTICE_S = 30.0
MIN_OFFER = 6.0
HOLD_AMPS = 6.0
SATURATED_MARGIN = 1.0
"""A vehicle drawing within this of its allocation is taken to want more."""
SPARE_MARGIN = 2.0
"""A vehicle drawing less than its allocation minus this gives the rest back, keeping this much headroom."""
SETTLE_S = 8.0
"""After a raise, the vehicle gets this long to take it up before unused current is taken back."""
CONFIRM_S = 1.0
"""A follower's status reflects the allocations sent more than this before it arrived (two Wi-Fi hops); any
sent later is unconfirmed and may be in force whatever the status says."""
REMEMBER_S = 15.0
"""How long the leader remembers what it sent: a follower that falls silent may draw any of it until its
vehicle has followed the fallback (loss detection plus a slow vehicle's response)."""


@dataclass
class Peer:
    """What the leader knows of one member (itself included)."""

    name: str
    cap: float
    nameplate: float
    last_seen: float = -1e9
    state: str = "A"
    offer: float | None = None
    current: float = 0.0
    alloc: float | None = None
    reserve: float = 0.0
    back_at: float | None = None
    """When a silent member was heard again: its reserve still counts as committed for a while (its vehicle may
    still draw its fallback current, and its first status may be older than its return)."""
    raised_at: float = -1e9
    want: float = MIN_OFFER
    ceiling: float | None = None
    """What the vehicle showed it wants when it left current unused; forgotten when it takes more."""
    sent: list[tuple[float, float]] = field(default_factory=list)
    """Allocations sent lately, (time, amps): kept until the follower has surely applied the newest."""

    def online(self, now: float) -> bool:
        return now - self.last_seen < LOSS_S


class ReferenceFirmware:
    """The firmware every simulated unit runs unless the rack file names another model."""

    firmware_version: ClassVar[str] = "24.44.0"

    # The firmware's own timings, as class attributes so that a build with other timings is a subclass that
    # changes a number (the module constants above are their reference values).
    BOOT_S: ClassVar[float] = BOOT_S
    LISTEN_S: ClassVar[float] = LISTEN_S
    LOSS_S: ClassVar[float] = LOSS_S
    """Silence after which a follower counts its leader as gone."""
    RAISE_HOLD_S: ClassVar[float] = RAISE_HOLD_S
    CONTROL_S: ClassVar[float] = HEARTBEAT_S
    """How often the leader allocates."""
    SETTLE_S: ClassVar[float] = SETTLE_S

    def __init__(self, board: Board) -> None:
        self.board = board
        self.nv = board.nvram
        self.booted_at = board.now()
        self.hold_6a = False
        self.offer: float | None = None
        self.next_heartbeat = self.booted_at + self.BOOT_S
        self.next_control = self.booted_at + self.BOOT_S + self.LISTEN_S
        self.reboot_at: float | None = None
        self.removal_notices: dict[str, float] = {}
        # follower
        self.last_leader_msg = self.booted_at
        self.leader_alloc: float | None = None
        self.lost_since: float | None = None
        # leader
        self.peers: dict[str, Peer] = {}
        self.me = Peer(board.name, board.capability_a, board.nameplate_a)
        if self.role == "leader":
            for name in self.nv.get("followers", []):
                self.peers[name] = Peer(name, cap=board.capability_a, nameplate=board.nameplate_a)
        board.set_pilot(None)
        board.set_contactor(False)

    # -- helpers ---------------------------------------------------------------------------------------

    @property
    def cap(self) -> float:
        """This unit's maximum output: the hardware's, lowered by the installer's setting if any."""
        return min(self.board.capability_a, float(self.nv.get("max_output", self.board.capability_a)))

    @property
    def role(self) -> str:
        return self.nv.get("role", "standalone")

    def size(self) -> int:
        if self.role == "leader":
            return 1 + len(self.nv.get("followers", []))
        return int(self.nv.get("size", 1))

    def fair_limit(self, limit: float, size: int, cap: float) -> float:
        return min(limit / size, cap)

    def pwm(self, amps: float) -> float:
        """What the pilot PWM can advertise of `amps`: rounded down to its 0.1 A steps."""
        return int(amps * 10 + 1e-6) / 10.0

    def apply(self, amps: float | None) -> None:
        """Drive the pilot and contactor: round down to the PWM's steps, never above capability."""
        if amps is not None:
            amps = self.pwm(min(amps, self.cap))
            if amps < MIN_OFFER:
                amps = None
        if self.hold_6a and amps is not None:
            amps = min(amps, HOLD_AMPS)
        vehicle = self.board.pilot_state()
        if vehicle == "A":
            amps = None
        self.offer = amps
        self.board.set_pilot(amps)
        self.board.set_contactor(amps is not None and vehicle == "C")

    # -- the Board calls ---------------------------------------------------------------------------------

    def tick(self) -> None:
        now = self.board.now()
        if now - self.booted_at < self.BOOT_S:
            return
        if self.reboot_at is not None and now >= self.reboot_at:
            self.reboot_at = None
            self.board.reboot()
            return
        for name, until in list(self.removal_notices.items()):
            if now > until:
                del self.removal_notices[name]
            elif now >= self.next_heartbeat:
                self.board.send(name, {"type": "removed"})
        if self.role == "leader":
            self._leader_tick(now)
        elif self.role == "follower":
            self._follower_tick(now)
        else:
            self.apply(self.cap)
        if now >= self.next_heartbeat:
            self.next_heartbeat = now + HEARTBEAT_S

    def on_message(self, sender: str, message: dict[str, Any]) -> None:
        kind = message.get("type")
        now = self.board.now()
        if kind == "pair":
            self.nv.update(role="follower", leader=sender, size=message["size"], limit=message["limit"],
                           enabled=message["enabled"])
            self.board.join_wifi(sender)
            # the leader reboots after pairing: count its silence from now, not from this unit's own boot, so a
            # new follower does not raise towards its fair limit before the others have fallen back
            self.last_leader_msg = now
            self.board.send(sender, {"type": "paired"})
        elif kind == "removed" and self.role == "follower" and sender == self.nv.get("leader"):
            self._on_removed()
        elif kind == "alloc" and self.role == "follower" and sender == self.nv.get("leader"):
            self.last_leader_msg = now
            self.lost_since = None
            for key in ("size", "limit", "enabled"):
                if self.nv.get(key) != message[key]:
                    self.nv[key] = message[key]
            self.leader_alloc = message["amps"]
            self.apply(self.leader_alloc if self.nv.get("enabled") else None)
        elif kind in ("status", "paired") and self.role == "leader" and sender in self.peers:
            peer = self.peers[sender]
            peer.last_seen = now
            if kind == "status":
                peer.state, peer.offer, peer.current = message["state"], message["offer"], message["current"]
                peer.cap, peer.nameplate = message["cap"], message["nameplate"]

    def on_console(self, line: str) -> str:
        words = line.split()
        if words[:1] != ["gpm"] or len(words) < 2:
            return "ERR unknown command"
        cmd, args = words[1], words[2:]
        if cmd == "status":
            return self._status()
        if cmd == "output" and len(args) == 1:
            try:
                amps = float(args[0])
            except ValueError:
                return "ERR output is not a number"
            if not 6.0 <= amps <= self.board.capability_a:
                return f"ERR output {amps:g} out of range 6..{self.board.capability_a:g}"
            self.nv["max_output"] = amps
            return "OK"
        if cmd == "reset":
            for key in ("role", "leader", "followers", "size", "limit", "enabled", "wifi_keys"):
                self.nv.pop(key, None)
            self.board.join_wifi(None)
            self.reboot_at = self.board.now() + 0.5
            return "OK rebooting"
        if self.role == "follower":
            return "ERR not the leader"
        if cmd == "pair" and len(args) >= 2:
            # the WPA2 password of the follower's own Wi-Fi, which the leader joins; may contain spaces
            name, password = line.split(None, 3)[2:]
            if not 8 <= len(password) <= 63:
                return "ERR a WPA2 password has 8 to 63 characters"
            self.nv["wifi_keys"] = {**self.nv.get("wifi_keys", {}), name: password}
            return "OK"
        if cmd == "form" and len(args) == 1:
            followers = [f for f in args[0].split(",") if f]
            if len(followers) > 5 or self.board.name in followers:
                return "ERR a leader takes 1 to 5 other units"
            unpaired = [f for f in followers if f not in self.nv.get("wifi_keys", {})]
            if unpaired:
                return "ERR no Wi-Fi password for " + ",".join(unpaired)
            size = 1 + len(followers)
            limit = max(float(self.nv.get("limit", 0)), 6.0 * size)
            self.nv.update(role="leader", followers=followers, limit=limit, enabled=False)
            for f in followers:
                self.board.send(f, {"type": "pair", "size": size, "limit": limit, "enabled": False})
            self.reboot_at = self.board.now() + REBOOT_AFTER_PAIRING_S
            return "OK rebooting"
        if self.role != "leader":
            return "ERR not the leader"
        if cmd == "add" and len(args) == 1:
            name = args[0]
            if name in self.peers or name == self.board.name or len(self.peers) >= 5:
                return "ERR cannot add " + name
            if name not in self.nv.get("wifi_keys", {}):
                return "ERR no Wi-Fi password for " + name
            followers = [*self.nv.get("followers", []), name]
            self.nv["followers"] = followers
            self.board.send(name, {"type": "pair", "size": len(followers) + 1, "limit": self.nv.get("limit", 0),
                                   "enabled": bool(self.nv.get("enabled"))})
            self.reboot_at = self.board.now() + REBOOT_AFTER_PAIRING_S
            return "OK rebooting"
        if cmd == "limit" and len(args) == 1:
            try:
                limit = float(args[0])
            except ValueError:
                return "ERR limit is not a number"
            low = 6.0 * self.size()
            high = self.board.nameplate_a + sum(p.nameplate for p in self.peers.values()) - 1.0
            if not low <= limit <= high:
                return f"ERR limit {limit:g} out of range {low:g}..{high:g}"
            self.nv["limit"] = limit
            return "OK"
        if cmd == "enable" and args in (["0"], ["1"]):
            self.nv["enabled"] = args == ["1"]
            return "OK"
        if cmd == "remove" and len(args) == 1 and args[0] in self.peers:
            name = args[0]
            del self.peers[name]
            self.nv["followers"] = [f for f in self.nv["followers"] if f != name]
            self.removal_notices[name] = self.board.now() + REMOVAL_NOTICE_S
            self.board.send(name, {"type": "removed"})
            return "OK"
        return "ERR bad command"

    def _status(self) -> str:
        role = self.role
        parts = [f"role={role}"]
        if role == "leader":
            now = self.board.now()
            parts += [f"limit={self.nv.get('limit', 0):g}", f"enabled={int(bool(self.nv.get('enabled')))}",
                      f"size={self.size()}", f"followers={','.join(self.peers)}",
                      f"online={','.join(p.name for p in self.peers.values() if p.online(now))}"]
        elif role == "follower":
            parts += [f"leader={self.nv.get('leader')}", f"size={self.size()}"]
        return " ".join(parts)

    # -- follower ----------------------------------------------------------------------------------------

    def _on_removed(self) -> None:
        """Leave the network: standalone from now on, held at 6 A until the power is cycled."""
        for key in ("leader", "size", "limit", "enabled"):
            self.nv.pop(key, None)
        self.nv["role"] = "standalone"
        self.board.join_wifi(None)
        self.hold_6a = True
        self.apply(self.cap)

    def _fallback_offer(self, now: float) -> float | None:
        """At most the fair limit: lower at once, raise only after the hold."""
        if not self.nv.get("enabled"):
            return None
        fair = self.fair_limit(float(self.nv.get("limit", 0)), self.size(), self.cap)
        assert self.lost_since is not None
        if now - self.lost_since >= self.RAISE_HOLD_S:
            return fair
        return None if self.offer is None else min(self.offer, fair)

    def _follower_tick(self, now: float) -> None:
        if now - self.last_leader_msg >= self.LOSS_S:
            if self.lost_since is None:
                self.lost_since = now
            self.apply(self._fallback_offer(now))
        else:
            self.apply(self.leader_alloc if self.nv.get("enabled") else None)
        if now >= self.next_heartbeat:
            self.board.send(self.nv["leader"], {
                "type": "status", "state": self.board.pilot_state(), "offer": self.offer,
                "current": round(self.board.measured_current(), 2), "cap": self.cap,
                "nameplate": self.board.nameplate_a,
            })

    # -- leader ------------------------------------------------------------------------------------------

    def _leader_tick(self, now: float) -> None:
        me = self.board.name
        self_peer = self.me
        self_peer.last_seen, self_peer.state = now, self.board.pilot_state()
        self_peer.offer, self_peer.current = self.offer, self.board.measured_current()
        self_peer.cap = self.cap
        if now >= self.next_control:
            self.next_control = now + self.CONTROL_S
            allocs = self._allocate(now, self_peer)
            self.apply(allocs.get(me))
            limit, size, enabled = float(self.nv.get("limit", 0)), self.size(), bool(self.nv.get("enabled"))
            for peer in self.peers.values():
                amps = peer.alloc
                if not peer.online(now) and amps is not None:
                    # a silent follower's allocation is stale: the share kept for it is its fair limit, so a
                    # follower that comes back hears no more than that until the leader has heard it again
                    amps = min(amps, self.fair_limit(limit, size, peer.cap))
                peer.sent = [(t, a) for t, a in peer.sent if now - t < REMEMBER_S] + [(now, amps or 0.0)]
                self.board.send(peer.name, {"type": "alloc", "amps": amps, "limit": limit, "size": size,
                                            "enabled": enabled})
        elif self.offer is not None:
            self.apply(self.offer)  # follow the vehicle leaving or pausing at once

    def _want(self, peer: Peer, now: float) -> float:
        """What a member's vehicle would use: all it can get if it takes what it has, else what it draws."""
        if peer.state != "C":
            peer.want, peer.ceiling = MIN_OFFER, None
        elif peer.alloc is None:
            peer.want = peer.cap  # a vehicle that just asked may want everything
        elif peer.current >= self._granted(peer) - SATURATED_MARGIN:
            if peer.ceiling is not None and peer.alloc < peer.ceiling - SATURATED_MARGIN:
                peer.want = peer.ceiling  # it takes all of a share below what it showed it wants: no news
            else:
                peer.want, peer.ceiling = peer.cap, None  # it takes all it is given: it may want everything
        elif now - peer.raised_at < self.SETTLE_S:
            pass  # keep the estimate until the vehicle has had time to take up its raise
        elif peer.current < self._granted(peer) - SPARE_MARGIN:
            peer.want = peer.ceiling = max(MIN_OFFER, peer.current + SPARE_MARGIN)
        else:
            peer.want = peer.alloc
        return peer.want

    @staticmethod
    def _granted(peer: Peer) -> float:
        """What the member's vehicle is actually offered: its allocation as the pilot carries it (a PWM rounds it
        down, by up to an amp on a coarse one), so a vehicle taking all of a rounded offer counts as taking all."""
        alloc = peer.alloc or 0.0
        return alloc if peer.offer is None else min(alloc, peer.offer)

    def _reserve(self, peer: Peer, limit: float, size: int) -> float:
        """What a silent follower may be drawing: all it was last given, offered or seen drawing (its vehicle
        may not have come down yet), or its fair limit, whichever is more."""
        remembered = max((a for t, a in peer.sent if self.board.now() - t < REMEMBER_S), default=0.0)
        return max(self._committed(peer), remembered, self.fair_limit(limit, size, peer.cap))

    def _allocate(self, now: float, self_peer: Peer) -> dict[str, float | None]:
        limit, size = float(self.nv.get("limit", 0)), self.size()
        members = [self_peer, *self.peers.values()]
        if not self.nv.get("enabled"):
            for p in self.peers.values():
                p.alloc = None
            return {}
        online = [p for p in members if p.online(now)]
        for p in members:
            if not p.online(now):
                p.back_at = None
                p.reserve = self._reserve(p, limit, size)
        available = limit - sum(p.reserve for p in members if not p.online(now))
        for p in online:
            if p.reserve and p.back_at is None:
                p.back_at = now
            if p.back_at is not None and now - p.back_at >= REMEMBER_S:
                p.reserve, p.back_at = 0.0, None
        active = [p for p in online if p.state in ("B", "C")]
        targets = self._share(available, active, now)
        for p in online:
            if p not in active:
                p.alloc = None
        # lower at once; raise only into headroom left by what is still offered or drawn
        for p in active:
            t = targets.get(p.name)
            if t is None or (p.alloc is not None and t < p.alloc):
                p.alloc = t
        committed = sum(self._committed(p) for p in online)
        self._raise(active, targets, available - committed, now)
        return {p.name: p.alloc for p in members}

    def _committed(self, p: Peer) -> float:
        """The most this member may be offering or drawing right now, as far as the leader can know. That
        includes the last allocation sent to it: a follower whose vehicle left holds it and offers it again the
        moment a vehicle plugs in, until the lower one the leader sends next has arrived."""
        unconfirmed = max((a for t, a in p.sent if t > p.last_seen - CONFIRM_S), default=0.0)
        held = p.sent[-1][1] if p.sent else 0.0
        returning = p.reserve if p.back_at is not None else 0.0
        return max(p.alloc or 0.0, unconfirmed, held, p.offer or 0.0, p.current, returning)

    def _raise(self, active: list[Peer], targets: dict[str, float | None], headroom: float, now: float) -> None:
        for p in active:
            t = targets.get(p.name)
            if t is None or (p.alloc is not None and t <= p.alloc):
                continue
            before = self._committed(p)
            step = min(t, before + headroom)  # over-committed (headroom < 0): never undo a lowering in progress
            if step < MIN_OFFER or (p.alloc is not None and step <= p.alloc):
                continue
            p.alloc = step
            if now - p.raised_at >= self.SETTLE_S:  # a raise within the settle window does not restart it
                p.raised_at = now
            headroom -= max(0.0, step - before)

    def _floors(self, available: float, active: list[Peer]) -> tuple[list[Peer], dict[str, float | None]]:
        """Who gets the 6 A floor, in the order given, while the limit lasts; the rest are offered nothing
        (no PWM) rather than less than 6 A."""
        served = [p for i, p in enumerate(active) if available - MIN_OFFER * (i + 1) >= -1e-9]
        return served, {p.name: None for p in active[len(served):]}

    def _share(self, available: float, active: list[Peer], now: float) -> dict[str, float | None]:
        """Water-fill `available` over the active members: 6 A each first, then up to what each wants."""
        served, targets = self._floors(available, active)
        want = {p.name: max(MIN_OFFER, min(self._want(p, now), p.cap)) for p in served}
        give = {p.name: MIN_OFFER for p in served}
        left = available - MIN_OFFER * len(served)
        hungry = [p.name for p in served if want[p.name] > give[p.name]]
        while left > 1e-6 and hungry:
            share = left / len(hungry)
            for name in list(hungry):
                add = min(share, want[name] - give[name])
                give[name] += add
                left -= add
                if want[name] - give[name] <= 1e-9:
                    hungry.remove(name)
        targets.update(give)
        return targets
