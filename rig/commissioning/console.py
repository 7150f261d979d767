"""Commissioning through the units' service consoles: for engineering builds that have one.

The `gpm` line set below is the rig's own contract, not Tesla's: a production Gen 3 has no service console
(INSTRUMENTS.md). A lab that commissions this way needs an adapter on each unit that speaks it; it is documented
in rig/sim/firmware_api.py and the README, and the simulated units speak it.

Every wait here ends when what it waits for has happened: a reset or pairing answers `OK rebooting`, so the rig
waits for that unit's API to report a fresh boot (its uptime starting again) and its console to answer, then for
the leader to hear every follower; the budget is the manifest's `reboot_s`.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from rig.commissioning.plan import NetworkPlan
from rig.instruments.errors import InstrumentError
from rig.secrets import wifi_password

if TYPE_CHECKING:
    from rig.rack import Rack


class ConsoleRefused(AssertionError):
    """A unit refused a command the seeds say it must accept (a failure of the firmware under test)."""


def parse_status(reply: str) -> dict[str, str]:
    """`gpm status` as a dict: `role=leader limit=120 ...`."""
    return dict(re.findall(r"(\w+)=(\S*)", reply))


class ConsoleCommissioner:
    """Types the rig's `gpm` contract into the units' consoles."""

    method = "console"
    unattended = frozenset({"limit", "enable", "remove", "add", "output", "commission"})
    """Everything: a console needs nobody at the rack."""

    def __init__(self) -> None:
        self.prompts = 0
        """Operator prompts made: none, a console needs no operator."""

    # -- helpers ---------------------------------------------------------------------------------------------

    @staticmethod
    def status(rack: Rack, unit: str) -> dict[str, str]:
        return parse_status(rack.console(unit, "gpm status"))

    @staticmethod
    def _ok(reply: str, what: str) -> str:
        if not reply.startswith("OK"):
            raise ConsoleRefused(f"{what} refused: {reply}")
        return reply

    @staticmethod
    def _uptime(rack: Rack, unit: str) -> float | None:
        """The unit's uptime from its API, or None when it does not answer (booting, or a follower off the LAN)."""
        try:
            return float(rack.poll_api(unit).vitals().uptime_s)
        except (InstrumentError, TypeError, ValueError):
            return None

    def _await_reboot(self, rack: Rack, units: list[str], before: dict[str, float | None], what: str) -> None:
        """Wait until each unit has booted again (its API's uptime restarted, or it answers after not answering)
        and its console answers; the budget is `reboot_s` plus one sampling period."""
        seen_down = {u: before.get(u) is None for u in units}

        def back(r: Rack) -> bool:
            for u in units:
                up = self._uptime(r, u)
                if up is None:
                    seen_down[u] = True
                    return False
                old = before.get(u)
                if not seen_down[u] and old is not None and up >= old:
                    return False  # not rebooted yet
            return all(self._answers(r, u) for u in units)

        rack.wait_until(back, rack.budgets.reboot_s + rack.period, what)

    @staticmethod
    def _answers(rack: Rack, unit: str) -> bool:
        try:
            rack.console(unit, "gpm status")
        except InstrumentError:
            return False
        return True

    # -- commissioning ---------------------------------------------------------------------------------------

    def commission(self, rack: Rack, plan: NetworkPlan) -> None:
        """Form `plan` from scratch: reset every unit that is in some network, give each member its setting, pair
        the followers at the leader (which reboots), wait until it hears them all, set the limit and enable."""
        members = plan.members
        in_network = [u for u in rack.units if rack.units[u].console and self.status(rack, u).get("role")
                      not in (None, "standalone")]
        if in_network:
            before = {u: self._uptime(rack, u) for u in in_network}
            for u in in_network:
                self._ok(rack.console(u, "gpm reset"), f"gpm reset at {u}")
            self._await_reboot(rack, in_network, before, f"units {', '.join(in_network)} back after gpm reset")
        for u in members:
            amps = plan.output(u, rack.units[u].capability_a)
            reply = rack.console(u, f"gpm output {amps:g}")
            if reply.startswith("ERR unknown command") and amps == rack.units[u].capability_a:
                continue  # `gpm output` is optional in the contract: a unit without it runs at its capability
            self._ok(reply, f"gpm output {amps:g} at {u}")
        for f in plan.followers:
            password = wifi_password(f, simulated=rack.config.simulated)
            self._ok(rack.console(plan.leader, f"gpm pair {f} {password}"), f"gpm pair {f} at {plan.leader}")
        if plan.followers:
            before = {plan.leader: self._uptime(rack, plan.leader)}
            self._ok(rack.console(plan.leader, f"gpm form {','.join(plan.followers)}"), f"gpm form at {plan.leader}")
            self._await_reboot(rack, [plan.leader], before, f"leader {plan.leader} back after pairing")
            want = set(plan.followers)

            def formed(r: Rack) -> bool:
                online = self.status(r, plan.leader).get("online", "")
                return want <= set(filter(None, online.split(",")))

            rack.wait_until(formed, rack.budgets.reboot_s + rack.budgets.reallocation_s,
                            f"network {members} formed at {plan.leader}")
        self._ok(rack.console(plan.leader, f"gpm limit {plan.limit_a:g}"), f"gpm limit at {plan.leader}")
        self._ok(rack.console(plan.leader, f"gpm enable {int(plan.enabled)}"), f"gpm enable at {plan.leader}")

    # -- changes while a test runs -----------------------------------------------------------------------------

    def set_limit(self, rack: Rack, leader: str, limit_a: float) -> str:
        return rack.console(leader, f"gpm limit {limit_a:g}")

    def enable(self, rack: Rack, leader: str, on: bool) -> None:
        self._ok(rack.console(leader, f"gpm enable {int(on)}"), "gpm enable")

    def remove(self, rack: Rack, leader: str, unit: str) -> None:
        self._ok(rack.console(leader, f"gpm remove {unit}"), f"gpm remove {unit}")

    def add(self, rack: Rack, leader: str, unit: str) -> None:
        password = wifi_password(unit, simulated=rack.config.simulated)
        self._ok(rack.console(leader, f"gpm pair {unit} {password}"), f"gpm pair {unit}")
        self._ok(rack.console(leader, f"gpm add {unit}"), f"gpm add {unit} at {leader}")

    def set_output(self, rack: Rack, unit: str, amps: float) -> None:
        self._ok(rack.console(unit, f"gpm output {amps:g}"), f"gpm output on {unit}")
