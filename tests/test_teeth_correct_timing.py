"""Correct firmware that reacts slowly or eagerly within every budget, or rounds its PWM to whole amps, passes the
plans where it differs from the reference (tests/teeth.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from teeth import assert_correct_passes

MODELS = ["correct:SlowButInBudget", "correct:EagerFallback", "correct:WholeAmpsDown"]


@pytest.mark.parametrize("model", MODELS)
def test_a_correct_firmware_passes(tmp_path: Path, model: str) -> None:
    assert_correct_passes(tmp_path, model)
