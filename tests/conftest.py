"""Fixtures the driver tests share: a booted simulated world, and simulated instruments served on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from support import SIM6

from firmware_under_test.models.reference import ReferenceFirmware
from rig.config import load_rack
from rig.sim.line_server import LineServer
from rig.sim.world import World


@pytest.fixture
def world() -> World:
    """The sim-6 world, with every unit booted."""
    w = World(load_rack(SIM6), ReferenceFirmware)
    w.advance(10)
    return w


@pytest.fixture
def serve() -> Iterator[Callable[..., LineServer]]:
    """Start a simulated device on a free loopback port; every server started is stopped after the test."""
    servers: list[LineServer] = []

    def start(device: Any, terminator: str = "\n") -> LineServer:
        server = LineServer(device, terminator=terminator).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        try:
            server.stop()
        except OSError:
            pass


HEAVY_FIRST = ["test_reference_night.py", "test_teeth_correct_timing.py", "test_teeth_correct_policy.py",
               "test_lab.py", "test_fault_injection.py", "test_teeth_faulty.py", "test_gate.py", "test_run_record.py",
               "test_sigkill.py"]
"""The files that run whole plans in subprocesses, longest first: `make test` hands files to its two workers in
collection order, so the long ones start at once instead of last."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(HEAVY_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))
