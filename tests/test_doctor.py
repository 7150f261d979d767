"""`rig doctor`: a healthy simulated rack passes; a broken instrument, a wrong identity, an unsafe rack or old
firmware is named, with its fix, and the exit code says so."""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from firmware_under_test.models.reference import ReferenceFirmware
from rig import doctor
from rig.cli import main
from rig.config import load_rack
from rig.doctor import Finding, diagnose
from rig.sim.rack_sim import SimulatedRack

ROOT = Path(__file__).resolve().parents[1]
SIM6 = ROOT / "racks" / "sim-6.toml"
LAB = ROOT / "racks" / "lab-example.toml"


@pytest.fixture
def sim() -> Iterator[SimulatedRack]:
    rack = SimulatedRack(load_rack(SIM6))
    rack.start()
    yield rack
    rack.stop()


def problems(findings: list[Finding]) -> dict[tuple[str, str], Finding]:
    return {(f.subject, f.check): f for f in findings if not f.ok}


def test_the_healthy_simulated_rack_passes_every_check(sim: SimulatedRack) -> None:
    findings = diagnose(sim.rack, sim)
    assert problems(findings) == {}
    config = sim.rack
    subjects = {f.subject for f in findings}
    assert subjects == set(config.instruments) | {u.name for u in config.units}
    checks = {(f.subject, f.check) for f in findings}
    assert {("analyzer", "model"), ("load1a", "safe state"), ("t7-relays", "lines"), ("t7-relays", "safe state"),
            ("ev1", "answers"), ("ev1", "safe state"), ("console1", "answers"), ("wc6", "firmware")} <= checks


def test_a_stopped_instrument_is_named(sim: SimulatedRack) -> None:
    sim.servers["load3b"].stop()
    found = problems(diagnose(sim.rack, sim))
    assert list(found) == [("load3b", "answers")]
    assert "cannot open" in found[("load3b", "answers")].detail
    assert "switch it on" in found[("load3b", "answers")].fix


def test_a_wrong_identity_is_named_with_both_models(sim: SimulatedRack) -> None:
    sim.servers["analyzer"].device.idn = "YOKOGAWA,WT1800E,91N000001,F1.02"
    found = problems(diagnose(sim.rack, sim))
    assert list(found) == [("analyzer", "model")]
    assert found[("analyzer", "model")].detail == "WT1800E (rack file: WT5000)"
    assert "another instrument answers at TCPIP::127.0.0.1::" in found[("analyzer", "model")].fix


def test_an_answer_that_is_no_identity_is_named(sim: SimulatedRack) -> None:
    sim.servers["load2a"].device.idn = "hello"
    found = problems(diagnose(sim.rack, sim))
    assert list(found) == [("load2a", "answers")]
    assert "not an identity" in found[("load2a", "answers")].detail


def test_silent_console_and_can_emulator_are_named(sim: SimulatedRack) -> None:
    sim.servers["console4"].fault = "silent"
    sim.servers["ev1"].fault = "silent"
    found = problems(diagnose(_fast(sim, "console4", "ev1"), sim))
    assert set(found) == {("console4", "answers"), ("ev1", "answers")}
    assert "no answer to 'gpm status'" in found[("console4", "answers")].detail
    assert "no EV_Status from node 1" in found[("ev1", "answers")].detail


def _fast(sim: SimulatedRack, *silent: str) -> SimulatedRack:
    """The same rack with a short timeout for the instruments that will be silent, so they cost a test little
    time (the others keep theirs: a busy machine must not make a healthy one look silent)."""
    assert sim.bound is not None
    sim.bound = sim.bound.model_copy(update={"instruments": {
        name: inst.model_copy(update={"timeout_s": 0.3}) if name in silent else inst
        for name, inst in sim.bound.instruments.items()}})
    return sim


def test_an_unsafe_rack_names_what_is_not_safe(sim: SimulatedRack) -> None:
    world = sim.world
    sim.servers["load2b"].device.on = True  # left on from its front panel
    sim.labjacks["SIM-T7-RELAYS"].write("EIO5", 1)  # wc3's Wi-Fi relay: antenna cut
    sim.labjacks["SIM-T7-PILOTS"].write("EIO0", 1)  # wc1's vehicle B resistor
    world.units["wc6"].b_closed = True  # the CAN emulator's node presents B
    found = problems(diagnose(sim.rack, sim))
    assert set(found) == {("load2b", "safe state"), ("t7-relays", "safe state"), ("t7-pilots", "safe state"),
                          ("ev1", "safe state")}
    assert found[("load2b", "safe state")].detail == "load on (LOAD? = 1)"
    assert found[("t7-relays", "safe state")].detail == "energised: EIO5 (wc3 Wi-Fi cut)"
    assert found[("t7-pilots", "safe state")].detail == "energised: EIO0 (wc1 vehicle B)"
    assert found[("ev1", "safe state")].detail == "pilots not in A: wc6 (node 1) in B"


def test_firmware_older_than_the_network_needs_is_named(sim: SimulatedRack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ReferenceFirmware, "firmware_version", "21.29.1+g4152353e50f744")
    found = problems(diagnose(sim.rack, sim))
    assert {s for s, _ in found} == {"wc1", "wc2", "wc3", "wc4", "wc5", "wc6"}
    f = found[("wc4", "firmware")]
    assert "older than 21.36.6, needed for a six-unit network" in f.detail
    assert f.fix == "update wc4's firmware to 21.36.6 or newer"


def test_the_table_has_one_row_per_finding_with_its_fix() -> None:
    rows = [Finding("load3", "answers", False, "cannot open X", "switch it on"), Finding("wc1", "api", True, "ok")]
    text = doctor.table(rows).splitlines()
    assert text[0].split() == ["SUBJECT", "CHECK", "RESULT", "DETAIL"]
    assert text[1].split()[:3] == ["load3", "answers", "PROBLEM"] and text[1].endswith("-> fix: switch it on")
    assert text[2].split()[:3] == ["wc1", "api", "ok"]


# -- the command -------------------------------------------------------------------------------------------


def test_rig_doctor_passes_on_the_simulated_rack(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor", "--rack", str(SIM6)]) == 0
    out = capsys.readouterr().out
    assert "PROBLEM" not in out and out.rstrip().endswith("the rack is ready")


def test_rig_doctor_names_a_stopped_instrument_and_fails(monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    start = SimulatedRack.start

    def start_then_break(self: SimulatedRack) -> object:
        bound = start(self)
        self.servers["console2"].stop()
        self.servers["analyzer"].device.idn = "YOKOGAWA,WT1800E,1,F1"
        return bound

    monkeypatch.setattr(SimulatedRack, "start", start_then_break)
    assert main(["doctor", "--rack", str(SIM6)]) == 1
    out = capsys.readouterr().out
    problem_rows = [line.split()[:3] for line in out.splitlines() if " PROBLEM " in line]
    assert problem_rows == [["analyzer", "model", "PROBLEM"], ["console2", "answers", "PROBLEM"]]
    assert out.rstrip().endswith("2 problem(s): analyzer, console2; the rack is not ready")


def test_rig_doctor_on_the_lab_rack_here_names_everything_missing() -> None:
    out = io.StringIO()
    assert doctor.run(str(LAB), out) == 1
    text = out.getvalue()
    rack = load_rack(LAB)
    for name in [*rack.instruments, *(u.name for u in rack.units)]:
        assert any(line.split()[:1] == [name] and " PROBLEM " in line for line in text.splitlines()), name
    assert "install LJM" in text and "Traceback" not in text


def test_rig_doctor_as_a_command(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "rig.cli", "doctor", "--rack", str(SIM6)], capture_output=True,
                          text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "the rack is ready" in proc.stdout
    missing = subprocess.run([sys.executable, "-m", "rig.cli", "doctor", "--rack", str(tmp_path / "none.toml")],
                             capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert missing.returncode == 2 and missing.stderr.strip().endswith("none.toml: no such rack file")


def test_a_tripped_breaker_silences_that_units_console_and_api(sim: SimulatedRack) -> None:
    sim.labjacks["SIM-T7-RELAYS"].write("EIO4", 1)  # wc3's breaker relay
    found = problems(diagnose(_fast(sim, "console3"), sim))
    assert set(found) == {("t7-relays", "safe state"), ("console3", "answers"), ("wc3", "api")}
    assert found[("t7-relays", "safe state")].detail == "energised: EIO4 (wc3 breaker tripped)"
