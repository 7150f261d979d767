"""Run several plan runs in one Python process, one `pytest.main` after the other (used by tests/test_teeth.py).

A pytest subprocess spends about two seconds importing the rig before its first test; a faulty model's run
against the one scenario meant to catch it takes well under a second more. Running the faulty models' runs one
after the other in one process pays the import once. Each run is a session of its own (its own options, model,
JUnit XML and trace directory), exactly as `pytest ... --firmware-model=...` on the command line.

    python tests/teeth_batch.py SPEC.json

SPEC.json: a list of {"junit": path, "args": [pytest arguments]}.
"""

from __future__ import annotations

import json
import sys

import pytest


def main(spec_path: str) -> int:
    with open(spec_path, encoding="utf-8") as f:
        runs = json.load(f)
    for run in runs:
        pytest.main([*run["args"], f"--junitxml={run['junit']}"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
