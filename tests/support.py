"""Small helpers several of the rig's own tests share."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIM6 = ROOT / "racks" / "sim-6.toml"


def one_line(exc: BaseException) -> str:
    """The error's message, asserted to be one line, as every error the rig shows a user must be."""
    text = str(exc)
    assert "\n" not in text and "\r" not in text, text
    return text
