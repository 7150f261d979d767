"""`rig plan --tier T --rack FILE`: what a night of this tier would run on this rack and how long it would take,
without touching any instrument.

It collects the tier's tests as a run would (the rack file decides what its commissioning can do unattended: an
operator-commissioned rack skips the tests that change the network while they run), counts the network
configurations they need (each set up once, rig/fixtures/networks.py), and adds up their rack time as measured on
the simulated rack (`testplans/rack_time.json`, written by `make rack-time`, or measured now with `--measure`),
with an estimate for a real rack: commissioning and reboot allowances from the build's budgets (rig/tiers.py).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from rig.budgets import load_manifest
from rig.config import load_rack
from rig.tiers import (
    CAMPAIGN_SIZE,
    GATE_REAL_LIMIT_H,
    LIMIT_H,
    RACK_TIME_FILE,
    TIERS,
    Allowances,
    estimate,
    load_rack_times,
    save_rack_times,
)

SIM_RACK = "racks/sim-6.toml"


def setup_plan(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plan", help="list a tier's tests, their rack time and a real rack's estimate (no hardware)")
    p.add_argument("--tier", choices=TIERS, default="nightly")
    p.add_argument("--rack", default=SIM_RACK, help=f"rack file (default {SIM_RACK})")
    p.add_argument("--plans", nargs="+", default=["testplans"], metavar="PATH")
    p.add_argument("--times", default=str(RACK_TIME_FILE), help="measured rack times (default %(default)s)")
    p.add_argument("--measure", action="store_true",
                   help="measure the tier's rack time now on the simulated rack instead of reading --times")
    p.add_argument("--save", action="store_true", help="with --measure: write the figures to --times")
    p.add_argument("--json", action="store_true", help="print the plan as JSON")
    p.set_defaults(func=cmd_plan)


class _Grab:
    """A pytest plugin that keeps what collection found, after the rig's own ordering, tiers and skips."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def pytest_collection_finish(self, session: Any) -> None:
        from rig.fixtures import networks

        for item in session.items:
            skip = item.get_closest_marker("skip")
            self.items.append({
                "test": item.nodeid,
                "uses_rack": "rack" in getattr(item, "fixturenames", ()),
                "network": networks.group_key(item) if networks.declared(item) else None,
                "changes": list(networks.changes(item)),
                "skipped": skip.kwargs.get("reason", "") if skip is not None else None,
            })


def collect(tier: str, rack: str, plans: list[str]) -> list[dict[str, Any]]:
    """The tier's tests on this rack, in the order a run takes them."""
    import pytest

    grab = _Grab()
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = pytest.main([*plans, "--collect-only", "-qq", "-p", "no:cacheprovider", "--rack", rack,
                            "--tier", tier], plugins=[grab])
    if code not in (0, 5):  # 5: nothing collected
        raise ValueError(f"the plans could not be collected (pytest exit {code}): {out.getvalue()[-600:]}")
    return grab.items


def measure(tier: str, plans: list[str], out: Path) -> list[dict[str, Any]]:
    """Run the tier on the simulated rack and return each test's rack time."""
    cmd = [sys.executable, "-m", "pytest", *plans, "--rack", SIM_RACK, "--tier", tier, "-q", "-p", "no:allure_pytest",
           "--no-live", "--plots=none", f"--trace-dir={out / 'traces'}", f"--rack-times={out / 'times.jsonl'}"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode not in (0, 1) or not (out / "times.jsonl").exists():
        raise ValueError(f"measuring on {SIM_RACK} failed (pytest exit {proc.returncode}): {proc.stdout[-600:]}")
    lines = (out / "times.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def cmd_plan(args: argparse.Namespace) -> int:
    rack = load_rack(args.rack)
    manifest = load_manifest(rack.firmware.manifest)
    items = collect(args.tier, args.rack, args.plans)
    runnable = [i for i in items if i["skipped"] is None]
    if args.measure:
        with tempfile.TemporaryDirectory() as tmp:
            records = measure(args.tier, args.plans, Path(tmp))
        if args.save:
            save_rack_times(records, Path(args.times))
        from rig.tiers import Measured

        times = {r["test"]: Measured(r["rack_s"], r["commissioning_s"], r["commissionings"], r["power_cycles"],
                                     r.get("scenarios", 0)) for r in records}
        source = f"measured now on {SIM_RACK}" + (f", saved to {args.times}" if args.save else "")
    else:
        times = load_rack_times(Path(args.times))
        source = f"{args.times}, measured on {SIM_RACK} by `make rack-time`"
    networks = len({i["network"] for i in runnable if i["network"]})
    method = rack.commissioning.method
    allow = Allowances.of(manifest.budgets, method)
    est = estimate([i["test"] for i in runnable if i["uses_rack"]], times, networks, allow, CAMPAIGN_SIZE[args.tier])
    limit = LIMIT_H.get(args.tier)
    over = exceeds(args.tier, est.rack_s, est.real_s)
    if args.json:
        print(json.dumps({"tier": args.tier, "rack": rack.name, "commissioning": method, **est.as_dict(),
                          "limit_h": limit, "limit_exceeded": over,
                          "tests_listed": [{**i, "rack_s": getattr(times.get(i["test"]), "rack_s", None)}
                                           for i in items]}, indent=1))
        return 1 if over else 0
    kind = "simulated" if rack.simulated else "hardware"
    print(f"rig plan: tier {args.tier} on rack {rack.name} ({args.rack}, {kind}, {method} commissioning)")
    width = max((len(i["test"]) for i in items), default=10)
    for i in items:
        m = times.get(i["test"])
        m = m.scaled(CAMPAIGN_SIZE[args.tier]) if m is not None else None
        took = "skipped: " + i["skipped"] if i["skipped"] is not None else (
            "no rack" if not i["uses_rack"] else f"{m.rack_s / 60:6.1f} min" if m is not None else "not measured")
        print(f"  {i['test']:<{width}}  {i['network'] or '-':<22} {took}")
    print(f"{len(runnable)} test(s) to run ({est.tests} on the rack), {len(items) - len(runnable)} skipped on this "
          f"rack; {networks} network configuration(s)")
    print(f"rack time: {est.rack_s / 3600:.2f} h ({source})")
    print(f"real rack estimate: {est.real_s / 3600:.2f} h (each commissioning {allow.commissioning_s:.0f} s, each "
          f"power cycle {allow.reboot_s:.0f} s more than simulated; from reboot_s={manifest.budgets.reboot_s:g})")
    if est.unmeasured:
        print(f"not measured ({len(est.unmeasured)}): run `make rack-time` or `rig plan --measure`: "
              + ", ".join(est.unmeasured[:5]) + (" ..." if len(est.unmeasured) > 5 else ""))
    if limit is not None:
        print(f"tier limit: {limit:g} h {'EXCEEDED' if over else 'kept'}")
    return 1 if over else 0


def exceeds(tier: str, rack_s: float, real_s: float) -> bool:
    """Whether a tier's rack time breaks its limit: the gate an hour of rack time and an hour and a half with a
    real rack's allowances, the nightly eight hours on a real rack; the weekend and the soak have none."""
    limit = LIMIT_H.get(tier)
    if limit is None:
        return False
    if tier == "gate":
        return rack_s / 3600 > limit or real_s / 3600 > GATE_REAL_LIMIT_H
    return real_s / 3600 > limit
