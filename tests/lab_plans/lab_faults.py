"""A pytest plugin for the runs of tests/test_lab.py (`-p lab_faults`, with tests/lab_plans on PYTHONPATH): it
writes down which rack ran each test, and brings on the faults a lab must survive, in any plan (the gate tier's as
well as tests/lab_plans/plan_small.py).

Every test that uses the `rack` fixture appends one JSON line to `$RIG_LAB_LOG` (test, its group of tests sharing a
network, rack, pid, start, end, and `fault` when it broke its rack or its process), so the outer test can tell which
rack ran what, when, and how often. What the environment can ask for (a test is named by its name, e.g.
`test_two_units[2]`, or by its place in the run: `first-of-largest-group` is the first test of the largest group of
tests sharing a network, ties going to the earlier one; `last-group` the first test of the last group):

- `RIG_LAB_BREAK=<test>`: that test makes its rack unusable, as a rack whose analyzer went away would be: the
  test is broken, and the tests its rack had not started must go to the other racks;
- `RIG_LAB_CRASH=<test>`: the process running that test dies under it;
- `RIG_LAB_AWAIT=<file>::<text>` (with `RIG_LAB_AWAIT_ONLY=<part of a test name>`, default every test): before its
  call, a test waits on the wall clock, up to a minute, until that file holds that text, so that a run is held at
  a known point (a second run waiting, another rack done) rather than for a guessed while.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from rig.fixtures import safety as safety_hooks
from rig.instruments.errors import InstrumentError
from rig.lab.shard import group_key
from rig.rack import Rack

AWAIT_S = 60.0

_chosen: dict[str, str] = {}
"""`first-of-largest-group` / `last-group` -> the node id it names in this run."""
_gave_up: list[bool] = []


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """After the rig's tier selection and ordering: which tests the positions name, and (`$RIG_LAB_COLLECTED`)
    the tests of the run in their order, each with its group: what the run must have run, once each."""
    groups: dict[str, list[pytest.Item]] = {}
    for item in items:
        groups.setdefault(group_key(item), []).append(item)
    collected = os.environ.get("RIG_LAB_COLLECTED")
    if collected:
        text = json.dumps([{"test": item.nodeid, "group": group_key(item)} for item in items])
        tmp = Path(f"{collected}.{os.getpid()}")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, collected)  # every worker collects the same: whichever writes last
    if groups:
        ordered = list(groups.values())
        _chosen["first-of-largest-group"] = max(ordered, key=len)[0].nodeid
        _chosen["last-group"] = ordered[-1][0].nodeid


def _named(item: pytest.Item, variable: str) -> bool:
    wanted = os.environ.get(variable)
    return bool(wanted) and (item.name == wanted or item.nodeid == _chosen.get(wanted or ""))


def _await() -> None:
    """Wait for the text; once it did not come in time, never again in this process (the outer test fails on
    what did not happen, without a minute per test)."""
    spec = os.environ.get("RIG_LAB_AWAIT")
    if not spec or _gave_up:
        return
    path, _, text = spec.partition("::")
    deadline = time.monotonic() + AWAIT_S
    while time.monotonic() < deadline:
        file = Path(path)
        if file.exists() and text in file.read_text(encoding="utf-8", errors="replace"):
            return
        time.sleep(0.1)
    _gave_up.append(True)


def _log(item: pytest.Item, rack: Rack, started: float, fault: str | None = None) -> None:
    line = {"test": item.nodeid, "group": group_key(item), "rack": rack.config.name, "pid": os.getpid(),
            "start": started, "end": time.time()}
    if fault:
        line["fault"] = fault
    with Path(os.environ["RIG_LAB_LOG"]).open("a", encoding="utf-8") as f:
        f.write(json.dumps(line) + "\n")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, Any, Any]:
    rack = getattr(item, "funcargs", {}).get("rack")
    if not isinstance(rack, Rack):
        return (yield)
    if os.environ.get("RIG_LAB_AWAIT_ONLY", "") in item.name:
        _await()
    started = time.time()
    if _named(item, "RIG_LAB_CRASH"):
        _log(item, rack, started, "crash")
        os._exit(3)
    if _named(item, "RIG_LAB_BREAK"):
        exc = InstrumentError("analyzer", "no reply within 0.5 s (the rack's analyzer went away)")
        safety_hooks.mark_rack_unusable(item, rack.config.name, exc)
        _log(item, rack, started, "break")
        raise exc
    try:
        return (yield)
    finally:
        _log(item, rack, started)
