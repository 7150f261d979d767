"""The wall time of a plan sharded over N simulated racks, for `make bench`.

`sharded_wall_s()` builds a throwaway lab (a coordinator on loopback, N copies of the simulated rack registered
as places), runs the plan through `--lab` exactly as a lab night runs (one xdist worker per rack from two racks
on), and returns the wall seconds of that run, coordinator start and place registration excluded: what an
engineer waits for, from `rig run` to its exit.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from rig.lab.coordinator import SIM_TAGS, local_coordinator, simulated_racks

ROOT = Path(__file__).resolve().parents[2]


def sharded_wall_s(plans: Sequence[str], racks: int, pytest_args: Sequence[str] = (),
                   rack_file: Path | None = None) -> float:
    """Run `plans` sharded over `racks` simulated racks; the wall seconds it took. Raises RuntimeError when the
    run did not get through its tests (pytest's exit code other than 0 or 1)."""
    with tempfile.TemporaryDirectory(prefix="rig-bench-lab-") as tmp_name:
        tmp = Path(tmp_name)
        with local_coordinator(tmp / "coordinator") as address:
            names = [f"sim-{chr(ord('a') + i)}" for i in range(racks)]
            simulated_racks(address, names, tmp / "racks", source=rack_file)
            cmd = [sys.executable, "-m", "pytest", *plans, "-q", "-p", "no:cacheprovider", "-p", "no:allure_pytest",
                   "--lab", address, "--racks", str(racks), "--place-tags",
                   *(f"{k}={v}" for k, v in SIM_TAGS.items()), f"--trace-dir={tmp / 'traces'}", *pytest_args]
            start = time.perf_counter()
            proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=dict(os.environ))
            wall = time.perf_counter() - start
        if proc.returncode not in (0, 1):
            tail = (proc.stdout[-600:] + proc.stderr[-600:]).strip()
            raise RuntimeError(f"the sharded run on {racks} rack(s) did not run (exit {proc.returncode}): {tail}")
        return wall


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("plans", nargs="+")
    parser.add_argument("--racks", type=int, nargs="+", default=[1, 3])
    args = parser.parse_args()
    for n in args.racks:
        print(f"sharded_wall_s_{n}_racks: {sharded_wall_s(args.plans, n):.1f}", flush=True)
