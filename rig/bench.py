"""`make bench`: speed, memory and rack-time figures of the rig, printed as `name: value` lines. It measures; it
does not pass or fail.

- rack_time_<tier>_h: the rack time of each tier (gate, nightly, weekend), measured on the simulated rack from one
  weekend run (every test records its own rack time), and rack_time_<tier>_real_h, the estimate for a real rack
  (rig/tiers.py: commissioning and reboot allowances from the budgets);
- speedup: simulated seconds per wall-clock second of that run (the plans run in a subprocess, exactly as `make
  nightly` runs them);
- sample_ms: the cost of one full-rack sample (every pilot, every current, vehicles, trace) on a commissioned
  six-unit network with six vehicles charging;
- gate_wall_<n>_racks_s: the wall time of the gate tier sharded over n simulated racks through a labgrid
  coordinator (rig/lab/bench.py);
- peak_rss_mb: the largest resident memory of the plan runs.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rig.budgets import load_manifest
from rig.config import load_rack
from rig.rack import open_rack
from rig.tiers import CAMPAIGN_SIZE, Allowances, Measured, estimate


def tier_times(rack_file: str, tier: str = "weekend") -> tuple[dict[str, Measured], float]:
    """Run a tier on the simulated rack; every test's measured rack time, and the wall seconds it took."""
    with tempfile.TemporaryDirectory() as tmp:
        times = Path(tmp) / "times.jsonl"
        cmd = [sys.executable, "-m", "pytest", "testplans", "-q", "-p", "no:allure_pytest", "--no-live",
               "--plots=none", f"--rack={rack_file}", f"--tier={tier}", f"--trace-dir={Path(tmp) / 'traces'}",
               f"--rack-times={times}"]
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if proc.returncode not in (0, 1) or not times.exists():
            raise SystemExit(f"bench: the plans did not run: {proc.stdout[-400:]}{proc.stderr[-400:]}")
        records = [json.loads(line) for line in times.read_text(encoding="utf-8").splitlines() if line.strip()]
    return {r["test"]: Measured(r["rack_s"], r["commissioning_s"], r["commissionings"], r["power_cycles"],
                                r.get("scenarios", 0)) for r in records}, wall


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
    parser.add_argument("--racks", type=int, nargs="+", default=[1, 3], help="racks to shard the gate over")
    args = parser.parse_args()
    from rig.night_plan import collect

    cfg = load_rack(args.rack)
    allow = Allowances.of(load_manifest(cfg.firmware.manifest).budgets, cfg.commissioning.method)
    measured, wall = tier_times(args.rack)
    for tier in ("gate", "nightly", "weekend"):
        items = [i for i in collect(tier, args.rack, ["testplans"]) if i["skipped"] is None]
        est = estimate([i["test"] for i in items if i["uses_rack"]], measured,
                       len({i["network"] for i in items if i["network"]}), allow, CAMPAIGN_SIZE[tier])
        print(f"rack_time_{tier}_h: {est.rack_s / 3600:.2f}")
        print(f"rack_time_{tier}_real_h: {est.real_s / 3600:.2f}")
        print(f"tests_{tier}: {est.tests}")
        print(f"networks_{tier}: {est.networks}", flush=True)
    simulated = sum(m.rack_s for m in measured.values())
    print(f"weekend_wall_s: {wall:.1f}")
    print(f"speedup: {simulated / wall:.0f}")
    print(f"sample_ms: {sample_cost(args.rack):.3f}", flush=True)
    from rig.lab.bench import sharded_wall_s

    for n in args.racks:
        print(f"gate_wall_{n}_racks_s: {sharded_wall_s(['testplans'], n, ['--tier', 'gate', '--plots=none']):.1f}",
              flush=True)
    print(f"peak_rss_mb: {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:.0f}")


if __name__ == "__main__":
    main()
