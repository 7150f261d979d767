"""Correct firmware models that differ from the reference in timing and in PWM resolution, not in sharing.

The checks judge promises with budgets and tolerances, never the reference's habits: each of these keeps every
promise, so each must pass every plan, the soak included (`make test` runs them). A third party's correct
build may differ from the reference in the same ways.
"""

from __future__ import annotations

import math
from typing import ClassVar

from firmware_under_test.models.reference import ReferenceFirmware
from firmware_under_test.models.timing import DelayedReductions

EIGHT_BIT_STEP_PCT = 100.0 / 256.0


class EightBitPwm(ReferenceFirmware):
    """A pilot PWM with 8-bit duty resolution (steps of 100/256 %), rounded down: 48 A is advertised as
    47.81 A, 16.67 A as 16.64 A. Within the PWM tolerance on lower bounds, never above an upper bound."""

    def pwm(self, amps: float) -> float:
        duty = amps / 0.6 if amps <= 51.0 else amps / 2.5 + 64.0
        steps = math.floor(duty / EIGHT_BIT_STEP_PCT + 1e-9) * EIGHT_BIT_STEP_PCT
        coarse = steps * 0.6 if steps <= 85.0 else (steps - 64.0) * 2.5
        # 8 % to 10 % duty still advertises 6 A: the step just under 10 % is the coarse PWM's 6 A
        return 6.0 if amps >= 6.0 and coarse < 6.0 else coarse


class WholeAmpsDown(ReferenceFirmware):
    """Advertises whole amps only, rounded down (a fair limit of 16.67 A is offered as 16 A)."""

    def pwm(self, amps: float) -> float:
        return float(math.floor(amps + 1e-9))


class SlowButInBudget(DelayedReductions):
    """Reacts slowly to everything, yet within every default budget: a follower notices a lost leader after 7 s
    and falls back at once (fallback_s 10), raises towards its fair limit 10 s later; a lowered limit, a disabled
    network and a removal each take effect after 7 s (limit_lowered_s, disabled_s, removal_s 10); after a breaker
    cycle it offers its configuration after 25 s more (reboot_s 40); the leader listens 8 s after booting,
    allocates every 2 s and waits 16 s before taking back a raise a vehicle did not use (reallocation_s 30)."""

    firmware_version: ClassVar[str] = "24.44.0+slow"
    LOSS_S: ClassVar[float] = 7.0
    RAISE_HOLD_S: ClassVar[float] = 10.0
    LISTEN_S: ClassVar[float] = 8.0
    CONTROL_S: ClassVar[float] = 2.0
    SETTLE_S: ClassVar[float] = 16.0
    LIMIT_DELAY_S: ClassVar[float] = 7.0
    DISABLE_DELAY_S: ClassVar[float] = 7.0
    REMOVAL_DELAY_S: ClassVar[float] = 7.0
    STANDALONE_DELAY_S: ClassVar[float] = 25.0


class EagerFallback(ReferenceFirmware):
    """Notices a lost leader after 1.5 s and lowers to its fair limit at once; raises towards it only 9 s after
    noticing, past the fallback deadline. The leader allocates twice a second."""

    firmware_version: ClassVar[str] = "24.44.0+eager"
    LOSS_S: ClassVar[float] = 1.5
    RAISE_HOLD_S: ClassVar[float] = 9.0
    CONTROL_S: ClassVar[float] = 0.5
