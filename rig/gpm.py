"""The rules of group power management (Power Sharing), written once.

Every number here comes from the two seed documents or the Gen 3 installation manual (see
`shared/domain/FACTS.md`). The rack-file validation, the checks and the test plans all read them from
here, so a rule is never restated with a different number somewhere else. The simulated firmware
deliberately does *not* import this module (DESIGN rule 6).
"""

from __future__ import annotations

MAX_FOLLOWERS = 5
"""A leader and up to five followers (seed 000, seed 004)."""

MAX_NETWORK_SIZE = 1 + MAX_FOLLOWERS

MIN_AMPS_PER_UNIT = 6.0
"""The minimum network limit is 6 A per unit in the network (seed 004)."""

REMOVED_UNIT_AMPS = 6.0
"""A unit removed from the network is held at 6 A until its breaker is cycled (seed 000)."""

NAMEPLATE_48A = 48.0
"""Nameplate rating of the 48 A Gen 3 model; six of them give seed 004's 287 A maximum."""

MIN_FIRMWARE = (21, 18, 0)
"""Firmware needed for group power management at all (seed 000)."""

MIN_FIRMWARE_SIX_UNITS = (21, 36, 6)
"""Firmware needed for a network of six units (seed 004)."""

BREAKER_TO_MAX_OUTPUT: dict[int, float] = {60: 48.0, 50: 40.0, 40: 32.0, 30: 24.0, 20: 16.0, 15: 12.0}
"""North-American breaker rating to maximum output: 80 % of the breaker (installation manual)."""


def max_output_for_breaker(breaker_a: int) -> float:
    """The maximum output a unit may be set to on a breaker of this rating."""
    try:
        return BREAKER_TO_MAX_OUTPUT[breaker_a]
    except KeyError:
        allowed = ", ".join(str(b) for b in sorted(BREAKER_TO_MAX_OUTPUT))
        raise ValueError(f"breaker {breaker_a} A is not a supported rating (one of {allowed})") from None


def min_network_limit(size: int) -> float:
    """The lowest network limit a network of `size` units accepts (6 A per unit)."""
    check_network_size(size)
    return MIN_AMPS_PER_UNIT * size


def max_network_limit(nameplates: list[float]) -> float:
    """The highest network limit: the sum of the units' nameplate ratings minus 1 A (seed 004)."""
    check_network_size(len(nameplates))
    return sum(nameplates) - 1.0


def check_network_size(size: int) -> None:
    """Refuse a network that is not one leader and at most five followers."""
    if not 1 <= size <= MAX_NETWORK_SIZE:
        raise ValueError(f"a network has 1 leader and at most {MAX_FOLLOWERS} followers, not {size} units")


def limit_error(limit: float, nameplates: list[float]) -> str | None:
    """Why `limit` is not a valid network limit for units of these nameplates, or None if it is."""
    low, high = min_network_limit(len(nameplates)), max_network_limit(nameplates)
    if limit < low:
        return f"network limit {limit:g} A is under the minimum {low:g} A (6 A per unit, {len(nameplates)} units)"
    if limit > high:
        return f"network limit {limit:g} A is over the maximum {high:g} A (sum of nameplates minus 1 A)"
    return None


def fair_limit(network_limit: float, network_size: int, unit_capability: float) -> float:
    """The fallback (fair) limit: network limit / network size, bounded to the unit's own capability.

    Seed 000: "Equal to (network limit) / (network size) bounded to within a single unit's capability."
    """
    check_network_size(network_size)
    return min(network_limit / network_size, unit_capability)


def parse_version(text: str) -> tuple[int, int, int]:
    """Firmware version tuple from the API's form, e.g. "21.29.1+g4152353e50f744" → (21, 29, 1)."""
    core = text.strip().split("+", 1)[0].split("-", 1)[0]
    parts = core.split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise ValueError(f"firmware version {text!r} is not of the form MAJOR.MINOR.PATCH")
    return int(parts[0]), int(parts[1]), int(parts[2])


def required_firmware(network_size: int) -> tuple[int, int, int]:
    """The oldest firmware every unit of a network of this size must run."""
    check_network_size(network_size)
    return MIN_FIRMWARE_SIX_UNITS if network_size == MAX_NETWORK_SIZE else MIN_FIRMWARE


def firmware_error(version: str, network_size: int) -> str | None:
    """Why a unit on `version` cannot join a network of this size, or None if it can."""
    need = required_firmware(network_size)
    if parse_version(version) < need:
        why = "a six-unit network" if network_size == MAX_NETWORK_SIZE else "group power management"
        return f"firmware {version} is older than {'.'.join(map(str, need))}, needed for {why}"
    return None
