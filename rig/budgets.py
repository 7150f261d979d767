"""The firmware manifest: which build is under test and the timing budgets it is judged by.

Tesla publishes no fallback or settle times, so every unknown timing is a named budget with a documented
default (DESIGN rule 7). A manifest in `firmware_under_test/manifests/` may tighten or loosen any of them for
a build; every report prints the budgets it judged by.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class Budgets(BaseModel):
    """Timing and rounding allowances of the firmware under test, each with why its default is what it is."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fallback_s: float = Field(default=10.0, gt=0)
    """A follower cut off from its leader advertises at most its fair limit this long after the cut.
    No public number exists; 10 s leaves room for a few missed heartbeats."""

    vehicle_response_s: float = Field(default=6.0, ge=0)
    """How long a vehicle may take to follow a lowered pilot. Evidence: some vehicles take about 6 s more
    to reduce current (IEC 61851-1 Table A.6 as implemented by EVerest)."""

    overshoot_s: float = Field(default=3.0, ge=0)
    """How long the measured network current may stay above limit + tolerance while vehicles respond.
    Kept under `vehicle_response_s` so that a leader raising before lowering is caught with lazy vehicles."""

    reallocation_s: float = Field(default=30.0, gt=0)
    """How long the leader may take to share anew after a change (a vehicle arrives, leaves or tapers). A
    leader changes a pilot at most every 5 s (IEC 61851-1) and must lower before it raises, so a change that
    needs a lower, a slow vehicle's response and a raise takes a few of those steps."""

    removal_s: float = Field(default=5.0, gt=0)
    """A removed unit advertises at most 6 A this long after the removal command."""

    reboot_s: float = Field(default=40.0, gt=0)
    """From power back (breaker closed) until a unit offers its configured current again."""

    utilisation_tolerance_a: float = Field(default=10.0, ge=0)
    """How much of the limit a fully demanded network may leave unused once settled. A leader that shares by
    demand keeps a little headroom on vehicles that draw less than offered (2 A on each of five would be 10 A).
    Set per build; a leader that never gives back a finished vehicle's share wastes far more."""

    pilot_tolerance_a: float = Field(default=0.1, ge=0)
    """Pilot measurement and PWM rounding allowance on any advertised current."""


class Manifest(BaseModel):
    """One build under test."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    build: str
    version: str = Field(pattern=r"^\d+\.\d+\.\d+")
    budgets: Budgets = Field(default_factory=Budgets)
    model: str | None = Field(default=None, pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
    """Simulated racks only: the firmware model (`module:Class`) that stands for this build, in place of the
    rack file's [sim] model (`--firmware-model` still wins). Ignored on a real rack, where the units run what
    is flashed and the version check is what ties them to this manifest."""


def load_manifest(path: str | Path) -> Manifest:
    """Read a firmware manifest; a mistake becomes one ValueError line naming the file and key."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        return Manifest.model_validate(data)
    except FileNotFoundError:
        raise ValueError(f"{path}: no such firmware manifest") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: not valid TOML: {exc}") from None
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise ValueError(f"{path}: {loc}: {err['msg']}") from None
