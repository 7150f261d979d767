"""Commissioning by an operator, in Tesla One or the commissioning wizard: for production units.

A production Gen 3 has no service console and no documented local write API (INSTRUMENTS.md), so the rig does
not configure the network itself. It prints the exact steps (rig/commissioning/steps.py), waits for the
operator's confirmation (rig/commissioning/channels.py), and then verifies, without writing anything, what it can
see: the firmware versions (read from every unit's API before pairing, when the rack was brought up) meet the
network's requirement, and with every member's vehicle plugged in the pilots add up to no more than the limit and
use it as the sharing check asks of a settled network (or, for a network that is not enabled, offer nothing) for
`verify_s`. How the limit is shared out among the members is the firmware's policy and is not judged here.

What cannot be done unattended (removing a unit, adding one, changing the limit or a setting, enabling, a new
commissioning inside a test) is refused: a test that needs it declares it (`@pytest.mark.reconfigures`) and is
skipped on an operator-commissioned rack with one reason.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from rig.checks.sharing import utilisation_allowance
from rig.commissioning.channels import OperatorError, make_channel
from rig.commissioning.plan import NetworkPlan
from rig.commissioning.steps import commissioning_steps, reach_steps

if TYPE_CHECKING:
    from rig.rack import Rack


class CommissioningNotVerified(Exception):
    """After the operator's confirmation the network does not look like the one asked for. The rig cannot tell a
    step done wrong from a firmware defect, so this is a rig fault (broken), with what was measured."""


class NeedsOperator(Exception):
    """A change to the network that an operator-commissioned rack cannot make unattended; a plan that needs it
    must declare it (`@pytest.mark.reconfigures(...)`), so that it is skipped instead."""


class OperatorCommissioner:
    """Asks the operator, then verifies by measurement."""

    method = "operator"
    unattended: frozenset[str] = frozenset()

    def __init__(self, confirm: str, directory: Path, timeout_s: float, listen: str, app: str, verify_s: float,
                 say: Callable[[str], None] | None = None) -> None:
        self.channel = make_channel(confirm, directory, timeout_s, listen, say)
        self.app = app
        self.verify_s = verify_s
        self.prompts = 0
        """Commissioning prompts made this run: one per network configuration set up."""
        self.reach_prompts = 0
        """Prompts to make units reachable so their versions can be read before pairing."""

    def close(self) -> None:
        self.channel.close()

    def _ask(self, rack: Rack, kind: str, title: str, steps: list[str], **data: object) -> str:
        """Show a request and sample the rack until the operator answers (or `confirm_timeout_s` passes)."""
        from rig.rack import ConditionTimeout

        rid = self.channel.publish(kind, title, steps, **data)
        rack._event("operator_request", None, request=rid, kind=kind, title=title)
        answer: list[tuple[str, str]] = []

        def answered(_: Rack) -> bool:
            got = self.channel.answer(rid)
            if got is not None:
                answer.append(got)
            return got is not None

        try:
            rack.wait_until(answered, self.channel.timeout_s, f"operator's answer to {rid}")
        except ConditionTimeout:
            raise OperatorError(f"operator request {rid} not answered within {self.channel.timeout_s:g} s") from None
        finally:
            self.channel.finish(rid)
        verb, why = answer[0]
        rack._event("operator_answer", None, request=rid, answer=verb, why=why)
        if verb != "confirm":
            raise OperatorError(f"operator request {rid}: the operator gave up: {why}")
        return rid

    def reach(self, rack: Rack, units: list[str]) -> None:
        """Ask the operator to make `units` reachable (standalone) so that their firmware can be read."""
        self.reach_prompts += 1
        self._ask(rack, "reach", f"rack {rack.config.name}: make {', '.join(units)} reachable",
                  reach_steps(rack.config, units), rack_name=rack.config.name, units=units)

    def commission(self, rack: Rack, plan: NetworkPlan) -> None:
        title = f"rack {rack.config.name}: commission the network {plan.key} ({plan.describe()})"
        self.prompts += 1
        self._ask(rack, "commission", title, commissioning_steps(rack.config, plan, self.app),
                  rack_name=rack.config.name,
                  network=plan.as_dict())
        self.verify(rack, plan)

    def verify(self, rack: Rack, plan: NetworkPlan) -> None:
        """Plug a vehicle wanting its unit's whole setting into every member, wait until the pilots show the
        network (budget: reboot_s + reallocation_s, the leader rebooted when it was paired), watch `verify_s`,
        unplug. Read-only: nothing is written to any unit."""
        from rig.rack import ConditionTimeout

        tol = rack.budgets.pilot_tolerance_a
        members = plan.members
        for u in members:
            rack.plug(u, plan.output(u, rack.units[u].capability_a))

        def problem(r: Rack) -> str | None:
            if r.last is None:
                return "nothing measured yet"
            pilots = {u: r.last.pilot.get(u) for u in members}
            if not plan.enabled:
                on = {u: p for u, p in pilots.items() if p is not None}
                return f"a network that is not enabled offers a pilot: {on}" if on else None
            total = sum(p for p in pilots.values() if p is not None)
            if total > plan.limit_a + tol * len(members):
                return f"pilots add up to {total:.1f} A, over the limit {plan.limit_a:g} A: {pilots}"
            wanted = sum(plan.output(u, rack.units[u].capability_a) for u in members)
            floor = min(plan.limit_a, wanted) - utilisation_allowance(rack.budgets, plan.limit_a, len(members))
            if total < floor:
                return (f"pilots add up to {total:.1f} A, under the {floor:.1f} A a formed network offers "
                        f"(limit {plan.limit_a:g} A, {len(members)} vehicles wanting {wanted:g} A): {pilots}")
            return None

        budget = rack.budgets.reboot_s + rack.budgets.reallocation_s
        try:
            rack.wait_until(lambda r: problem(r) is None, budget, f"network {plan.key} as commissioned")
        except ConditionTimeout:
            why = problem(rack)
            self._unplug(rack, members)
            raise CommissioningNotVerified(
                f"after the operator's confirmation, network {plan.key} is not as asked within {budget:g} s: {why}; "
                "check the steps in the commissioning tool") from None
        end = rack.now + self.verify_s
        while rack.now < end - 1e-9:
            rack.wait(min(rack.period, end - rack.now))
            why = problem(rack)
            if why is not None:
                self._unplug(rack, members)
                raise CommissioningNotVerified(f"network {plan.key} did not hold while verified: {why}")
        self._unplug(rack, members)

    @staticmethod
    def _unplug(rack: Rack, members: list[str]) -> None:
        for u in members:
            if u in rack.vehicles:
                rack.unplug(u)

    def _refuse(self, what: str) -> NeedsOperator:
        return NeedsOperator(f"{what} needs the operator (commissioning.method = \"operator\"): declare it with "
                             "@pytest.mark.reconfigures so the test is skipped on this rack")

    def set_limit(self, rack: Rack, leader: str, limit_a: float) -> str:
        raise self._refuse(f"changing the network limit to {limit_a:g} A")

    def enable(self, rack: Rack, leader: str, on: bool) -> None:
        raise self._refuse("enabling or disabling Power Sharing")

    def remove(self, rack: Rack, leader: str, unit: str) -> None:
        raise self._refuse(f"removing {unit}")

    def add(self, rack: Rack, leader: str, unit: str) -> None:
        raise self._refuse(f"adding {unit}")

    def set_output(self, rack: Rack, unit: str, amps: float) -> None:
        raise self._refuse(f"setting {unit}'s maximum output")


__all__ = ["CommissioningNotVerified", "NeedsOperator", "OperatorCommissioner", "OperatorError"]
