"""A simulated operator: answers the rig's operator requests on a simulated rack, as an installer at the rack would.

It looks at the request directory (where the rig writes `request.json`, rig/commissioning/channels.py) as world
time passes, does what the request asks to the simulated units, one step after the other, each when the units are
ready for it (a unit that was reset has rebooted; the leader that was paired lists every follower), and then
confirms through the channel the request names: it writes the confirmation file, or POSTs to the confirmation
URL. So the rig's own operator path (the request, the wait, the confirmation, the read-only verification after
it) runs on every simulated night that asks for it, and the same seed gives the same night.

What the operator does in the app (Tesla One or the wizard) is done here through each unit's commissioning
interface, the `gpm` lines a simulated unit answers (rig/sim/firmware_api.py): the app's effect on the units, not
the rig's console driver, which an operator-commissioned rack does not have.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rig.secrets import wifi_password

PATIENCE_S = 300.0
"""World seconds the operator waits for a unit to be ready for the next step before giving up (and saying so)."""


class OperatorStandIn:
    """A world actor (World.actors): `act()` runs every firmware tick of world time."""

    def __init__(self, world: Any, directory: Path) -> None:
        self.world = world
        self.directory = Path(directory)
        self.answered = 0
        self._done: set[str] = set()
        self._job: Iterator[None] | None = None
        self._request: dict[str, Any] | None = None

    def start(self) -> OperatorStandIn:
        self.world.actors.append(self)
        return self

    def stop(self) -> None:
        if self in self.world.actors:
            self.world.actors.remove(self)

    # -- the world calls this ----------------------------------------------------------------------------------

    def act(self, now: float) -> None:
        if self._job is None:
            request = self._read()
            if request is None:
                return
            self._request = request
            self._job = self._steps(request, now)
        assert self._request is not None
        try:
            next(self._job)
        except StopIteration:
            self._finish("confirm", "")
        except Exception as exc:  # an operator who cannot do the steps says so rather than confirm
            self._finish("abort", f"{type(exc).__name__}: {exc}")

    def _read(self) -> dict[str, Any] | None:
        try:
            request = json.loads((self.directory / "request.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        rid = request.get("id")
        if not rid or rid in self._done:
            return None
        self._done.add(rid)
        return request

    def _finish(self, verb: str, why: str) -> None:
        request, self._request, self._job = self._request, None, None
        assert request is not None
        self._confirm(request, verb, why)
        self.answered += 1

    # -- what the operator does ---------------------------------------------------------------------------------

    def _say(self, unit: str, line: str) -> str:
        reply = self.world.console(unit, line)
        if not reply.startswith("OK"):
            raise RuntimeError(f"{unit} refused {line.split()[1]!r} in the app: {reply or 'no answer'}")
        return reply

    def _status(self, unit: str) -> str:
        return self.world.console(unit, "gpm status") if self.world.units[unit].running else ""

    def _until(self, ready: Any, what: str) -> Iterator[None]:
        """Wait (tick by tick of world time) until `ready()`, as an operator waits for the app."""
        start = self.world.now
        while not ready():
            if self.world.now - start > PATIENCE_S:
                raise RuntimeError(f"{what}: not after {PATIENCE_S:g} s")
            yield

    def _steps(self, request: dict[str, Any], now: float) -> Iterator[None]:
        units = self.world.units
        if request.get("kind") == "reach":
            targets = list(request["units"])
        else:
            targets = [u for u in units if units[u].running and "role=standalone" not in self._status(u)]
        rebooted = {u: False for u in targets}
        for unit in targets:
            self._say(unit, "gpm reset")

        def all_back() -> bool:
            for u in targets:
                if not units[u].running:
                    rebooted[u] = True
            return all(rebooted[u] and "role=standalone" in self._status(u) for u in targets)

        yield from self._until(all_back, "units back after being removed from their networks")
        if request.get("kind") == "reach":
            return
        net = request["network"]
        members = [net["leader"], *net["followers"]]
        for unit in members:
            self._say(unit, f"gpm output {net['outputs'].get(unit, units[unit].capability_a):g}")
        leader = net["leader"]
        if net["followers"]:
            for f in net["followers"]:
                # the operator holds each follower's handle button; the app hands the leader its Wi-Fi key
                self._say(leader, f"gpm pair {f} {wifi_password(f, simulated=True)}")
            self._say(leader, f"gpm form {','.join(net['followers'])}")
            down = [False]

            def formed() -> bool:
                if not units[leader].running:
                    down[0] = True
                    return False
                online = dict(w.split("=", 1) for w in self._status(leader).split() if "=" in w).get("online", "")
                return down[0] and set(net["followers"]) <= set(filter(None, online.split(",")))

            yield from self._until(formed, f"{leader} back from pairing with every follower online")
        self._say(leader, f"gpm limit {net['limit']:g}")
        self._say(leader, f"gpm enable {int(bool(net['enabled']))}")

    def _confirm(self, request: dict[str, Any], verb: str, why: str) -> None:
        how = str(request.get("confirm", ""))
        rid = request["id"]
        if how.startswith("curl"):
            url = how.split()[-1].replace("/confirm/", f"/{verb}/")
            req = urllib.request.Request(url, data=why.encode(), method="POST")
            with urllib.request.urlopen(req, timeout=5):
                pass
        else:
            path = Path(how.split(">", 1)[1].strip())
            tmp = path.with_name(".confirm.tmp")
            tmp.write_text(f"{rid} abort {why}\n" if verb == "abort" else f"{rid}\n", encoding="utf-8")
            tmp.replace(path)
