"""How a network gets commissioned: through the units' consoles (engineering builds) or by an operator in Tesla
One or the commissioning wizard, with a confirmation; each is verified read-only afterwards.

`commissioner_for()` picks one from the rack file's `[commissioning]` table.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from rig.commissioning.console import ConsoleCommissioner
from rig.commissioning.operator import OperatorCommissioner
from rig.commissioning.plan import RECONFIGURATIONS, NetworkPlan, plan_for
from rig.config import Rack as RackConfig


class Commissioner(Protocol):
    method: str
    unattended: frozenset[str]
    """The mid-test changes (RECONFIGURATIONS) this method makes without anybody at the rack."""
    prompts: int


def operator_dir(config: RackConfig, state_dir: Path) -> Path:
    """Where operator requests for this rack are written (and file confirmations expected)."""
    if config.commissioning.confirm_dir:
        return Path(config.commissioning.confirm_dir)
    from rig.runs import state_dir as rack_state_dir

    return rack_state_dir(Path(state_dir)) / f".operator-{config.name}"  # beside the unsafe marker, not in a run


def commissioner_for(config: RackConfig, state_dir: Path,
                     say: Callable[[str], None] | None = None) -> ConsoleCommissioner | OperatorCommissioner:
    c = config.commissioning
    if c.method == "operator":
        return OperatorCommissioner(c.confirm, operator_dir(config, state_dir), c.confirm_timeout_s, c.listen, c.app,
                                    c.verify_s, say)
    return ConsoleCommissioner()


__all__ = ["RECONFIGURATIONS", "Commissioner", "NetworkPlan", "commissioner_for", "operator_dir", "plan_for"]
