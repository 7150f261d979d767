"""The Power Sharing rules of rig/gpm.py against the numbers of shared/domain/FACTS.md."""

from __future__ import annotations

import pytest

from rig import gpm

SIX_48A = [48.0] * 6


# -- network limit ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("size", "low"), [(1, 6.0), (2, 12.0), (4, 24.0), (6, 36.0)])
def test_minimum_network_limit_is_6a_per_unit(size: int, low: float) -> None:
    assert gpm.min_network_limit(size) == low


def test_maximum_network_limit_of_six_48a_units_is_287a() -> None:
    assert gpm.max_network_limit(SIX_48A) == 287.0


def test_maximum_network_limit_sums_mixed_nameplates_minus_one() -> None:
    assert gpm.max_network_limit([48.0, 48.0, 40.0, 16.0]) == 151.0


@pytest.mark.parametrize("limit", [36.0, 120.0, 287.0])
def test_limits_within_the_bounds_are_accepted(limit: float) -> None:
    assert gpm.limit_error(limit, SIX_48A) is None


def test_limit_under_6a_per_unit_is_refused_with_the_minimum() -> None:
    why = gpm.limit_error(35.9, SIX_48A)
    assert why is not None
    assert "under the minimum 36 A" in why


def test_limit_over_nameplates_minus_one_is_refused_with_the_maximum() -> None:
    why = gpm.limit_error(288.0, SIX_48A)
    assert why is not None
    assert "over the maximum 287 A" in why


# -- breakers --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("breaker", "output"), [(60, 48.0), (50, 40.0), (40, 32.0), (30, 24.0), (20, 16.0), (15, 12.0)]
)
def test_breaker_gives_80_percent_maximum_output(breaker: int, output: float) -> None:
    assert gpm.max_output_for_breaker(breaker) == output


def test_seed_004_mixed_breakers() -> None:
    assert [gpm.max_output_for_breaker(b) for b in (60, 60, 50, 20)] == [48.0, 48.0, 40.0, 16.0]


@pytest.mark.parametrize("breaker", [0, 25, 45, 70, 100])
def test_unsupported_breaker_is_refused_naming_the_allowed_ratings(breaker: int) -> None:
    with pytest.raises(ValueError, match=rf"breaker {breaker} A is not a supported rating.*15, 20, 30, 40, 50, 60"):
        gpm.max_output_for_breaker(breaker)


# -- fair (fallback) limit -------------------------------------------------------------------------------


def test_fair_limit_of_the_mixed_four_unit_network() -> None:
    capabilities = [gpm.max_output_for_breaker(b) for b in (60, 60, 50, 20)]
    assert [gpm.fair_limit(100.0, 4, cap) for cap in capabilities] == [25.0, 25.0, 25.0, 16.0]


def test_fair_limit_is_limit_over_size_when_the_unit_can_deliver_it() -> None:
    assert gpm.fair_limit(120.0, 6, 48.0) == 20.0
    assert gpm.fair_limit(287.0, 6, 48.0) == pytest.approx(287.0 / 6)


def test_fair_limit_is_bounded_by_capability() -> None:
    assert gpm.fair_limit(96.0, 2, 40.0) == 40.0
    assert gpm.fair_limit(48.0, 1, 32.0) == 32.0


# -- network size ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 6])
def test_one_to_six_units_form_a_network(size: int) -> None:
    gpm.check_network_size(size)
    assert gpm.min_network_limit(size) == 6.0 * size


@pytest.mark.parametrize("size", [0, 7, 12])
def test_other_network_sizes_are_refused(size: int) -> None:
    with pytest.raises(ValueError, match=f"at most 5 followers, not {size} units"):
        gpm.check_network_size(size)
    with pytest.raises(ValueError):
        gpm.fair_limit(100.0, size, 48.0)
    with pytest.raises(ValueError):
        gpm.required_firmware(size)


def test_seven_nameplates_have_no_maximum_limit() -> None:
    with pytest.raises(ValueError):
        gpm.max_network_limit([48.0] * 7)


# -- firmware --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "version"),
    [
        ("21.29.1+g4152353e50f744", (21, 29, 1)),
        ("21.18.0", (21, 18, 0)),
        (" 24.44.0 ", (24, 44, 0)),
        ("21.100.0", (21, 100, 0)),
    ],
)
def test_parse_version(text: str, version: tuple[int, int, int]) -> None:
    assert gpm.parse_version(text) == version


@pytest.mark.parametrize("text", ["", "21.29", "21.29.1.4", "v21.29.1", "21.x.1", "+g4152353e50f744"])
def test_malformed_versions_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="MAJOR.MINOR.PATCH"):
        gpm.parse_version(text)


@pytest.mark.parametrize("size", [1, 2, 5])
def test_group_power_management_needs_21_18_0(size: int) -> None:
    assert gpm.required_firmware(size) == (21, 18, 0)
    assert gpm.firmware_error("21.18.0", size) is None
    why = gpm.firmware_error("21.17.9+gdeadbeef", size)
    assert why is not None
    assert "older than 21.18.0" in why and "group power management" in why


def test_six_units_need_21_36_6() -> None:
    assert gpm.required_firmware(6) == (21, 36, 6)
    assert gpm.firmware_error("21.36.6", 6) is None
    assert gpm.firmware_error("21.29.1+g4152353e50f744", 5) is None


def test_21_36_5_is_refused_for_six_units_and_accepted_for_five() -> None:
    why = gpm.firmware_error("21.36.5", 6)
    assert why is not None
    assert "older than 21.36.6" in why and "six-unit network" in why
    assert gpm.firmware_error("21.36.5", 5) is None


def test_versions_compare_as_numbers_not_as_text() -> None:
    # "21.100.0" < "21.36.6" as strings; as a version it is newer
    assert gpm.firmware_error("21.100.0", 6) is None
    assert gpm.firmware_error("22.0.0", 6) is None
    assert gpm.firmware_error("21.9.9", 1) is not None


def test_constants_match_the_seeds() -> None:
    assert gpm.MAX_FOLLOWERS == 5
    assert gpm.MAX_NETWORK_SIZE == 6
    assert gpm.REMOVED_UNIT_AMPS == 6.0
    assert gpm.NAMEPLATE_48A * 6 - 1 == 287.0
