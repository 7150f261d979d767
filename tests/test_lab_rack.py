"""Ready for the lab rack: the lab rack file, a rack without its hardware, what every driver leaves open, and the
console transcript kept for the report."""

from __future__ import annotations

import ipaddress
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from rig.budgets import load_manifest
from rig.config import load_rack
from rig.instruments.chroma_load import Chroma63800
from rig.instruments.errors import InstrumentError, InstrumentGarbage, InstrumentTimeout
from rig.instruments.factory import InstrumentsMissing, open_instruments
from rig.instruments.service_console import ServiceConsole
from rig.instruments.yokogawa_wt import YokogawaWT
from rig.rack import open_rack
from rig.sim.rack_sim import SimulatedRack

ROOT = Path(__file__).resolve().parents[1]
SIM6 = ROOT / "racks" / "sim-6.toml"
LAB = ROOT / "racks" / "lab-example.toml"


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def settled_fds(expected: int, within_s: float = 2.0) -> int:
    """The descriptor count once it reaches `expected`, or after `within_s`: in-process servers close their
    end of a connection from their own threads, a moment after the client did."""
    deadline = time.monotonic() + within_s
    while open_fds() != expected and time.monotonic() < deadline:
        time.sleep(0.02)
    return open_fds()


# -- the lab rack file -------------------------------------------------------------------------------------


def test_the_lab_rack_file_loads_and_names_every_identifiable_model() -> None:
    rack = load_rack(LAB)
    assert not rack.simulated
    models = {name: inst.model for name, inst in rack.instruments.items()}
    assert models["analyzer"] == "WT5000"
    assert all(models[f"load{i}{k}"] == "63804" for i in range(1, 7) for k in "abc")
    assert models["t7-pilots"] == models["t7-relays"] == "T7"
    assert rack.instruments["ev1"].can_interface == "socketcan"
    assert rack.unit("wc6").pilot.instrument == "ev1"


def test_the_lab_rack_file_names_hosts_not_ip_addresses() -> None:
    """Its hosts are resolved by the lab's DNS; an IP literal would send a laptop's test run onto some LAN."""
    rack = load_rack(LAB)
    addresses = [i.address for i in rack.instruments.values()] + [u.api for u in rack.units]
    for address in addresses:
        for part in re.split(r"[:/]+", address):
            try:
                ipaddress.ip_address(part)
            except ValueError:
                continue
            pytest.fail(f"{address} names an IP address")


def test_opening_the_lab_rack_here_names_every_missing_instrument_one_line_each() -> None:
    rack = load_rack(LAB)
    with pytest.raises(InstrumentsMissing) as info:
        open_instruments(rack)
    lines = str(info.value).splitlines()
    n = len(rack.instruments)
    assert lines[0] == f"rack 'lab-rack-1': {n} of {n} instruments cannot be opened:"
    assert [line.split(":")[0].strip() for line in lines[1:]] == list(rack.instruments)
    text = "\n".join(lines)
    assert "install LJM" in text  # the T7s: what to install, not the native library's complaint
    assert "sudo ip link set can0 up" in text
    assert isinstance(info.value, InstrumentError)


def test_plans_against_the_lab_rack_without_hardware_end_at_once_without_a_traceback(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "pytest", str(ROOT / "testplans"), "--rack", str(LAB), "-q", "-p", "no:allure_pytest",
           f"--trace-dir={tmp_path}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=60)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out
    assert "Traceback" not in out and "rig/instruments" not in out and "raise " not in out, out
    assert "no tests ran" in out and "no test was run" in out, out
    for name in load_rack(LAB).instruments:
        assert len(re.findall(rf"^rig: +{re.escape(name)}: ", out, re.MULTILINE)) == 1, (name, out)
    assert "install LJM" in out


def test_a_partly_missing_rack_names_only_what_is_missing_and_closes_the_rest() -> None:
    sim = SimulatedRack(load_rack(SIM6))
    bound = sim.start()
    try:
        sim.servers["load3b"].stop()
        sim.servers["console5"].stop()
        before = open_fds()
        with pytest.raises(InstrumentsMissing) as info:
            open_instruments(bound)
        assert [p.instrument for p in info.value.problems] == ["load3b", "console5"]
        assert settled_fds(before) == before  # the servers close their ends of what the rig closed
    finally:
        sim.stop()


# -- nothing left open ---------------------------------------------------------------------------------------


def test_opening_and_closing_the_whole_rack_leaks_no_descriptor_or_thread(tmp_path: Path) -> None:
    config = load_rack(SIM6)
    manifest = load_manifest(ROOT / config.firmware.manifest)

    def cycle(i: int) -> None:
        with open_rack(config, manifest, tmp_path / f"trace{i}.jsonl") as rack:
            rack.plug("wc1", 16)
            rack.plug("wc6", 16)
            rack.wait(2)

    cycle(0)  # first use loads what stays loaded (VISA resource manager, DBC, ...)
    fds, threads = open_fds(), threading.active_count()
    for i in range(1, 5):
        cycle(i)
    assert open_fds() == fds
    assert threading.active_count() <= threads


def test_a_failing_open_leaks_no_descriptor() -> None:
    rack = load_rack(LAB)
    with pytest.raises(InstrumentsMissing):
        open_instruments(rack)
    before = open_fds()
    with pytest.raises(InstrumentsMissing):
        open_instruments(rack)
    assert open_fds() == before


# -- the console transcript -----------------------------------------------------------------------------------


class _Console:
    """A serial-over-TCP console that answers as told: a reply with the prompt, garbage, or nothing."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.replies: list[bytes | None] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        conn, _ = self.server.accept()
        with conn:
            buf = b""
            while True:
                data = conn.recv(1024)
                if not data:
                    return
                buf += data
                while b"\n" in buf:
                    _, buf = buf.split(b"\n", 1)
                    reply = self.replies.pop(0) if self.replies else None
                    if reply == b"DROP":
                        return
                    if reply is not None:
                        conn.sendall(reply)

    def close(self) -> None:
        self.server.close()


def test_the_transcript_records_garbage_silence_and_a_lost_connection() -> None:
    device = _Console()
    console = ServiceConsole("console1", f"socket://127.0.0.1:{device.port}", timeout_s=0.3)
    try:
        device.replies = [b"role=leader\r\nwc> ", b"\x15#?!garbled", None, b"DROP"]
        assert console.command("gpm status") == "role=leader"
        with pytest.raises(InstrumentGarbage):
            console.command("gpm status")
        with pytest.raises(InstrumentTimeout):
            console.command("gpm limit 40")
        with pytest.raises(InstrumentError):
            for _ in range(3):  # the peer closed: pyserial notices on the next read or write
                console.command("gpm enable 1")
    finally:
        console.close()
        device.close()
    t = console.transcript
    assert t[:2] == ["> gpm status", "role=leader"]
    assert t[2] == "> gpm status"
    assert t[3].startswith("\x15#?!garbled") and t[3].endswith("!! no prompt: not a reply")
    assert t[4:6] == ["> gpm limit 40", "!! no answer within 0.3 s"]
    assert t[6] == "> gpm enable 1"
    assert any(line.startswith("!! ") for line in t[7:]), t


def test_an_instrument_that_never_accepts_times_out_when_opened() -> None:
    """pyvisa-py waits 10 s for a connection unless told: the driver gives it the instrument's timeout."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(0)
        fillers = []
        try:
            for _ in range(8):  # a full backlog: the next connection is never accepted
                f = socket.socket()
                f.setblocking(False)
                f.connect_ex(s.getsockname())
                fillers.append(f)
            start = time.monotonic()
            with pytest.raises(InstrumentError) as info:
                Chroma63800("load1", f"TCPIP::127.0.0.1::{s.getsockname()[1]}::SOCKET", timeout_s=0.3)
            elapsed = time.monotonic() - start
        finally:
            for f in fillers:
                f.close()
    assert elapsed < 2.0, elapsed
    assert str(info.value).startswith("load1: cannot open TCPIP::127.0.0.1::")


def test_a_host_that_does_not_resolve_is_named_and_leaks_nothing() -> None:
    with pytest.raises(InstrumentError):
        YokogawaWT("analyzer", "TCPIP::rig-no-such-host.invalid::10001::SOCKET", timeout_s=0.3)
    before = open_fds()
    with pytest.raises(InstrumentError) as info:
        YokogawaWT("analyzer", "TCPIP::rig-no-such-host.invalid::10001::SOCKET", timeout_s=0.3)
    assert "host 'rig-no-such-host.invalid' does not resolve" in str(info.value)
    assert open_fds() == before


def test_each_consoles_transcript_is_attached_to_the_report(tmp_path: Path) -> None:
    plan = tmp_path / "test_commission_plan.py"
    plan.write_text("def test_commission(rack):\n    rack.commission('wc1', ['wc2'], 40)\n", encoding="utf-8")
    results = tmp_path / "allure"
    cmd = [sys.executable, "-m", "pytest", str(plan), "--rack", str(SIM6), "-q", f"--alluredir={results}",
           f"--trace-dir={tmp_path / 'traces'}", "-p", "no:cacheprovider"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # attached in the rack fixture's teardown, as the trace is: Allure keeps those in the fixture's container
    attached = {a["name"]: (results / a["source"]).read_text()
                for c in results.glob("*-container.json") for after in json.loads(c.read_text()).get("afters", [])
                for a in after.get("attachments", []) if a["name"].startswith("console ")}
    assert "> gpm form wc2" in attached["console console1"]
    assert "OK" in attached["console console1"]
    assert "> gpm status" in attached["console console2"]


def test_load_on_and_off_raise_the_instruments_own_error() -> None:
    """A load that refuses LOAD ON (protection latched) says why in *ESR? and PROT?: a rig fault naming the
    protection bits, not a vehicle that silently draws nothing; a command error is named from *ESR?."""
    from firmware_under_test.models.reference import ReferenceFirmware
    from rig.sim.chroma_load import ChromaLoad
    from rig.sim.line_server import LineServer
    from rig.sim.world import World

    world = World(load_rack(SIM6), ReferenceFirmware)
    device = ChromaLoad(world, world.units["wc1"], "63804000001")
    server = LineServer(device).start()
    load = Chroma63800("load1", f"TCPIP::127.0.0.1::{server.port}::SOCKET", timeout_s=1.0)
    try:
        load.on()
        assert load.is_on()
        device.trip(64)  # OPP
        with pytest.raises(InstrumentError) as info:
            load.on()
        assert str(info.value) == "load1: refuses LOAD ON: protection latched (OPP, PROT? = 64)"
        device.esr |= 32
        with pytest.raises(InstrumentError, match=r"after 'LOAD OFF' the instrument reports \*ESR\? = 32 \(command "
                                                  r"error\)"):
            load.off()
        load.off()
        assert not load.is_on()
    finally:
        load.close()
        server.stop()
