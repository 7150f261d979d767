"""A client of a labgrid coordinator, in this process: what a run asks of the lab (places, reservations, acquiring
and releasing), under the run's own name.

It speaks labgrid's own client session (`labgrid.remote.client.ClientSession`, the one `labgrid-client` and
labgrid's `RemotePlace` use) and the coordinator's gRPC requests through it, each call in a short session of its
own. Why not `labgrid-client` as a subprocess, as this module once did: each call started a Python that imported
labgrid, about 0.3 s of CPU, and a run makes a dozen calls or more (at its start, at its end and while it waits),
which on a CI runner's two cores added seconds to every run and was most of what the lab's own tests cost. The
coordinator sees the same requests either way; a run is named `host/user:pid` as labgrid-client with LG_USERNAME
would name it.

labgrid runs its client on asyncio; here one daemon thread per process runs the event loop, and every call waits
for its answer in the calling thread, where a signal (SIGTERM from a CI job) can still interrupt it.
"""

from __future__ import annotations

import asyncio
import getpass
import logging
import os
import socket
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeVar

_T = TypeVar("_T")

POLL_S = 1.0
"""How often a waiting run asks whether its reservations got a place (labgrid-client's own `wait` polls as often);
each poll also keeps the reservations from expiring."""


class LabError(RuntimeError):
    """The coordinator cannot give the run its racks (unreachable, a place without a rack file, a refusal).
    The message is one line naming the place, reservation or request."""


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
    owner: str = ""
    """`host/user` of the run that made it."""


THREAD = "rig-lab-client"

_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()


class _SessionLog(logging.Filter):
    """labgrid's client logs why a session ended (the coordinator unreachable...) on the root logger; the rig says
    it in its own one-line error instead, so the record is kept here rather than printed."""

    def __init__(self) -> None:
        super().__init__()
        self.last = ""

    def filter(self, record: logging.LogRecord) -> bool:
        ours = record.threadName == THREAD and Path(record.pathname).parts[-3:] == ("labgrid", "remote", "client.py")
        if ours:
            self.last = record.getMessage()
        return not ours


_session_log = _SessionLog()


def _event_loop() -> asyncio.AbstractEventLoop:
    """The process's event loop for labgrid's client, running in a daemon thread (started on first use)."""
    global _loop
    with _loop_lock:
        if _loop is None:
            logging.getLogger().addFilter(_session_log)
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name=THREAD, daemon=True).start()
            _loop = loop
        return _loop


def _labgrid() -> SimpleNamespace:
    """What this module uses of labgrid (imported on first use: only a lab run needs it)."""
    try:
        import grpc
        from labgrid.remote.client import ClientSession, Error
        from labgrid.remote.common import ReservationState
        from labgrid.remote.generated import labgrid_coordinator_pb2
        from labgrid.util.proxy import proxymanager
    except ImportError:
        raise LabError("labgrid is not installed: install the rig with its `lab` extra (pip install -e '.[lab]')") \
            from None
    return SimpleNamespace(grpc=grpc, ClientSession=ClientSession, Error=Error, ReservationState=ReservationState,
                           pb2=labgrid_coordinator_pb2, proxymanager=proxymanager)


class LabClient:
    """One run's client of one coordinator, acting under the run's name."""

    def __init__(self, coordinator: str, user: str | None = None, timeout_s: float = 60.0) -> None:
        self.coordinator = coordinator
        self.user = user or f"{getpass.getuser()}:{os.getpid()}"
        self.host = socket.gethostname()
        self.timeout_s = timeout_s

    @property
    def owner(self) -> str:
        """How the coordinator names this run: `host/user:pid`."""
        return f"{self.host}/{self.user}"

    # -- calling the coordinator -----------------------------------------------------------------------------

    def _call(self, what: str, work: Callable[[Any], Awaitable[_T]], timeout_s: float | None = -1.0) -> _T:
        """Run `work(session)` in a session of this run's own; a refusal or no answer is a one-line LabError
        naming `what`. `timeout_s` None: as long as it takes (a wait, which a signal ends)."""
        lg = _labgrid()
        host, user = self.host, self.user
        address = lg.proxymanager.get_grpc_address(self.coordinator, default_port=20408)

        async def session_work() -> _T:
            session = lg.ClientSession(address, asyncio.get_running_loop())
            session.gethostname = lambda: host  # the run's name, as LG_HOSTNAME/LG_USERNAME give it to labgrid-client
            session.getuser = lambda: user
            try:
                await session.start()
                return await work(session)
            finally:
                if session.pump_task is not None:
                    await session.stop()
                await session.close()

        limit = self.timeout_s if timeout_s is not None and timeout_s < 0 else timeout_s
        loop = _event_loop()
        _session_log.last = ""
        future: Future[_T] = asyncio.run_coroutine_threadsafe(session_work(), loop)
        try:
            while True:
                try:
                    return future.result(timeout=limit if limit is not None else POLL_S)
                except TimeoutError:
                    if limit is not None:
                        raise LabError(f"{what}: no answer from the coordinator {self.coordinator} within "
                                       f"{limit:g} s") from None
        except lg.grpc.aio.AioRpcError as exc:
            raise LabError(f"{what} (coordinator {self.coordinator}): {exc.details() or exc.code().name}") from None
        except lg.Error as exc:
            why = _session_log.last or " ".join(map(str, exc.args))
            raise LabError(f"{what} (coordinator {self.coordinator}): {' '.join(why.split())}") from None
        finally:
            future.cancel()  # an interrupted call stops here (it has nothing to undo: the run's release follows)

    @staticmethod
    def _pb2() -> Any:
        return _labgrid().pb2

    # -- what the coordinator knows ------------------------------------------------------------------------

    def places(self) -> dict[str, Place]:
        async def work(session: Any) -> dict[str, Place]:
            return {name: Place(name, dict(p.tags), p.acquired or None) for name, p in session.places.items()}

        return self._call("listing the places", work)

    def reservations(self) -> dict[str, Reservation]:
        pb2 = self._pb2()

        async def work(session: Any) -> dict[str, Reservation]:
            response = await session.stub.GetReservations(pb2.GetReservationsRequest())
            return dict(_reservation(r) for r in response.reservations)

        return self._call("listing the reservations", work)

    # -- what a run does -------------------------------------------------------------------------------------

    def reserve(self, tags: dict[str, str]) -> Reservation:
        """A reservation of one place whose tags match (labgrid allocates one at once when one is free)."""
        pb2 = self._pb2()
        request = pb2.CreateReservationRequest(filters={"main": pb2.Reservation.Filter(filter=tags)}, prio=0.0)

        async def work(session: Any) -> Reservation:
            return _reservation((await session.stub.CreateReservation(request)).reservation)[1]

        return self._call(f"reserving a place with tags {_tags(tags)}", work)

    def wait_for_any(self, tokens: list[str]) -> None:
        """Until one of the reservations is no longer waiting, however long it takes (a signal ends the wait)."""
        pb2 = self._pb2()

        async def work(session: Any) -> None:
            while True:
                for token in tokens:
                    response = await session.stub.PollReservation(pb2.PollReservationRequest(token=token))
                    if _reservation(response.reservation)[1].state != "waiting":
                        return
                await asyncio.sleep(POLL_S)

        self._call(f"waiting for reservation(s) {', '.join(tokens)}", work, timeout_s=None)

    def acquire(self, place: str) -> None:
        """Acquire the place: the lock (the coordinator refuses a place acquired, or reserved for another)."""
        request = self._pb2().AcquirePlaceRequest(placename=place)
        self._call(f"acquiring place {place}", lambda session: session.stub.AcquirePlace(request))

    def release(self, place: str) -> None:
        request = self._pb2().ReleasePlaceRequest(placename=place)
        self._call(f"releasing place {place}", lambda session: session.stub.ReleasePlace(request))

    def release_from(self, place: str, owner: str) -> None:
        """Release a place only if `owner` still holds it (the coordinator checks, atomically)."""
        request = self._pb2().ReleasePlaceRequest(placename=place, fromuser=owner)
        self._call(f"releasing place {place} from {owner}", lambda session: session.stub.ReleasePlace(request))

    def cancel(self, token: str) -> None:
        request = self._pb2().CancelReservationRequest(token=token)
        self._call(f"cancelling reservation {token}", lambda session: session.stub.CancelReservation(request))

    # -- what a lab sets up once ---------------------------------------------------------------------------

    def create_place(self, name: str, tags: dict[str, str]) -> None:
        """A new place for a rack, with its tags (the tag `rack` names its rack file)."""
        pb2 = self._pb2()

        async def work(session: Any) -> None:
            await session.stub.AddPlace(pb2.AddPlaceRequest(name=name))
            await session.stub.SetPlaceTags(pb2.SetPlaceTagsRequest(placename=name, tags=tags))

        self._call(f"creating place {name}", work)


def _reservation(pb2: Any) -> tuple[str, Reservation]:
    allocated = list(pb2.allocations.values())
    state = _labgrid().ReservationState(pb2.state).name
    return pb2.token, Reservation(pb2.token, state, allocated[0] if allocated else None, pb2.owner)


def _tags(tags: dict[str, str]) -> str:
    return " ".join(f"{k}={v}" for k, v in tags.items()) or "(any)"
