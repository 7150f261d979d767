"""A labgrid coordinator of one's own on loopback, with simulated racks registered as its places.

The rig's own tests and `make bench` need a lab without a lab: `local_coordinator()` starts `labgrid-coordinator`
on 127.0.0.1 on a port the system chooses (it prints the port it bound), in a directory of its own (it keeps its
places there), and stops it on every way out. `simulated_racks()` writes copies of a simulated rack file under
other names (`sim-a`, `sim-b`...: each rack keeps its own unsafe marker and its own traces' rack name) and
registers each as a place tagged with its rack file.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

from rig.lab.places import RACK_TAG, LabClient, LabError, each

SIM_TAGS = {"kind": "sim"}


def coordinator_executable() -> str:
    beside = Path(sys.executable).with_name("labgrid-coordinator")
    return str(beside) if beside.exists() else "labgrid-coordinator"


@contextlib.contextmanager
def local_coordinator(workdir: Path, start_timeout_s: float = 30.0) -> Iterator[str]:
    """Run a coordinator on 127.0.0.1 for the block; yields its address `127.0.0.1:PORT`. Everything it prints
    goes to `workdir/coordinator.log` (read continuously: a coordinator whose pipe fills up would stop)."""
    workdir.mkdir(parents=True, exist_ok=True)
    log = (workdir / "coordinator.log").open("w", encoding="utf-8")
    proc = subprocess.Popen([coordinator_executable(), "-l", "127.0.0.1:0"], cwd=workdir, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True, bufsize=1)
    found: list[str] = []
    ready = threading.Event()

    def drain() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            log.flush()
            m = re.search(r"listening on (\S+:\d+)", line)
            if m and not found:
                found.append(m.group(1))
                ready.set()
        ready.set()

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        ready.wait(start_timeout_s)
        if not found:
            raise LabError(f"labgrid-coordinator did not start within {start_timeout_s:g} s (exit code "
                           f"{proc.poll()}; see {workdir / 'coordinator.log'})")
        yield found[0]
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        reader.join(5)
        log.close()


def rack_copy(source: Path, name: str, directory: Path) -> Path:
    """A copy of a rack file under another rack name (and with its manifest path made absolute, since the copy
    lives elsewhere)."""
    text = source.read_text(encoding="utf-8")
    text, n = re.subn(r'^name\s*=\s*"[^"]*"', f'name = "{name}"', text, count=1, flags=re.M)
    if n != 1:
        raise LabError(f"{source}: no top-level `name = \"...\"` line to rename")
    root = Path(__file__).resolve().parents[2]

    def absolute(m: re.Match[str]) -> str:
        path = Path(m.group(2))
        return f'{m.group(1)}"{path if path.is_absolute() else root / path}"'

    text = re.sub(r'^(manifest\s*=\s*)"([^"]*)"', absolute, text, flags=re.M)
    directory.mkdir(parents=True, exist_ok=True)
    out = directory / f"{name}.toml"
    out.write_text(text, encoding="utf-8")
    return out


def simulated_racks(address: str, names: list[str], directory: Path, source: Path | None = None,
                    tags: dict[str, str] | None = None) -> dict[str, Path]:
    """Register one place per name, each tagged with its own copy of the simulated rack file."""
    source = source or Path(__file__).resolve().parents[2] / "racks" / "sim-6.toml"
    client = LabClient(address)
    made = {name: rack_copy(source, name, directory) for name in names}
    problems = each(lambda name: client.create_place(name, {RACK_TAG: str(made[name]), **SIM_TAGS, **(tags or {})}),
                    names)
    if problems:
        raise LabError(str(problems[0]))
    return made
