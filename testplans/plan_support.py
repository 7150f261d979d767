"""What many plans do the same way: declare the network a scenario needs, plug vehicles in, judge the trace."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pytest

from rig import checks
from rig.fixtures.plugin import expect
from rig.rack import Rack


def scenarios(table: Mapping[str, Any], network: Callable[[Any], Any] | None = None, *marks: Any,
              gate: tuple[str, ...] = (), weekend: tuple[str, ...] = ()) -> list[Any]:
    """A plan's scenario table as pytest parameters, each marked with the network it needs (by default the
    scenario's `size` and `limit_a`, or the first two items of a tuple), so the run sets each network up once.
    The scenarios named in `gate` are in the release gate's tier, those in `weekend` only in the weekend's."""
    params = []
    for name, scenario in table.items():
        if network is not None:
            mark = network(scenario)
        elif isinstance(scenario, tuple):
            mark = pytest.mark.network(scenario[0], scenario[1])
        else:
            mark = pytest.mark.network(scenario.size, scenario.limit_a)
        tiers = [pytest.mark.gate] if name in gate else [pytest.mark.weekend] if name in weekend else []
        params.append(pytest.param(scenario, id=name, marks=[mark, *marks, *tiers]))
    return params


NETWORKS: dict[int, tuple[float, ...]] = {
    2: (12.0, 40.0, 60.0),
    3: (50.0, 60.0, 90.0),
    4: (24.0, 80.0, 90.0, 150.0),
    5: (60.0, 90.0, 100.0),
    6: (36.0, 72.0, 100.0, 120.0, 200.0),
}
"""The limits the randomised plans draw from for each network size: limits the fixed scenarios use too, so that one
commissioning serves several tests (each is a minimum, tight, fractional-fair or wide network of its size)."""

OBSERVE_S = 10.0
"""How long a plan watches a state it waited for before it acts again: 20 samples at 0.5 s, so that a check judges
the state over several readings, not one."""


def settle_s(rack: Rack) -> float:
    """After a change (an arrival, a departure, a new demand, a link back): the leader's reallocation budget, then
    the state is watched."""
    return rack.budgets.reallocation_s + OBSERVE_S


def fallback_window_s(rack: Rack) -> float:
    """A cut long enough to see the fallback done: the fallback budget, the vehicle's response, then watched."""
    return rack.budgets.fallback_s + rack.budgets.vehicle_response_s + OBSERVE_S


def reboot_window_s(rack: Rack) -> float:
    """After a unit's power comes back: its reboot budget, then the reallocation budget, then watched."""
    return rack.budgets.reboot_s + rack.budgets.reallocation_s + OBSERVE_S


def members(rack: Rack) -> list[str]:
    """The units of the network the test declared, leader first."""
    if rack.network is None:
        raise RuntimeError("the test declared no network (@pytest.mark.network)")
    return rack.network.members


def network_units(rack: Rack, size: int) -> list[str]:
    """The first `size` units of the rack: the leader first."""
    names = [u.name for u in rack.config.units]
    if size > len(names):
        raise ValueError(f"rack {rack.config.name!r} has {len(names)} units, the scenario needs {size}")
    return names[:size]


def plug_all(rack: Rack, units: Iterable[str], demands: Iterable[float], gap_s: float = 3.0) -> None:
    """Plug a vehicle on each unit whose demand is above 0, `gap_s` apart: longer than the leader takes to hear
    of an arrival (a status heartbeat, a Wi-Fi hop and a control period), so the order of arrival is the order
    given whatever the sharing policy."""
    for unit, demand in zip(units, demands, strict=False):
        if demand > 0:
            rack.plug(unit, demand)
            if gap_s:
                rack.wait(gap_s)


def expect_all(rack: Rack, *judges: Callable[[Rack], checks.Verdict]) -> None:
    """Judge the trace with every check named; fail with the evidence of each that failed."""
    expect(*(judge(rack) for judge in judges))


# the checks, bound to a rack's trace, budgets and tolerance
def network_limit(rack: Rack) -> checks.Verdict:
    return checks.network_limit(rack.trace, rack.budgets, rack.tolerance_a)


def fair_fallback(rack: Rack) -> checks.Verdict:
    return checks.fair_fallback(rack.trace, rack.budgets, rack.tolerance_a)


def removal_hold(rack: Rack) -> checks.Verdict:
    return checks.removal_hold(rack.trace, rack.budgets, rack.tolerance_a)


def sharing(rack: Rack) -> checks.Verdict:
    return checks.sharing(rack.trace, rack.budgets, rack.tolerance_a)


def not_enabled(rack: Rack) -> checks.Verdict:
    return checks.not_enabled(rack.trace, rack.budgets, rack.tolerance_a)


def capability(rack: Rack) -> checks.Verdict:
    return checks.capability(rack.trace, rack.budgets)


def reserve_kept(rack: Rack) -> checks.Verdict:
    return checks.reserve_kept(rack.trace, rack.budgets)


def limit_bounds(rack: Rack) -> checks.Verdict:
    return checks.limit_bounds(rack.trace)
