"""A plan for tests/test_sigkill.py (not collected by `pytest tests`): a test that never opens the rack and is
skipped (pytest's "s" on the progress line), run before one that does.
"""

from __future__ import annotations

import pytest


def test_skipped_without_the_rack() -> None:
    pytest.skip("not a rack test")
