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

Why `labgrid-client` as a subprocess: its command line is labgrid's documented, stable interface, whereas the
Python `ClientSession` methods behind it are shaped around argparse namespaces and print their results. A call
costs about 0.4 s of CPU; a run makes a few per rack, at its start and at its end, independent ones in parallel.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import queue
import re
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

RACK_TAG = "rack"
"""The place tag that names the place's rack file."""

TAG = re.compile(r"^([a-z][a-z0-9_]+)=([^\s,=]+)$")
"""A place tag or filter, k=v. labgrid's own check only looks at a prefix; this one is whole: the key as labgrid
wants it, a value without blanks or commas (labgrid prints tags comma-separated)."""


class LabError(RuntimeError):
    """The coordinator cannot give the run its racks (unreachable, a place without a rack file, a refusal).
    The message is one line naming the place, reservation or command."""


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


@dataclass(frozen=True)
class Place:
    """A place as the coordinator shows it."""

    name: str
    tags: dict[str, str]
    acquired: str | None
    """`host/user` of whoever acquired it, or None."""


@dataclass(frozen=True)
class Reservation:
    token: str
    state: str
    """waiting, allocated, acquired, expired or invalid (labgrid's ReservationState)."""
    place: str | None
    """The place allocated to it, if any."""


def _blocks(text: str, head: str) -> dict[str, dict[str, str]]:
    """`Place 'x':` / `Reservation 'x':` blocks of labgrid-client's output, as {name: {field: value}}."""
    out: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    last_key = ""
    for line in text.splitlines():
        m = re.match(rf"^{head} '([^']+)':\s*$", line)
        if m:
            current = out.setdefault(m.group(1), {})
            continue
        if current is None or not line.startswith("  "):
            continue
        body = line.strip()
        key, sep, value = body.partition(":")
        if sep and line.startswith("  ") and not line.startswith("    "):
            last_key = key.strip()
            current[last_key] = value.strip()
        elif last_key:  # a nested line (filters, allocations): keep it under its parent
            current[last_key] = (current[last_key] + " " + body).strip()
    return out


def parse_places(text: str) -> dict[str, Place]:
    """The output of `labgrid-client -v places`."""
    places = {}
    for name, fields in _blocks(text, "Place").items():
        tags = {}
        for pair in filter(None, (p.strip() for p in fields.get("tags", "").split(","))):
            key, _, value = pair.partition("=")
            tags[key] = value
        acquired = fields.get("acquired", "None")
        places[name] = Place(name, tags, None if acquired in ("", "None") else acquired)
    return places


def parse_reservations(text: str) -> dict[str, Reservation]:
    """The output of `labgrid-client reserve` or `labgrid-client reservations`."""
    out = {}
    for token, fields in _blocks(text, "Reservation").items():
        m = re.search(r"main:\s*(\S+)", fields.get("allocations", ""))
        out[token] = Reservation(token, fields.get("state", "unknown"), m.group(1) if m else None)
    return out


def client_executable() -> str:
    """`labgrid-client` beside the running Python (the rig's venv), else on PATH."""
    beside = Path(sys.executable).with_name("labgrid-client")
    return str(beside) if beside.exists() else (shutil.which("labgrid-client") or "labgrid-client")


_T = TypeVar("_T")


def each(fn: Callable[[_T], object], items: Iterable[_T]) -> list[Exception]:
    """Call fn on every item in parallel threads (labgrid-client calls spend their time starting Python);
    return the exceptions raised, after all are done."""
    items = list(items)
    if not items:
        return []
    problems: list[Exception] = []
    with ThreadPoolExecutor(max_workers=min(8, len(items))) as pool:
        for future in [pool.submit(fn, item) for item in items]:
            try:
                future.result()
            except Exception as exc:
                problems.append(exc)
    return problems


class LabClient:
    """`labgrid-client` against one coordinator, acting under one run's name."""

    def __init__(self, coordinator: str, user: str | None = None, timeout_s: float = 60.0) -> None:
        self.coordinator = coordinator
        self.user = user or f"{getpass.getuser()}:{os.getpid()}"
        self.host = socket.gethostname()
        self.timeout_s = timeout_s

    @property
    def owner(self) -> str:
        """How the coordinator names this run: `host/user:pid`."""
        return f"{self.host}/{self.user}"

    def command(self, *args: str) -> list[str]:
        return [client_executable(), "-x", self.coordinator, *args]

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("LG_PLACE", "LG_TOKEN", "LG_ENV", "LG_PROXY")}
        env.update(LG_USERNAME=self.user, LG_HOSTNAME=self.host)
        return env

    def run(self, *args: str) -> str:
        what = "labgrid-client " + " ".join(args)
        try:
            proc = subprocess.run(self.command(*args), capture_output=True, text=True, timeout=self.timeout_s,
                                  env=self.env(), stdin=subprocess.DEVNULL)
        except FileNotFoundError:
            raise LabError("labgrid-client is not installed: install the rig with its `lab` extra "
                           "(pip install -e '.[lab]')") from None
        except subprocess.TimeoutExpired:
            raise LabError(f"{what}: no answer from the coordinator {self.coordinator} within "
                           f"{self.timeout_s:g} s") from None
        if proc.returncode != 0:
            lines = [ln.strip() for ln in (proc.stderr + "\n" + proc.stdout).splitlines() if ln.strip()]
            why = lines[-1] if lines else f"exit code {proc.returncode}"
            raise LabError(f"{what} (coordinator {self.coordinator}): {why}")
        return proc.stdout

    # -- what the coordinator knows ------------------------------------------------------------------------

    def places(self) -> dict[str, Place]:
        return parse_places(self.run("-v", "places"))

    def reservations(self) -> dict[str, Reservation]:
        return parse_reservations(self.run("reservations"))

    # -- what a run does -------------------------------------------------------------------------------------

    def reserve(self, tags: dict[str, str]) -> Reservation:
        made = parse_reservations(self.run("reserve", *(f"{k}={v}" for k, v in tags.items())))
        if len(made) != 1:
            raise LabError("labgrid-client reserve: could not read the reservation it made from its output")
        return next(iter(made.values()))

    def waiter(self, token: str) -> subprocess.Popen[bytes]:
        """`labgrid-client wait TOKEN`: ends when the reservation is no longer waiting (it polls every second,
        which also keeps the reservation from expiring)."""
        return subprocess.Popen(self.command("wait", token), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                stdin=subprocess.DEVNULL, env=self.env())

    def acquire(self, place: str) -> None:
        self.run("-p", place, "acquire")

    def release(self, place: str) -> None:
        self.run("-p", place, "release")

    def release_from(self, place: str, owner: str) -> None:
        """Release a place only if `owner` still holds it (the coordinator checks, atomically)."""
        self.run("-p", place, "release-from", owner)

    def cancel(self, token: str) -> None:
        self.run("cancel-reservation", token)

    # -- what a lab sets up once ---------------------------------------------------------------------------

    def create_place(self, name: str, tags: dict[str, str]) -> None:
        """A new place for a rack: `create`, then `set-tags` (the tag `rack` names its rack file)."""
        self.run("-p", name, "create")
        self.run("-p", name, "set-tags", *(f"{k}={v}" for k, v in tags.items()))


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
    _waiters: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

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

        def reserve(_: int) -> None:
            reservation = self.client.reserve(tags)
            with self._lock:
                self.tokens.append(reservation.token)
                made.append(reservation)

        problems = each(reserve, range(count))
        if problems:
            raise LabError(str(problems[0]))
        allocated = [r for r in made if r.state == "allocated" and r.place]
        if not allocated:
            busy = ", ".join(f"{p.name} ({p.acquired})" for p in places.values() if p.acquired) or "reserved"
            self._say(f"waiting for a free rack on {self.client.coordinator} (busy: {busy})")
            self._wait_for_any([r.token for r in made])
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

        def take(held: HeldRack) -> None:
            self.client.acquire(held.place)
            with self._lock:
                self.racks.append(held)

        problems = each(take, wanted)
        if problems:
            raise LabError(str(problems[0]))
        self.racks.sort(key=lambda h: h.place)
        return list(self.racks)

    def _wait_for_any(self, tokens: list[str]) -> None:
        """Block until one of the reservations is no longer waiting; the `wait` processes end with it."""
        ended: queue.Queue[int] = queue.Queue()
        for token in tokens:
            waiter = self.client.waiter(token)
            self._waiters.append(waiter)
            threading.Thread(target=lambda w=waiter: ended.put(w.wait()), daemon=True).start()
        try:
            while True:
                try:
                    ended.get(timeout=1.0)  # wakes at once when a waiter ends; the timeout only lets signals in
                    break
                except queue.Empty:
                    continue
        finally:
            self._stop_waiters()

    def _stop_waiters(self) -> None:
        for waiter in self._waiters:
            if waiter.poll() is None:
                waiter.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                waiter.wait(timeout=5)
        self._waiters.clear()

    def release(self) -> list[str]:
        """Release every place and cancel every reservation this run made; returns what could not be undone."""
        self._stop_waiters()
        racks, tokens = list(self.racks), list(self.tokens)
        self.racks.clear()
        self.tokens.clear()

        def undo(token: str) -> None:
            held = next((h for h in racks if h.token == token), None)
            try:
                if held is not None:
                    self.client.release(held.place)
            finally:
                try:
                    self.client.cancel(token)
                except LabError as exc:
                    if "does not exist" not in str(exc):  # expired already: nothing to undo
                        raise

        problems = [str(p) for p in each(undo, tokens)]
        for message in problems:
            self._say(f"could not release: {message}")
        return problems
