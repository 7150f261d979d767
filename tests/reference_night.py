"""One night of the reference firmware for the whole of `make test`: every plan (the weekend's further seeds aside,
the soak half an hour long, three campaign scenarios), plus the plans where a Wi-Fi password is in flight when things
go wrong, with a password in the environment and every report the rig writes.

tests/test_teeth.py judges it (the reference passes every plan); tests/test_secrets.py searches what it wrote for
the password. It runs once per `pytest tests`: under pytest-xdist the first worker to need it runs it in the
directory the workers share and the others wait for its result (a file lock, then a marker file).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "c0rrect h0rse-Battery'staple\\"
"""Spaces, a quote and a backslash: it must survive the console and be caught in its escaped spellings too."""
SECRET_PLAN = "tests/safety_plans/plan_secret_faults.py"
SOAK_HOURS = "0.5"


def spellings(secret: str) -> list[str]:
    """The ways a secret may be written: as is, escaped by repr and JSON, URL-quoted, in base64."""
    return [secret, repr(secret)[1:-1], json.dumps(secret)[1:-1], quote(secret), quote(secret, safe=""),
            base64.b64encode(secret.encode()).decode()]


@dataclass(frozen=True)
class Night:
    reports: Path
    """The run's folder: junit.xml, allure-results/, traces/, run.log, run.json, outcomes.jsonl."""
    output: str


def _run(out: Path) -> str:
    cmd = [sys.executable, "-m", "pytest", "testplans", SECRET_PLAN, "-m", "not weekend", "-q", "-p",
           "no:cacheprovider", "--no-live", f"--soak-hours={SOAK_HOURS}", "--campaign-size=3", "--showlocals",
           "--tb=long", "--log-level=DEBUG", "--plots=failed", f"--alluredir={out / 'allure-results'}",
           f"--junitxml={out / 'junit.xml'}", f"--trace-dir={out / 'traces'}", f"--outcomes={out / 'outcomes.jsonl'}"]
    env = {**os.environ, "RIG_WIFI_PASSWORD": PASSWORD, "RIG_PROBE_DIR": str(out)}
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1200, env=env)
    return proc.stdout + proc.stderr


def reference_night(tmp_path_factory: pytest.TempPathFactory) -> Night:
    """The night, run by whichever test needs it first in this `pytest tests` (see the module)."""
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent
    out = shared / "reference-night"
    out.mkdir(exist_ok=True)
    done, log = out / "done", out / "output.txt"
    try:
        os.close(os.open(out / "lock", os.O_CREAT | os.O_EXCL))
    except FileExistsError:  # another worker runs it: wait for it (a test may wait; rig/ may not)
        deadline = time.monotonic() + 1200
        while not done.exists():
            assert time.monotonic() < deadline, "the reference night did not finish in 20 min"
            time.sleep(0.5)
        return Night(out, log.read_text(encoding="utf-8"))
    try:
        output = _run(out)
        log.write_text(output, encoding="utf-8")
    finally:
        done.write_text("the night has run\n", encoding="utf-8")
    return Night(out, output)
