"""A one-test gating plan for tests/test_gate.py: the power analyzer goes wrong in the middle of a run.

Not collected by `pytest tests` (the file name does not start with `test_`); `rig gate --plans` names it. Half
way through, someone changes the analyzer's numeric list (as from its front panel): from then on it answers one
value where the rig asked for one per unit. The driver is the real one and knows nothing of this; it finds the
reply is garbage (InstrumentGarbage, still garbage after the rig's retry on a fresh connection, since the setting
lives in the instrument), and the test must come out *broken*, never failed.
"""

from __future__ import annotations

from rig.checks import network_limit
from rig.fixtures.plugin import expect
from rig.rack import Rack


def test_network_keeps_its_limit_while_the_analyzer_goes_wrong(rack: Rack) -> None:
    units = [u.name for u in rack.config.units][:2]
    rack.commission(units[0], units[1:], 60)
    rack.plug(units[1], 48)
    rack.wait(10)
    for analyzer in rack.inst.analyzers.values():
        driver = getattr(analyzer, "driver", analyzer)  # under the rig's retry wrapper, if any
        driver._scpi.write(":NUMeric:NORMal:NUMber 1")  # the front panel: one numeric item instead of six
    rack.wait(10)
    expect(network_limit(rack.trace, rack.budgets, rack.tolerance_a))
