"""Racks as labgrid places: find, reserve, acquire and release them through a labgrid coordinator.

A lab's racks are places in one labgrid coordinator. A place's tags name its rack file (`rack=racks/lab-1.toml`)
and whatever a run selects racks by (`kind=sim`, `units=6`). A run

1. reserves as many matching places as it wants, one labgrid reservation per rack. The coordinator allocates
   free places to reservations in order of priority and age, so a second run started at the same time gets the
   racks the first did not take, or waits for one to be released; it never shares one;
2. acquires the places allocated to it. Acquiring is the lock: the coordinator refuses to let anyone else acquire
   an acquired place, and refuses a place reserved for another owner;
3. releases every place and cancels every reservation on its way out (`Lease.release`), whatever ended it.

Each run acquires under a name of its own, `<user>:<pid>` on its host (labgrid's LG_USERNAME), so
`labgrid-client who` tells which run holds which rack, two runs of one user never take each other's reserved
places, and a place left acquired by a run of this host that was killed (-9) is released by the next run that
wants racks (a rack left unsafe by it is restored by its unsafe marker when it is next opened).

The coordinator is spoken to through `rig.lab.client.LabClient`, in this process.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from rig.lab.client import LabClient, LabError, Place, Reservation

__all__ = ["RACK_TAG", "HeldRack", "LabClient", "LabError", "Lease", "Place", "Reservation", "each", "parse_tags",
           "stale_owner"]

_T = TypeVar("_T")

RACK_TAG = "rack"
"""The place tag that names the place's rack file."""

TAG = re.compile(r"^([a-z][a-z0-9_]+)=([^\s,=]+)$")
"""A place tag or filter, k=v. labgrid's own check only looks at a prefix; this one is whole: the key as labgrid
wants it, a value without blanks or commas (labgrid prints tags comma-separated)."""


def parse_tags(pairs: Iterable[str], what: str = "--place-tags") -> dict[str, str]:
    """`["kind=sim", "units=6"]` -> `{"kind": "sim", "units": "6"}`, or a one-line error naming the bad pair."""
    tags: dict[str, str] = {}
    for pair in pairs:
        m = TAG.match(pair)
        if not m:
            raise LabError(f"{what}: {pair!r} is not a tag: write key=value, the key in lowercase letters, digits "
                           f"and _ (at least two characters), the value without blanks or commas")
        tags[m.group(1)] = m.group(2)
    return tags


def each(fn: Callable[[_T], object], items: Iterable[_T]) -> list[Exception]:
    """Call fn on every item, even after one failed; return the exceptions raised."""
    problems: list[Exception] = []
    for item in items:
        try:
            fn(item)
        except Exception as exc:
            problems.append(exc)
    return problems


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stale_owner(acquired: str | None, host: str) -> bool:
    """Whether a place is held by a rig run of this host that no longer exists (killed before it could release)."""
    if not acquired or "/" not in acquired:
        return False
    their_host, user = acquired.split("/", 1)
    _, sep, pid = user.rpartition(":")
    return their_host == host and bool(sep) and pid.isdigit() and not _pid_alive(int(pid))


@dataclass
class HeldRack:
    """A rack this run acquired: its place, the reservation that got it, and the rack file its tag names."""

    place: str
    token: str
    rack_file: str


@dataclass
class Lease:
    """The racks one run holds, and everything it must undo: call `release()` on every way out (it is idempotent).

    `acquire()` reserves `count` racks matching the tags, waits until at least one is allocated (for as long as
    it takes: a busy lab queues runs, oldest first), then acquires every rack allocated to it at that moment, up
    to `count`, and cancels the rest: a night that asked for three racks while one runs a soak elsewhere runs on
    two rather than waiting hours for the third.
    """

    client: LabClient
    racks: list[HeldRack] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    notify: Callable[[str], None] = print

    def _say(self, message: str) -> None:
        self.notices.append(message)
        self.notify(message)

    def acquire(self, count: int, tags: dict[str, str], root: Path | None = None) -> list[HeldRack]:
        if count < 1:
            raise LabError(f"--racks must be at least 1, not {count}")
        root = Path.cwd() if root is None else root
        places = self.client.places()
        for place in places.values():
            if stale_owner(place.acquired, self.client.host) and all(place.tags.get(k) == v for k, v in tags.items()):
                self._say(f"place {place.name} was left acquired by {place.acquired}, a run of this host that no "
                          f"longer exists; releasing it")
                with contextlib.suppress(LabError):
                    self.client.release_from(place.name, place.acquired or "")
        if not any(all(p.tags.get(k) == v for k, v in tags.items()) for p in places.values()):
            wanted = " ".join(f"{k}={v}" for k, v in tags.items()) or "(any)"
            raise LabError(f"coordinator {self.client.coordinator}: no place matches the tags {wanted} "
                           f"(places: {', '.join(sorted(places)) or 'none'})")
        made: list[Reservation] = []
        for _ in range(count):
            reservation = self.client.reserve(tags)
            self.tokens.append(reservation.token)
            made.append(reservation)
        allocated = [r for r in made if r.state == "allocated" and r.place]
        if not allocated:
            busy = ", ".join(f"{p.name} ({p.acquired})" for p in places.values() if p.acquired) or "reserved"
            self._say(f"waiting for a free rack on {self.client.coordinator} (busy: {busy})")
            self.client.wait_for_any([r.token for r in made])
            now = self.client.reservations()
            allocated = [now[r.token] for r in made if r.token in now and now[r.token].state == "allocated"
                         and now[r.token].place]
            gone = [r.token for r in made if r.token in now and now[r.token].state not in ("allocated", "waiting")]
            if not allocated:
                raise LabError(f"coordinator {self.client.coordinator}: reservation(s) {', '.join(gone) or '?'} "
                               f"ended without a rack (a place was deleted?)")
        unused = [r.token for r in made if r.token not in {a.token for a in allocated}]
        if unused:
            each(self.client.cancel, unused)
            self.tokens = [t for t in self.tokens if t not in unused]
        if any(r.place not in places for r in allocated):  # a place added since the listing above
            places = self.client.places()
        wanted: list[HeldRack] = []
        for r in allocated[:count]:
            assert r.place is not None
            rack = places[r.place].tags.get(RACK_TAG) if r.place in places else None
            if not rack:
                raise LabError(f"place {r.place} has no `{RACK_TAG}` tag naming its rack file "
                               f"(labgrid-client -p {r.place} set-tags {RACK_TAG}=racks/FILE.toml)")
            path = Path(rack) if Path(rack).is_absolute() else root / rack
            if not path.is_file():
                raise LabError(f"place {r.place}: its rack file {rack} (tag `{RACK_TAG}`) does not exist here")
            wanted.append(HeldRack(r.place, r.token, str(path)))
        for held in wanted:
            self.client.acquire(held.place)
            self.racks.append(held)
        self.racks.sort(key=lambda h: h.place)
        return list(self.racks)

    def release(self) -> list[str]:
        """Release every place and cancel every reservation this run made; returns what could not be undone.
        What the coordinator holds under this run's name counts too: a signal may have interrupted a call whose
        request the coordinator still carried out."""
        racks, tokens = list(self.racks), list(self.tokens)
        self.racks.clear()
        self.tokens.clear()
        if not racks and not tokens:
            return []
        places = {h.place for h in racks}
        with contextlib.suppress(LabError):
            owner = self.client.owner
            places |= {p.name for p in self.client.places().values() if p.acquired == owner}
            tokens += [t for t, r in self.client.reservations().items() if r.owner == owner and t not in tokens]

        def cancel(token: str) -> None:
            try:
                self.client.cancel(token)
            except LabError as exc:
                if "does not exist" not in str(exc):  # expired already: nothing to undo
                    raise

        problems = [str(p) for p in each(self.client.release, sorted(places)) + each(cancel, tokens)]
        for message in problems:
            self._say(f"could not release: {message}")
        return problems
