"""What a network is: its leader, followers, limit, whether sharing is enabled, and each member's setting.

A test plan declares the network it needs (`@pytest.mark.network(...)`, rig/fixtures/networks.py); the rack is
brought to it by its commissioner (console or operator, rig/commissioning/). Two tests that need the same
`NetworkPlan` share one commissioning: on a real rack a commissioning costs minutes, and an operator's attention.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

RECONFIGURATIONS = ("limit", "enable", "remove", "add", "output", "commission")
"""What a test may change in the network while it runs (`@pytest.mark.reconfigures(...)`): the network limit,
enabling or disabling sharing, removing a follower, adding one, a unit's branch-circuit setting, or a whole new
commissioning (a generated scenario)."""


@dataclass(frozen=True)
class NetworkPlan:
    """One network configuration. Hashable: tests that need equal plans share one commissioning."""

    leader: str
    followers: tuple[str, ...]
    limit_a: float
    enabled: bool = True
    outputs: tuple[tuple[str, float], ...] = ()
    """Branch-circuit settings (amps) the plan declares for members; every other member is set to its rack-file
    capability when the network is commissioned."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "followers", tuple(self.followers))
        object.__setattr__(self, "limit_a", float(self.limit_a))
        object.__setattr__(self, "outputs", tuple(sorted((u, float(a)) for u, a in dict(self.outputs).items())))

    @property
    def members(self) -> list[str]:
        return [self.leader, *self.followers]

    @property
    def size(self) -> int:
        return 1 + len(self.followers)

    def output(self, unit: str, capability_a: float) -> float:
        """The setting `unit` is given in this network: its declared output, else its rack-file capability."""
        return dict(self.outputs).get(unit, capability_a)

    @property
    def key(self) -> str:
        """A short stable name, for reports, ordering and sharding: `6u-120A-on` or `4u-100A-on-wc3=40,wc4=16`."""
        text = f"{self.size}u-{self.limit_a:g}A-{'on' if self.enabled else 'off'}"
        if self.outputs:
            text += "-" + ",".join(f"{u}={a:g}" for u, a in self.outputs)
        return text

    def describe(self) -> str:
        followers = ", ".join(self.followers) or "none"
        outputs = "; settings " + ", ".join(f"{u} {a:g} A" for u, a in self.outputs) if self.outputs else ""
        return (f"leader {self.leader}, followers {followers}, limit {self.limit_a:g} A, "
                f"{'enabled' if self.enabled else 'not enabled'}{outputs}")

    def as_dict(self) -> dict[str, Any]:
        return {"leader": self.leader, "followers": list(self.followers), "limit": self.limit_a,
                "enabled": self.enabled, "outputs": dict(self.outputs)}


def plan_for(units: list[str], size: int, limit_a: float, enabled: bool = True,
             outputs: tuple[float, ...] | list[float] | None = None) -> NetworkPlan:
    """The network of the rack's first `size` units (leader first), as the plans declare it."""
    if not 1 <= size <= len(units):
        raise ValueError(f"a network of {size} units on a rack of {len(units)}")
    members = units[:size]
    pairs: tuple[tuple[str, float], ...] = ()
    if outputs is not None:
        if len(outputs) != size:
            raise ValueError(f"{len(outputs)} settings for a network of {size} units")
        pairs = tuple(zip(members, (float(a) for a in outputs), strict=True))
    return NetworkPlan(members[0], tuple(members[1:]), limit_a, enabled, pairs)
