"""Replay one campaign scenario: collected only when named on the command line, so a night never lists it.

    pytest testplans/campaign_replay.py --campaign-replay '<scenario json a failed campaign printed>'

The file's name does not start with `test_`, so `pytest testplans` passes it by; pytest collects a file named
on its command line whatever its name.
"""

from __future__ import annotations

import allure
import pytest
from test_campaign import Scenario, judge

from rig.fixtures.plugin import RigSettings
from rig.rack import Rack


@pytest.mark.reconfigures("commission")
def test_replay(pytestconfig: pytest.Config, rig_settings: RigSettings, rack: Rack) -> None:
    text = pytestconfig.getoption("--campaign-replay")
    if not text:
        raise pytest.UsageError("give the scenario to replay: --campaign-replay '<scenario json>'")
    listing: list[str] = []
    try:
        judge(rack, Scenario.from_json(text), rig_settings.trace_dir / "campaign-replay.jsonl", listing)
    finally:
        allure.attach("\n".join(listing), "campaign checks", allure.attachment_type.TEXT)
