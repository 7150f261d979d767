"""`make bench`: speed and memory figures of the rig, printed as `name: value` lines. It measures; it does not
pass or fail.

- speedup: simulated seconds the nightly plan covers per wall-clock second (the plans run in a subprocess,
  exactly as `make nightly` runs them; the simulated seconds are read back from the traces they wrote).
- sample_ms: the cost of one full-rack sample (every pilot, every current, vehicles, trace) on a commissioned
  six-unit network with six vehicles charging.
- peak_rss_mb: the largest resident memory of the plan run.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rig.budgets import load_manifest
from rig.config import load_rack
from rig.rack import open_rack
from rig.trace import read_trace


def nightly_speedup(rack_file: str) -> tuple[float, float, float, int]:
    """Run the plans; return (simulated seconds, wall seconds, peak RSS MB, traces)."""
    with tempfile.TemporaryDirectory() as tmp:
        traces = Path(tmp) / "traces"
        cmd = [sys.executable, "-m", "pytest", "testplans", "-q", "-p", "no:allure_pytest", f"--rack={rack_file}",
               f"--trace-dir={traces}"]
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if proc.returncode not in (0, 1):
            raise SystemExit(f"bench: the plans did not run: {proc.stdout[-400:]}{proc.stderr[-400:]}")
        simulated = 0.0
        files = sorted(traces.glob("*.jsonl"))
        for f in files:
            trace = read_trace(f)
            if trace.samples:
                simulated += trace.samples[-1].t - trace.samples[0].t
    rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return simulated, wall, rss_mb, len(files)


def sample_cost(rack_file: str, ticks: int = 2000) -> float:
    """Milliseconds per tick with the whole rack charging."""
    cfg = load_rack(rack_file)
    manifest = load_manifest(cfg.firmware.manifest)
    with tempfile.TemporaryDirectory() as tmp, open_rack(cfg, manifest, Path(tmp) / "bench.jsonl") as rack:
        names = [u.name for u in cfg.units]
        rack.commission(names[0], names[1:], cfg.network.limit_a)
        for n in names:
            rack.plug(n, 48)
        rack.wait(30)
        start = time.perf_counter()
        rack.wait(ticks * rack.period)
        return (time.perf_counter() - start) * 1000 / ticks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rack", default="racks/sim-6.toml")
    args = parser.parse_args()
    simulated, wall, rss, count = nightly_speedup(args.rack)
    print(f"nightly_scenarios: {count}")
    print(f"nightly_wall_s: {wall:.1f}")
    print(f"nightly_simulated_s: {simulated:.0f}")
    print(f"speedup: {simulated / wall:.0f}")
    print(f"sample_ms: {sample_cost(args.rack):.3f}")
    print(f"peak_rss_mb: {rss:.0f}")


if __name__ == "__main__":
    main()
