"""The exact steps an operator takes to commission a network, in Tesla One or the commissioning wizard.

Tesla One (today's tool): scan the Quick Start Guide's QR code of a unit, hold its handle button 5 s until the
light pulses, join; Power Sharing is set up from the leader. Older firmware serves a commissioning wizard on the
unit's own Wi-Fi access point (192.168.92.1) with Power Sharing, Add Follower and Settings pages (seed 000;
INSTRUMENTS.md). The rig cannot write any of this itself (there is no documented local write API), so it prints
the steps, waits for the operator, and then verifies what it can by measurement (rig/commissioning/operator.py).
"""

from __future__ import annotations

from rig.commissioning.plan import NetworkPlan
from rig.config import Rack as RackConfig


def _who(config: RackConfig, unit: str) -> str:
    u = config.unit(unit)
    serial = f", serial {u.serial}" if u.serial else ""
    return f"{unit} ({u.breaker_a} A breaker{serial})"


def commissioning_steps(config: RackConfig, plan: NetworkPlan, app: str) -> list[str]:
    """Numbered steps, one line each, that bring the rack's units to `plan`."""
    others = [u.name for u in config.units if u.name not in plan.members]
    settings = ", ".join(f"{u} {plan.output(u, config.unit(u).capability_a):g} A" for u in plan.members)
    steps: list[str] = []
    if app == "wizard":
        steps.append("On every unit of the rack that is in a Power Sharing network, open the wizard (join the "
                     "unit's own Wi-Fi, http://192.168.92.1) and remove it from that network, so that every unit "
                     "starts standalone.")
        for u in plan.members:
            setting = plan.output(u, config.unit(u).capability_a)
            steps.append(f"{_who(config, u)}: wizard > Settings: set the maximum output (branch circuit) to "
                         f"{setting:g} A.")
        if plan.followers:
            steps.append(f"{_who(config, plan.leader)}: wizard > Power Sharing: make it the leader; Add Follower: "
                         f"{', '.join(plan.followers)} (the leader reboots and drops its Wi-Fi for a while).")
        steps.append(f"{plan.leader}: wizard > Power Sharing: set the network limit to {plan.limit_a:g} A.")
        steps.append(f"{plan.leader}: wizard > Power Sharing: "
                     f"{'enable Power Sharing' if plan.enabled else 'leave Power Sharing DISABLED'}.")
    else:
        steps.append("In Tesla One, remove every unit of the rack from any Power Sharing network it is in, so that "
                     "every unit starts standalone.")
        for u in plan.members:
            setting = plan.output(u, config.unit(u).capability_a)
            steps.append(f"{_who(config, u)}: scan its Quick Start Guide QR code, hold the handle button 5 s until "
                         f"the light pulses, join; set its branch circuit so that its maximum output is {setting:g} A.")
        if plan.followers:
            steps.append(f"In Tesla One on {plan.leader}: Power Sharing > make {plan.leader} the leader and add the "
                         f"followers {', '.join(plan.followers)} (on each, hold the handle button 5 s when asked; "
                         "the leader reboots).")
        steps.append(f"In Tesla One on {plan.leader}: set the network limit to {plan.limit_a:g} A.")
        steps.append(f"In Tesla One on {plan.leader}: "
                     f"{'turn Power Sharing ON' if plan.enabled else 'leave Power Sharing OFF (not enabled)'}.")
    if others:
        steps.append(f"Leave {', '.join(others)} standalone (in no network).")
    steps.append(f"Check: {len(plan.members)} unit(s) in the network, settings {settings}.")
    return [f"{i}. {text}" for i, text in enumerate(steps, start=1)]


def reach_steps(config: RackConfig, units: list[str]) -> list[str]:
    """Steps that make units' local APIs reachable so their firmware versions can be read before pairing."""
    names = ", ".join(_who(config, u) for u in units)
    return [f"1. {names} do not answer on their API address (a follower of a network is not on the lab LAN).",
            "2. Remove them from their Power Sharing network (Tesla One, or the leader's wizard), so that each is "
            "standalone and reachable at the address the rack file gives."]
