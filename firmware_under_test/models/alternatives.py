"""Correct firmware models that share by another policy than the reference.

The checks judge promises, not a policy: these must pass every plan, as the reference does. `make test` runs
the plans against each.
"""

from __future__ import annotations

from firmware_under_test.models.reference import MIN_OFFER, Peer, ReferenceFirmware


class ProportionalSharing(ReferenceFirmware):
    """Each vehicle is first given what it wants up to an equal share of the limit; what is left goes to the vehicles
    that want more, in proportion to how much more each wants.

    The equal share comes first because a vehicle's want is an estimate: one that has not yet shown its ceiling is
    taken to want all it can get, and a split in proportion to such estimates alone starves the vehicles whose
    ceiling is known while demand is under the limit (the promise "shared by what each vehicle draws")."""

    def _share(self, available: float, active: list[Peer], now: float) -> dict[str, float | None]:
        served, targets = self._floors(available, active)
        if not served:
            return targets
        want = {p.name: max(MIN_OFFER, min(self._want(p, now), p.cap)) for p in served}
        equal = available / len(served)
        give = {n: min(w, equal) for n, w in want.items()}
        left = available - sum(give.values())
        hungry = {n for n in give if want[n] > give[n] + 1e-9}
        while left > 1e-6 and hungry:
            extra = {n: want[n] - give[n] for n in hungry}
            total = sum(extra.values())
            spent = 0.0
            for n in list(hungry):
                add = min(left * extra[n] / total, want[n] - give[n])
                give[n] += add
                spent += add
                if want[n] - give[n] <= 1e-9:
                    hungry.discard(n)
            left -= spent
            if spent <= 1e-9:
                break
        targets.update(give)
        return targets


class FirstComeFirstServed(ReferenceFirmware):
    """Above the 6 A floors, vehicles are served in the order they started charging, each up to what it wants."""

    def _share(self, available: float, active: list[Peer], now: float) -> dict[str, float | None]:
        arrived = self.__dict__.setdefault("_arrived", {})
        for p in active:
            arrived.setdefault(p.name, now)
        for name in list(arrived):
            if name not in {p.name for p in active}:
                del arrived[name]
        order = sorted(active, key=lambda p: (arrived[p.name], p.name))
        served, targets = self._floors(available, order)
        left = available - MIN_OFFER * len(served)
        for p in served:
            want = max(MIN_OFFER, min(self._want(p, now), p.cap))
            extra = min(left, want - MIN_OFFER)
            targets[p.name] = MIN_OFFER + extra
            left -= extra
        return targets


class StrictQueue(ReferenceFirmware):
    """Vehicles are served one after the other in the order they started charging, each up to what it wants; a
    later vehicle waits with no offer until 6 A are left for it. No 6 A floor for every waiting vehicle: the seeds
    promise none (see the policy option `policy_every_waiting_vehicle_6a`)."""

    def _share(self, available: float, active: list[Peer], now: float) -> dict[str, float | None]:
        arrived = self.__dict__.setdefault("_arrived", {})
        names = {p.name for p in active}
        for p in active:
            arrived.setdefault(p.name, now)
        for name in list(arrived):
            if name not in names:
                del arrived[name]
        targets: dict[str, float | None] = {}
        left = available
        for p in sorted(active, key=lambda p: (arrived[p.name], p.name)):
            give = min(max(MIN_OFFER, min(self._want(p, now), p.cap)), left)
            targets[p.name] = give if give >= MIN_OFFER - 1e-9 else None
            left -= targets[p.name] or 0.0
        return targets
