"""Correct firmware that shares by another policy, or has an 8-bit PWM, passes the plans where it differs from the
reference (tests/teeth.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from teeth import CORRECT, assert_correct_passes

MODELS = ["correct:EightBitPwm", "alternatives:ProportionalSharing", "alternatives:FirstComeFirstServed",
          "alternatives:StrictQueue"]


@pytest.mark.parametrize("model", MODELS)
def test_a_correct_firmware_passes(tmp_path: Path, model: str) -> None:
    assert_correct_passes(tmp_path, model)


def test_make_sweep_runs_every_correct_model() -> None:
    """`make sweep` runs the whole nightly tier against the correct models; its list is the one the teeth use."""
    makefile = (Path(__file__).parents[1] / "Makefile").read_text()
    start = makefile.index("CORRECT_MODELS ?=")
    listed = makefile[start:makefile.index("\nsweep:", start)].replace("\\\n", " ").split("?=", 1)[1].split()
    assert sorted(listed) == sorted(CORRECT)
