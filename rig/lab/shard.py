"""How a night is split over the racks one run holds: one pytest-xdist worker per rack, fed by this scheduler.

Why xdist workers rather than one CI job per rack with a fixed split: the racks are handed work as they free up,
so a split needs no rack-time estimate and stays balanced when racks differ or one is lost; one controller holds
every rack's reservation and releases them all on every way out; a rack that breaks gives its remaining tests to
the others within the same run, which a fixed split across CI jobs cannot do without a shared queue; and one
controller writes the night's JUnit, Allure environment and outcomes, so there is nothing to merge.

What the scheduler guarantees:

- **Every test runs once.** A test goes to exactly one rack. A test whose rack breaks under it is reported
  broken (an error) and never re-run; the tests that rack had not started go back to the queue.
- **Tests that share a network configuration run on one rack, in order.** Tests are grouped by `group_key`: the
  arguments of their `network` marker (the network they commission), else their module. A group is handed out
  whole, in collection order, and runs on one rack in collection order, so a rack commissions a network once
  for all the tests that share it. (A marker-based selection of tests, such as a tier, only changes what is
  collected and so needs nothing here.)
- **A rack that breaks hands its tests on.** When a worker reports that its rack became unusable
  (`retire`), the tests it had not started are queued again, at the front, for the other racks; the worker
  runs nothing more and is shut down. xdist's own LoadScopeScheduling would re-queue the test that was running
  as well (it would run twice) and LoadScheduling splits groups, hence a scheduler of our own.
- **When no worker can take queued tests** (the rack broke at the end of the night, when the others had
  been told to finish), the plugin starts a worker on a rack that has finished (`needs_rack`).
- **A worker that crashes** (the process dies) is handled as xdist does: its running test is reported (broken,
  by the plugin), its other tests are queued again, and xdist starts a new worker on the same rack.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import pytest


def group_key(item: pytest.Item) -> str:
    """Which tests must share a rack, in order: those that need the same network (rig/fixtures/networks.py), else
    those of one module."""
    from rig.fixtures import networks

    key = networks.group_key(item)
    return key if key != "no-network" else item.nodeid.split("::", 1)[0]


def groups_in_order(collection: Sequence[str], keys: Sequence[str]) -> list[list[int]]:
    """Collection indices grouped by key; groups in the order of their first test, tests in collection order."""
    groups: dict[str, list[int]] = {}
    for index, key in enumerate(keys):
        groups.setdefault(key, []).append(index)
    return list(groups.values())


class RackScheduling:
    """An xdist scheduler (xdist.scheduler.protocol.Scheduling) for workers that each own one rack."""

    def __init__(self, numnodes: int, keys_of: Callable[[Any, list[str]], list[str]]) -> None:
        self.numnodes = numnodes
        self.keys_of = keys_of
        """Given a node and its collection, the group key of each test (the worker wrote them down)."""
        self.node2collection: dict[Any, list[str]] = {}
        self.node2pending: dict[Any, list[int]] = {}
        self.queue: deque[list[int]] = deque()
        self.collection: list[str] | None = None
        self.retired: set[Any] = set()
        self.scheduled = False

    # -- the protocol ---------------------------------------------------------------------------------------

    @property
    def nodes(self) -> list[Any]:
        return list(self.node2pending)

    @property
    def collection_is_completed(self) -> bool:
        return self.scheduled or len(self.node2collection) >= self.numnodes

    @property
    def tests_finished(self) -> bool:
        if not self.collection_is_completed or self.queue:
            return False
        # a worker runs the last test it holds only once told there is nothing more (it needs the next one first)
        return all(len(p) < 2 for n, p in self.node2pending.items() if n not in self.retired)

    @property
    def has_pending(self) -> bool:
        return bool(self.queue) or any(self.node2pending.values())

    def add_node(self, node: Any) -> None:
        assert node not in self.node2pending
        self.node2pending[node] = []

    def add_node_collection(self, node: Any, collection: Sequence[str]) -> None:
        assert node in self.node2pending
        if self.collection is not None and list(collection) != self.collection:
            raise pytest.UsageError(f"worker {node.gateway.id} collected other tests than the first worker: "
                                    "the racks must run the same plans")
        self.node2collection[node] = list(collection)

    def schedule(self) -> None:
        """Called when every worker has collected (and again when a replacement worker has)."""
        if not self.scheduled:
            first = next(iter(self.node2collection))
            self.collection = self.node2collection[first]
            keys = self.keys_of(first, self.collection)
            self.queue.extend(groups_in_order(self.collection, keys))
            self.scheduled = True
        for node in list(self.node2pending):
            self._feed(node)

    def mark_test_complete(self, node: Any, item_index: int, duration: float = 0) -> None:
        pending = self.node2pending.get(node)
        if pending is None or item_index not in pending:
            return  # a test a retired worker was told to leave: it was queued for another rack
        pending.remove(item_index)
        self._feed(node)

    def mark_test_pending(self, item: str) -> None:
        assert self.collection is not None
        self.queue.appendleft([self.collection.index(item)])
        self._feed_all()

    def remove_pending_tests_from_node(self, node: Any, indices: Sequence[int]) -> None:
        pending = self.node2pending[node]
        taken = [i for i in pending if i in set(indices)]
        for i in taken:
            pending.remove(i)
        if taken:
            self.queue.appendleft(taken)
            self._feed_all()

    def remove_node(self, node: Any) -> str | None:
        """The worker is gone: at the end, or crashed. A crash's running test is returned (it is reported, not
        re-run); the tests it had not started go back to the front of the queue."""
        pending = self.node2pending.pop(node)
        self.retired.discard(node)
        if not pending:
            return None
        assert self.collection is not None
        crashed, rest = pending[0], pending[1:]
        if rest:
            self.queue.appendleft(rest)
        self._feed_all()
        return self.collection[crashed]

    # -- racks that break -----------------------------------------------------------------------------------

    def retire(self, node: Any, running: str | None) -> list[str]:
        """The node's rack became unusable while it ran `running`: the tests after it go back to the front of
        the queue for the other racks; the node is told to stop. Returns the node ids handed on."""
        pending = self.node2pending.get(node)
        if pending is None or node in self.retired:
            return []
        assert self.collection is not None
        self.retired.add(node)
        keep: list[int] = []
        if running is not None and running in self.collection:
            index = self.collection.index(running)
            if index in pending:
                keep = [index]
        handed = [i for i in pending if i not in keep]
        self.node2pending[node] = keep
        if handed:
            self.queue.appendleft(handed)
        node.shutdown()
        self._feed_all()
        return [self.collection[i] for i in handed]

    def take_orphans(self) -> list[str]:
        """The queued tests, removed from the queue (no rack is left to run them)."""
        assert self.collection is not None or not self.queue
        orphans = [self.collection[i] for group in self.queue for i in group] if self.collection else []
        self.queue.clear()
        return orphans

    @property
    def needs_rack(self) -> bool:
        """Tests are queued and no worker can take them (the others broke, or were told to finish): the plugin
        starts a worker on a free rack, or reports them as not run when no usable rack is left."""
        able = [n for n in self.node2pending if n not in self.retired and not n.shutting_down]
        return self.scheduled and bool(self.queue) and not able

    def _feed_all(self) -> None:
        for node in list(self.node2pending):
            self._feed(node)

    def _feed(self, node: Any) -> None:
        """Give the node its next group when it is down to its last test (a worker needs the next test before it
        runs one); with nothing left to give, let it finish."""
        if not self.scheduled or node in self.retired or node.shutting_down:
            return
        pending = self.node2pending[node]
        while len(pending) < 2 and self.queue:
            group = self.queue.popleft()
            pending.extend(group)
            node.send_runtest_some(group)
        if len(pending) < 2 and not self.queue:
            node.shutdown()
