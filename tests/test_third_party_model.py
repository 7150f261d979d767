"""A firmware model written by someone else, against the documented interface only, runs when a rack file names it.

The model below imports nothing of the rig: it is written from the docstring of `rig/sim/firmware_api.py` alone
(a board, `tick`, `on_message`, `on_console` and the `gpm` console commands). It shares the limit in equal parts
among the network's members, which keeps every promise a simple way. A copy of the simulated rack file names it,
and real plans run against it in a subprocess, as an engineer would run them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

ACME_MODEL = '''
class EqualShares:
    """Someone else's firmware: every member gets limit / size, always; a lost follower keeps that too."""

    firmware_version = "99.1.0"

    def __init__(self, board):
        self.board = board
        self.nv = board.nvram
        self.heard = {}
        self.leader_heard = board.now()
        self.reboot_at = None
        board.set_pilot(None)
        board.set_contactor(False)

    def _offer(self, amps):
        if self.board.pilot_state() == "A" or amps is None or amps < 6:
            amps = None
        else:
            amps = min(amps, self.board.capability_a)
        self.board.set_pilot(amps)
        self.board.set_contactor(amps is not None and self.board.pilot_state() == "C")

    def _share(self):
        size = 1 + len(self.nv.get("followers", [])) if self.nv.get("role") == "leader" else self.nv.get("size", 1)
        return int(self.nv.get("limit", 0) / size * 10) / 10 if self.nv.get("enabled") else None

    def tick(self):
        now = self.board.now()
        if self.reboot_at is not None and now >= self.reboot_at:
            self.reboot_at = None
            self.board.reboot()
            return
        role = self.nv.get("role", "standalone")
        if role == "leader":
            for f in self.nv["followers"]:
                self.board.send(f, {"kind": "share", "size": 1 + len(self.nv["followers"]),
                                    "limit": self.nv["limit"], "enabled": self.nv["enabled"]})
            self._offer(self._share())
        elif role == "follower":
            self.board.send(self.nv["leader"], {"kind": "hello"})
            self._offer(self._share())
        else:
            self._offer(self.board.capability_a)

    def on_message(self, sender, message):
        if message.get("kind") == "pair":
            self.nv.update(role="follower", leader=sender, size=message["size"], limit=message["limit"],
                           enabled=False)
        elif message.get("kind") == "share" and sender == self.nv.get("leader"):
            self.nv.update(size=message["size"], limit=message["limit"], enabled=message["enabled"])
        elif message.get("kind") == "hello":
            self.heard[sender] = self.board.now()

    def on_console(self, line):
        words = line.split()
        if words[:2] == ["gpm", "status"]:
            role = self.nv.get("role", "standalone")
            now = self.board.now()
            online = ",".join(f for f in self.nv.get("followers", []) if now - self.heard.get(f, -99) < 3)
            return f"role={role} online={online}"
        if words[:2] == ["gpm", "pair"] and len(words) == 4:
            self.passwords = {**getattr(self, "passwords", {}), words[2]: words[3]}
            return "OK"
        if words[:2] == ["gpm", "reset"]:
            self.nv.clear()
            self.reboot_at = self.board.now() + 1
            return "OK rebooting"
        if words[:2] == ["gpm", "form"] and len(words) == 3:
            followers = words[2].split(",")
            size = 1 + len(followers)
            self.nv.update(role="leader", followers=followers, limit=6.0 * size, enabled=False)
            for f in followers:
                self.board.send(f, {"kind": "pair", "size": size, "limit": 6.0 * size})
            self.reboot_at = self.board.now() + 1
            return "OK rebooting"
        if words[:2] == ["gpm", "limit"] and len(words) == 3:
            size = 1 + len(self.nv.get("followers", []))
            limit = float(words[2])
            if not 6 * size <= limit <= 48 * size - 1:
                return "ERR out of range"
            self.nv["limit"] = limit
            return "OK"
        if words[:2] == ["gpm", "enable"] and len(words) == 3:
            self.nv["enabled"] = words[2] == "1"
            return "OK"
        return "ERR unknown command"
'''


def test_someone_elses_model_runs_when_a_rack_file_names_it(tmp_path: Path) -> None:
    (tmp_path / "acme_firmware.py").write_text(ACME_MODEL)
    rack = (ROOT / "racks" / "sim-6.toml").read_text()
    model_line = 'model = "firmware_under_test.models.reference:ReferenceFirmware"'
    assert model_line in rack
    rack_file = tmp_path / "acme.toml"
    rack_file.write_text(rack.replace(model_line, 'model = "acme_firmware:EqualShares"'))
    junit = tmp_path / "junit.xml"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:allure_pytest", f"--rack={rack_file}",
         f"--junitxml={junit}", f"--trace-dir={tmp_path / 'traces'}",
         "testplans/test_firmware_requirements.py", "testplans/test_network_limit.py"],
        cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert junit.exists(), proc.stdout[-2000:] + proc.stderr[-2000:]
    cases = list(ET.parse(junit).getroot().iter("testcase"))
    assert len(cases) >= 19
    broken = [c.get("name") for c in cases if c.find("error") is not None]
    failed = [c.get("name") for c in cases if c.find("failure") is not None]
    assert not broken and not failed, proc.stdout[-3000:]
    traces = list((tmp_path / "traces").glob("*.jsonl"))
    assert traces and all('"99.1.0"' in t.read_text() for t in traces), "the units did not run the named model"
