"""Tiers of test plans, and rack time: how long each test holds a rack, and how long a night on a real rack takes.

On a real rack every second of a plan is a second of wall-clock time, so what a night runs is chosen by tier:

- gate: every seed promise at least once, the six-unit cases first; at most one hour of rack time. `rig gate`
  runs it by default before a release.
- nightly: everything but the eight-hour soak; at most eight hours on one real rack, estimate included.
- weekend: everything: the soak, the full randomised campaign, every seed of the randomised plans.
- soak: the soak alone, so that it can run on a rack of its own while the others run the nightly.

A test is in the gate tier when it carries `@pytest.mark.gate`; `@pytest.mark.soak` puts it in the soak tier (and
the weekend's); `@pytest.mark.weekend` keeps it out of the nightly.

Rack time is measured, never guessed: every test records the rack time it took (`rack_time_s`, in its report and
JUnit properties), and `make rack-time` writes the simulated rack's figures to `testplans/rack_time.json`, which
`rig plan` reads. A real rack spends the same time in a test's own waits (they are rack time in simulation too),
but longer in what the simulation does quickly: commissioning a network and rebooting a unit. The estimate for a
real rack replaces those by allowances taken from the budgets (`estimate()`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rig.budgets import Budgets

TIERS = ("gate", "nightly", "weekend", "soak")
CAMPAIGN_SIZE = {"gate": 1, "nightly": 15, "weekend": 300, "soak": 0}
"""Scenarios the randomised campaign draws in each tier (unless --campaign-size says otherwise), besides its fixed
examples (testplans/test_campaign.py EXAMPLES), which run in every tier."""
SOAK_HOURS = 8.0
"""Hours of rack time of the soak (unless --soak-hours says otherwise); the gate and the nightly run its six-minute
form instead (testplans/test_soak.py)."""
LIMIT_H = {"gate": 1.0, "nightly": 8.0}
"""What a tier may take: the gate one hour of rack time (1.5 h estimated on a real rack), the nightly eight hours
on one real rack, estimate included."""
GATE_REAL_LIMIT_H = 1.5
"""The gate's limit on a real rack, its allowances for commissioning and power cycles included."""
RACK_TIME_FILE = Path("testplans/rack_time.json")
SIM_BOOT_S = 7.0
"""How long a simulated unit takes from power to its firmware running (rig/sim/world.py BOOT_S plus the reference
model's self-test): what the simulation already spent on a reboot that a real unit may stretch to `reboot_s`."""


def in_tier(markers: set[str], tier: str | None) -> bool:
    """Whether a test with these marker names belongs to the tier (no tier: every test)."""
    if tier is None or tier == "weekend":
        return True
    if tier == "soak":
        return "soak" in markers
    if tier == "gate":
        return "gate" in markers
    return "soak" not in markers and "weekend" not in markers  # nightly


@dataclass
class Measured:
    """One test's rack time on the simulated rack, split as the real-rack estimate needs it."""

    rack_s: float
    commissioning_s: float = 0.0
    commissionings: int = 0
    power_cycles: int = 0
    scenarios: int = 0
    """For a generated campaign: how many scenarios it drew beyond its fixed examples (its rack time is scaled to
    the tier's campaign size)."""

    def scaled(self, scenarios: int | None) -> Measured:
        """This test's figures for a campaign of `scenarios` drawn scenarios (itself when it is not a campaign)."""
        if not self.scenarios or scenarios is None:
            return self
        k = scenarios / self.scenarios
        return Measured(self.rack_s * k, self.commissioning_s * k, round(self.commissionings * k),
                        round(self.power_cycles * k), scenarios)


@dataclass
class Allowances:
    """What a real rack takes for what the simulation does quickly, from the budgets and the rack file."""

    commissioning_s: float
    """One commissioning: by console, a reset and a pairing each reboot a unit (2 x reboot_s) and the network is
    let settle; by an operator, the operator's time in the commissioning tool on top of the pairing reboot."""
    reboot_s: float
    """One power cycle beyond what the simulation spent on it: reboot_s minus the simulated boot."""

    @staticmethod
    def of(budgets: Budgets, method: str, operator_s: float = 600.0, settle_s: float = 5.0) -> Allowances:
        if method == "operator":
            per = operator_s + budgets.reboot_s + settle_s
        else:
            per = 2 * budgets.reboot_s + settle_s
        return Allowances(per, max(0.0, budgets.reboot_s - SIM_BOOT_S))


@dataclass
class Estimate:
    tests: int = 0
    rack_s: float = 0.0
    real_s: float = 0.0
    networks: int = 0
    unmeasured: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"tests": self.tests, "rack_time_h": round(self.rack_s / 3600, 3),
                "real_rack_estimate_h": round(self.real_s / 3600, 3), "network_configurations": self.networks,
                "unmeasured": self.unmeasured}


def estimate(tests: list[str], measured: dict[str, Measured], networks: int, allow: Allowances,
             campaign_size: int | None = None) -> Estimate:
    """Rack time of these tests (simulated), and a real rack's: each test's own time, with its commissioning
    replaced by one allowance per commissioning and each power cycle given its reboot allowance. A run that sets
    each network up once needs `networks` commissionings at least; a test that commissions more (it changed the
    network, or generates its own) counts what it measured."""
    e = Estimate(tests=len(tests), networks=networks)
    extra_commissionings = 0
    for test in tests:
        m = measured.get(test)
        if m is None:
            e.unmeasured.append(test)
            continue
        m = m.scaled(campaign_size)
        e.rack_s += m.rack_s
        e.real_s += m.rack_s - m.commissioning_s + m.power_cycles * allow.reboot_s
        extra_commissionings += m.commissionings
    e.real_s += max(networks, extra_commissionings) * allow.commissioning_s
    return e


def load_rack_times(path: Path = RACK_TIME_FILE) -> dict[str, Measured]:
    if not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {test: Measured(**m) for test, m in data.get("tests", {}).items()}


def save_rack_times(records: list[dict[str, Any]], path: Path = RACK_TIME_FILE, note: str = "") -> None:
    """Write measured rack times (the JSON lines a run wrote with --rack-times) as the table `rig plan` reads."""
    tests = {r["test"]: {k: r[k] for k in ("rack_s", "commissioning_s", "commissionings", "power_cycles", "scenarios")
                         if r.get(k)} for r in records}
    body = {"about": "Rack time of each test on the simulated rack, written by `make rack-time`; read by `rig plan`."
                     + (f" {note}" if note else ""), "tests": dict(sorted(tests.items()))}
    path.write_text(json.dumps(body, indent=1) + "\n", encoding="utf-8")
