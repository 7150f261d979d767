"""Plans for tests/test_secrets.py (not collected by `pytest tests`): the ways a Wi-Fi password could escape
into a report when something goes wrong while it is in flight.

- the leader's console goes silent on `gpm pair` (a rig fault: the pytest traceback shows the driver's
  arguments, the command line with the password among them);
- the firmware echoes the command line in its refusal (a failed test whose message carries the reply);
- a careless plan prints the password (captured stdout goes to JUnit and Allure).
"""

from __future__ import annotations

import logging
import os

import pytest

from rig.rack import Rack


class _Wrap:
    def __init__(self, device: object, reply: object) -> None:
        self.device = device
        self.reply = reply

    def handle(self, line: str) -> str | None:
        if line.startswith("gpm pair"):
            return self.reply(line)  # type: ignore[operator]
        return self.device.handle(line)  # type: ignore[attr-defined]


def wrap_console(rack: Rack, request: pytest.FixtureRequest, reply: object) -> None:
    """wc1's console answers `gpm pair` with `reply(line)` for this test; the run's rack serves the next test, so
    the console is given back as it was when the test ends."""
    server = rack.sim.servers[rack.units["wc1"].console]
    device = server.device
    server.device = _Wrap(device, reply)
    request.addfinalizer(lambda: setattr(server, "device", device))


def test_console_goes_silent_while_pairing(rack: Rack, request: pytest.FixtureRequest) -> None:
    wrap_console(rack, request, lambda line: None)
    rack.commission("wc1", ["wc2"], 60)


def test_firmware_echoes_the_password_in_its_refusal(rack: Rack, request: pytest.FixtureRequest) -> None:
    wrap_console(rack, request, lambda line: f"ERR cannot join with {line}\r\nwc> ")
    rack.commission("wc1", ["wc2"], 60)


def test_a_careless_plan_prints_and_logs_the_password(rack: Rack) -> None:
    password = os.environ["RIG_WIFI_PASSWORD"]
    print(f"pairing with {password}")
    logging.getLogger("plan").error("pairing with %s", password)
    pytest.fail(f"cannot pair with {password}")
