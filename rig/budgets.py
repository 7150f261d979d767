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
    """Timing and rounding allowances of the firmware under test, each with why its default is what it is.

    Three kinds live here. Timing budgets (`*_s`): how long the firmware may take, none of them published by
    Tesla, each argued below. Tolerances (`*_a`, `*_pct`), each saying what it is for: a tight one for safety
    upper bounds, one the size of a real PWM's resolution for lower bounds. Policy options (`policy_*`): habits
    of one way of sharing that the seeds do not promise, off by default, each with the seed's own wording
    beside it; a lab that holds a build to one of them switches it on in that build's manifest.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    # -- falling back -------------------------------------------------------------------------------------

    fallback_s: float = Field(default=10.0, gt=0)
    """A unit cut off from its leader advertises at most its fair limit this long after the cut. No public
    number exists; 10 s leaves room for a few missed once-a-second heartbeats. Until then it may keep what it
    had been given, never more."""

    vehicle_response_s: float = Field(default=6.0, ge=0)
    """How long a vehicle may take to follow a lowered pilot. Evidence: some vehicles take about 6 s more
    to reduce current (IEC 61851-1 Table A.6 as implemented by EVerest)."""

    # -- the network limit, judged as the panel breaker would -----------------------------------------------

    overshoot_s: float = Field(default=3.0, ge=0)
    """The longest one excursion of the measured network current above limit + tolerance may last. Kept under
    `vehicle_response_s`, so a leader that raises one unit before the lowered vehicles came down is caught
    even with lazy vehicles."""

    overshoot_peak_pct: float = Field(default=10.0, ge=0)
    """How far above the limit (percent of the limit, beyond the measurement tolerance) an excursion may
    rise. The limit is a continuous current (seed 000); a feeder sized for it as a continuous load has a
    breaker of 125 % of it (NEC 625.41), so 10 % keeps a short excursion well inside the breaker's own rating
    even where the breaker is derated for a warm panel. A leader raising before lowering overshoots by 30-47 %."""

    overshoot_window_s: float = Field(default=600.0, gt=0)
    """The memory of a panel breaker's thermal element: overshoot is added up over any window this long.
    A thermal-magnetic breaker's bimetal heats and cools over minutes (IEC 60898-1 sets its conventional
    tripping time at one hour for 1.45 In, and 1-60 s at 2.55 In)."""

    overshoot_area_s: float = Field(default=0.3, ge=0)
    """Accumulated overshoot allowed within any `overshoot_window_s`, in amp-seconds per amp of limit:
    0.3 s is one full-size excursion (10 % of the limit for 3 s), so a 40 A network may add up 12 A*s in ten
    minutes. A panel breaker forgives one short excursion, not a series of them."""

    overshoot_count: int = Field(default=2, ge=0)
    """How many separate excursions may start within any `overshoot_window_s`: one short excursion and its
    echo are forgiven, a series is a defect whatever the size of each."""

    # -- safety reductions: each its own short budget ---------------------------------------------------

    limit_lowered_s: float = Field(default=10.0, gt=0)
    """After the limit is lowered (or a unit's own maximum output), the pilots fit the new limit this long
    after the command. A lowering reaches a unit through one control period (the leader allocates about once
    a second), a Wi-Fi hop and, for a unit that changed its PWM less than 5 s before, the wait IEC 61851-1
    asks between PWM changes (5 s as EVerest implements it): about 7 s; 10 s leaves room for a lost message.
    The measured current follows `vehicle_response_s` later."""

    disabled_s: float = Field(default=10.0, gt=0)
    """After Power Sharing is disabled, no unit advertises a pilot this long after the command: the same
    path as a lowered limit (control period, Wi-Fi hop, PWM change wait)."""

    removal_s: float = Field(default=10.0, gt=0)
    """A removed unit advertises at most 6 A this long after the removal command: the same path as a
    lowered limit (the leader's notice over Wi-Fi, the unit's PWM change wait)."""

    # -- sharing ----------------------------------------------------------------------------------------

    reallocation_s: float = Field(default=30.0, gt=0)
    """How long the leader may take to share anew after a change (a vehicle arrives, leaves or tapers). A
    leader changes a pilot at most every 5 s (IEC 61851-1) and must lower before it raises, so a change that
    needs a lower, a slow vehicle's response and a raise takes a few of those steps. Never used for a safety
    reduction (see `limit_lowered_s`, `disabled_s`, `removal_s`)."""

    reboot_s: float = Field(default=40.0, gt=0)
    """From power back (breaker closed) until a unit offers its configured current again."""

    utilisation_pct: float = Field(default=5.0, ge=0)
    """Part of the limit (percent) a fully demanded network may leave unused once settled, for the
    regulation margin real vehicles keep under their pilot. Scales with the limit."""

    utilisation_per_vehicle_a: float = Field(default=2.5, ge=0)
    """Unused current allowed per charging vehicle on top: a leader that shares by what each vehicle draws
    must leave a little headroom above each draw to see whether it wants more (2 A), plus PWM rounding."""

    # -- tolerances -------------------------------------------------------------------------------------

    pilot_tolerance_a: float = Field(default=0.1, ge=0)
    """The tight tolerance on safety upper bounds: the limit, the fair limit, the 6 A hold, a unit's own
    maximum. It covers the rig's own measurement of the duty cycle (a LabJack T7 times a 1 kHz PWM to far
    better than 0.01 %; the CAN EV emulator reports 0.1 % = 0.06 A), never the firmware's rounding: a correct
    firmware rounds towards safety."""

    pwm_step_a: float = Field(default=0.3, ge=0)
    """The tolerance on lower bounds ("offered what it asked for", "back to its configured maximum"): the size
    of a real PWM's resolution. SAE J1772 lets a pilot generator's pulse width be 5 us off in 1 ms (0.5 %
    duty = 0.3 A); an 8-bit PWM (duty steps of 100/256 %) rounds 48 A down to 47.81 A."""

    # -- policy options: not promised by the seeds, off unless a lab holds a build to them ---------------

    policy_every_waiting_vehicle_6a: bool = False
    """Every vehicle that wants current is offered at least 6 A once the network settles. Not a seed promise:
    seed 004 sets the *limit's* minimum ("De minimale stroomlimiet is 6 ampère per Wall Connector") and shares
    "op basis van de werkelijke stroom die door elk voertuig wordt gevraagd"; a firmware that lets a later
    vehicle wait while the others use the whole limit keeps both."""

    policy_reserve_by_fallback: bool = False
    """The leader lowers the others' pilots to leave every lost follower's fair limit free by `fallback_s`.
    Not a seed promise: seed 004 says only that the others deliver less so the limit is not exceeded ("leveren
    de andere Wall Connectors van het netwerk minder vermogen om overschrijding van de maximale stroomsterkte te
    voorkomen"). Off, the check judges that outcome: what the others are offered plus what the lost followers
    draw stays within the limit."""


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
