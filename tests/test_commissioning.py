"""Commissioning as a lab does it: by console on engineering builds, by an operator in Tesla One or the wizard on
production units, each network set up once for every test that needs it, and verified by measurement.

The plans run in pytest subprocesses against copies of the simulated rack (tests/commissioning_plans/); on an
operator-commissioned copy the simulated operator answers the rig's requests through the file or HTTP channel,
exactly as automation at a real rack would.
"""

from __future__ import annotations

import json
import re
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from safety_harness import allure_results, fast_rack, junit_cases, run_pytest

from rig.budgets import load_manifest
from rig.commissioning.channels import FileChannel, HttpChannel, TerminalChannel
from rig.commissioning.plan import NetworkPlan, plan_for
from rig.commissioning.steps import commissioning_steps
from rig.config import load_rack
from rig.instruments.errors import InstrumentError
from rig.rack import ConditionTimeout, open_rack
from rig.trace import read_trace

PLAN = "tests/commissioning_plans/plan_networks.py"
ORDER = ["test_no_network_needed", "test_three_units", "test_two_units_first", "test_two_units_again",
         "test_two_units_removal"]


def summary(stdout: str) -> re.Match[str]:
    found = re.search(r"rig: (\d+) network configuration\(s\) declared by the tests that ran; (\d+) commissioning\(s\) "
                      r"by (\w+)(?:; operator prompts: (\d+) to commission)?", stdout)
    assert found, stdout[-3000:]
    return found


# -- console: networks shared and ordered ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def console_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("console")
    proc = run_pytest(tmp, PLAN, f"--rack={fast_rack(tmp)}")
    return {"tmp": tmp, "proc": proc, "junit": junit_cases(tmp / "junit.xml")}


def test_tests_sharing_a_network_run_together_larger_networks_first(console_run: dict[str, Any]) -> None:
    assert console_run["proc"].returncode == 0, console_run["proc"].stdout[-3000:]
    assert list(console_run["junit"]) == ORDER, console_run["junit"]


def test_each_network_is_commissioned_once_until_a_test_changes_it(console_run: dict[str, Any]) -> None:
    found = summary(console_run["proc"].stdout)
    # three configurations; the two-unit one once for three tests (the removal runs last of them)
    assert found.group(1) == "2" and found.group(2) == "2" and found.group(3) == "console", found.group(0)
    traces = console_run["tmp"] / "traces"

    def commission(name: str) -> dict[str, Any]:
        events = [e for e in read_trace(traces / f"{name}.jsonl").events if e.action == "commission"]
        assert len(events) == 1, events
        return events[0].data

    assert commission("test_two_units_first")["reused"] is False
    assert commission("test_two_units_again")["reused"] is True
    assert commission("test_two_units_removal")["reused"] is True
    assert commission("test_three_units")["network"] == "3u-60A-on"
    params = {p["name"]: p for p in allure_results(console_run["tmp"] / "results")["test_three_units"]["parameters"]}
    assert params["network"]["value"] == "'3u-60A-on'" and params["network"]["excluded"] is True  # named in the report


def test_versions_and_serials_are_read_before_any_pairing(console_run: dict[str, Any]) -> None:
    first = read_trace(console_run["tmp"] / "traces" / "test_no_network_needed.jsonl")
    actions = [e.action for e in first.events]
    assert "units_identified" in actions and "commission" not in actions, actions
    assert first.header["firmware_versions"] == {f"wc{i}": "24.44.0" for i in range(1, 7)}
    assert first.header["serials"] == {f"wc{i}": f"SIM0001{i:03d}" for i in range(1, 7)}
    later = read_trace(console_run["tmp"] / "traces" / "test_two_units_again.jsonl")
    assert later.header["firmware_versions"] == first.header["firmware_versions"]  # kept for the run
    # no follower's API was asked for anything once paired: no call to it failed, none was retried
    calls = [e for e in later.events if e.action == "instrument_retry" and e.data.get("instrument") != "wc1-api"]
    assert not calls, calls


# -- operator: prompts, skips, verification -------------------------------------------------------------------------


def operator_rack(tmp: Path, confirm: str) -> Path:
    return fast_rack(tmp, commissioning={"method": "operator", "confirm": confirm, "verify_s": 5.0})


@pytest.mark.parametrize("confirm", ["file", "http"])
def test_operator_commissions_each_network_once_and_tests_that_change_it_are_skipped(tmp_path: Path,
                                                                                      confirm: str) -> None:
    if confirm == "file":  # a console rack run with --commissioning=operator (make nightly COMMISSIONING=operator)
        proc = run_pytest(tmp_path, PLAN, f"--rack={fast_rack(tmp_path)}", "--commissioning=operator")
    else:
        proc = run_pytest(tmp_path, PLAN, f"--rack={operator_rack(tmp_path, confirm)}")
    assert proc.returncode == 0, proc.stdout[-3000:]
    found = summary(proc.stdout)
    assert found.group(3) == "operator" and found.group(1) == found.group(2) == found.group(4) == "2", found.group(0)
    cases = junit_cases(tmp_path / "junit.xml")
    assert cases["test_two_units_removal"] == "skipped", cases
    assert sum(v == "passed" for v in cases.values()) == 4, cases
    assert "changes the network while it runs (remove), which operator commissioning cannot do unattended" \
        in proc.stdout
    # the request was shown and written where the operator looks; the verification is in the test's trace
    assert "rig: operator: rack sim-6: commission the network 3u-60A-on" in proc.stdout
    trace = read_trace(tmp_path / "traces" / "test_three_units.jsonl")
    actions = [e.action for e in trace.events]
    at = actions.index("operator_request")
    assert actions[at + 1] == "operator_answer" and trace.events[at + 1].data["answer"] == "confirm", actions
    verify = actions[at + 2:actions.index("commission")]
    assert verify.count("plug") == 3 and verify.count("unplug") == 3, verify  # every member's vehicle, read-only
    assert not any(a.startswith(("set_", "enable", "remove")) for a in actions), actions


def test_an_operator_who_cannot_do_the_steps_makes_the_rack_unusable(tmp_path: Path) -> None:
    proc = run_pytest(tmp_path, PLAN, f"--rack={operator_rack(tmp_path, 'file')}", env={"RIG_BAD_NETWORK": "1"})
    cases = junit_cases(tmp_path / "junit.xml")
    assert cases["test_three_units"] == "passed" and cases["test_two_units_first"] == "error", cases
    assert cases["test_two_units_again"] == "skipped", cases  # one reason for the rest, no cascade
    result = allure_results(tmp_path / "results")["test_two_units_first"]
    message = result["statusDetails"]["message"]
    assert result["status"] == "broken" and "OperatorError" in message and "limit 200" in message, message
    assert "is unusable since" in proc.stdout


def test_a_unit_answering_with_another_serial_number_is_a_rig_fault(tmp_path: Path) -> None:
    rack = fast_rack(tmp_path)
    text = rack.read_text().replace('serial = "SIM0001003"', 'serial = "SIM0001099"')
    rack.write_text(text)
    proc = run_pytest(tmp_path, PLAN, f"--rack={rack}")
    cases = junit_cases(tmp_path / "junit.xml")
    assert list(cases.values()) == ["error", "skipped", "skipped", "skipped", "skipped"], cases
    result = allure_results(tmp_path / "results")["test_no_network_needed"]
    message = result["statusDetails"]["message"]
    assert result["status"] == "broken" and "UnitIdentityError" in message, message
    assert "answers as serial 'SIM0001003', but the rack file says wc3 is 'SIM0001099'" in message, message
    assert "failed" not in proc.stdout.splitlines()[-1], proc.stdout[-500:]


# -- in process: the units' API on a network, and blame before a timeout --------------------------------------------


@pytest.fixture
def opened(tmp_path: Path) -> Any:
    config = load_rack(fast_rack(tmp_path))
    manifest = load_manifest(config.firmware.manifest)
    with open_rack(config, manifest, tmp_path / "traces" / "t.jsonl") as rack:
        yield rack


def test_a_paired_follower_is_off_the_lab_lan_and_the_leader_is_not(opened: Any) -> None:
    rack = opened
    rack.commission("wc1", ["wc2", "wc3"], 60)
    with pytest.raises(InstrumentError):
        rack.poll_api("wc2").version()
    assert rack.poll_api("wc1").version().serial_number == "SIM0001001"
    assert rack.poll_api("wc4").version().serial_number == "SIM0001004"  # not in the network: still on the LAN
    assert rack.read_versions()["wc2"] == "24.44.0"  # read before pairing, kept


def test_a_timeout_with_an_instrument_reporting_a_problem_is_the_rig_s(opened: Any,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    rack = opened
    with pytest.raises(ConditionTimeout):
        rack.wait_until(lambda r: False, 2, "something that never happens")
    monkeypatch.setattr(rack.io, "health", lambda: ["load1a: protection tripped: OPP (PROT? = 64)"])
    with pytest.raises(InstrumentError) as err:
        rack.wait_until(lambda r: False, 2, "something that never happens")
    assert not isinstance(err.value, AssertionError)
    assert "the firmware is not judged: load1a: protection tripped: OPP" in str(err.value)


def verifier(tmp: Path) -> Any:
    from rig.commissioning.operator import OperatorCommissioner

    return OperatorCommissioner("file", tmp / "requests", 60, "127.0.0.1:0", "tesla-one", 5.0, say=lambda _: None)


def test_verification_refuses_units_that_were_never_networked(opened: Any, tmp_path: Path) -> None:
    from rig.commissioning.operator import CommissioningNotVerified

    rack = opened
    plan = plan_for(list(rack.units), 3, 60)  # the operator confirmed, but the three units stayed standalone
    with pytest.raises(CommissioningNotVerified, match="over the limit 60 A"):
        verifier(tmp_path).verify(rack, plan)
    assert not rack.vehicles  # every vehicle unplugged again


@pytest.mark.parametrize("model", ["firmware_under_test.models.reference:ReferenceFirmware",
                                   "firmware_under_test.models.alternatives:StrictQueue"])
def test_verification_accepts_a_formed_network_whatever_its_sharing_policy(tmp_path: Path, model: str) -> None:
    data_path = fast_rack(tmp_path)
    config = load_rack(data_path)
    config = config.model_copy(update={"sim": config.sim.model_copy(update={"model": model})})
    manifest = load_manifest(config.firmware.manifest)
    with open_rack(config, manifest, tmp_path / "traces" / "t.jsonl") as rack:
        rack.commission("wc1", ["wc2", "wc3"], 60)  # one vehicle after the other, or 6 A floors: both are sharing
        plan = plan_for(list(rack.units), 3, 60)
        verifier(tmp_path).verify(rack, plan)
        assert not rack.vehicles


# -- the channels and the steps -----------------------------------------------------------------------------------


def test_file_channel_confirms_and_aborts_by_request_id(tmp_path: Path) -> None:
    said: list[str] = []
    channel = FileChannel(tmp_path, 60, said.append)
    rid = channel.publish("commission", "do it", ["1. one", "2. two"], network={"limit": 40})
    request = json.loads((tmp_path / "request.json").read_text())
    assert request["id"] == rid and request["steps"] == ["1. one", "2. two"] and request["network"] == {"limit": 40}
    assert (tmp_path / "request.txt").read_text().splitlines()[0] == "do it"
    assert said[0] == "operator: do it" and f"echo {rid} >" in said[-1]
    assert channel.answer(rid) is None
    (tmp_path / "confirm").write_text("commission-99-1\n")  # another request's id: not this one's answer
    assert channel.answer(rid) is None
    (tmp_path / "confirm").write_text(f"{rid}\n")
    assert channel.answer(rid) == ("confirm", "")
    channel.finish(rid)
    assert not (tmp_path / "request.json").exists()
    rid = channel.publish("commission", "again", [])
    (tmp_path / "confirm").write_text(f"{rid} abort the app would not take the limit\n")
    assert channel.answer(rid) == ("abort", "the app would not take the limit")


def test_http_channel_serves_the_request_and_takes_the_answer(tmp_path: Path) -> None:
    channel = HttpChannel(tmp_path, 60, lambda line: None, "127.0.0.1:0")
    try:
        rid = channel.publish("commission", "do it", ["1. one"])
        with urllib.request.urlopen(f"{channel.url}/request", timeout=5) as reply:
            assert json.load(reply)["id"] == rid
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(urllib.request.Request(f"{channel.url}/confirm/other-1", method="POST"), timeout=5)
        assert err.value.code == 409
        assert channel.answer(rid) is None
        done = threading.Event()

        def post() -> None:
            req = urllib.request.Request(f"{channel.url}/abort/{rid}", data=b"no leader found", method="POST")
            urllib.request.urlopen(req, timeout=5).close()
            done.set()

        threading.Thread(target=post).start()
        assert done.wait(5)
        assert channel.answer(rid) == ("abort", "no leader found")
    finally:
        channel.close()


def test_terminal_channel_without_a_terminal_says_how_to_confirm_instead(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    channel = TerminalChannel(tmp_path, 60, lambda line: None)
    rid = channel.publish("commission", "do it", [])

    def no_tty(*args: Any, **kwargs: Any) -> Any:
        raise OSError("no tty")

    monkeypatch.setattr("builtins.open", no_tty)
    verb, why = channel.answer(rid) or ("", "")
    assert verb == "abort" and 'commissioning.confirm = "file"' in why


@pytest.mark.parametrize("app", ["tesla-one", "wizard"])
def test_steps_name_every_setting_of_the_network(app: str) -> None:
    config = load_rack(Path("racks/sim-6.toml"))
    plan = plan_for([u.name for u in config.units], 4, 100, enabled=False, outputs=(48, 48, 40, 16))
    steps = commissioning_steps(config, plan, app)
    text = "\n".join(steps)
    assert all(s.startswith(f"{i}. ") for i, s in enumerate(steps, start=1))
    assert "100 A" in text and "wc2, wc3, wc4" in text and "40 A" in text and "16 A" in text
    assert "Leave wc5, wc6 standalone" in text and ("DISABLED" in text or "OFF" in text)
    assert ("192.168.92.1" in text) == (app == "wizard")
    assert "serial SIM0001004" in text


def test_equal_networks_are_one_configuration() -> None:
    a = NetworkPlan("wc1", ("wc2",), 40, True, (("wc2", 16), ("wc1", 48)))
    b = NetworkPlan("wc1", ["wc2"], 40.0, True, (("wc1", 48.0), ("wc2", 16.0)))
    assert a == b and hash(a) == hash(b) and a.key == "2u-40A-on-wc1=48,wc2=16"
    assert a != NetworkPlan("wc1", ("wc2",), 40, False, a.outputs)
