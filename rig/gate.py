"""`rig gate`: one command that says whether a firmware build may be released.

    rig gate --firmware firmware_under_test/manifests/<build>.toml --rack racks/<rack>.toml

1. **The build on the rack is the build under test.** The rack is opened and every unit's firmware version read
   from its API; each must be the version the manifest names. If one is not, the gate has not been asked to
   judge what is on the rack, so it judges nothing: *incomplete*.
2. **The gating plan runs** (`testplans/` unless `--plans` says otherwise), as `pytest` in a subprocess with the
   rack and the manifest, as a run of its own: a run folder `reports/runs/<start>/` (rig/runs.py) with its
   JUnit XML, Allure results (`make report` shows the gate's run), traces and `run.json`, and one JSON line per
   test in `reports/gate/outcomes.jsonl`. Ctrl-C, SIGTERM or SIGHUP to the gate reach pytest, which stops as any
   run does (the rack left safe); the gate then still writes its verdict: incomplete.
3. **The verdict**, written to `reports/gate.json` for machines and `reports/gate.txt` (also printed) for
   people, with each check's result, the budgets judged by, the firmware versions and any rig fault.

Exit codes:

- **0, pass**: every test that ran passed and nothing was broken. In the gate tier (the default) every test must
  have run: one the rack cannot run (a network change an operator-commissioned rack cannot make unattended, more
  units than the rack has) leaves a seed promise unjudged, so the gate is incomplete. With another tier or
  `--plans`, a test its plan skips is listed, not judged; a run where every test is skipped is incomplete.
- **1, fail**: at least one test failed, i.e. a check (or a condition the firmware had to meet in time) found a
  firmware defect. A defect found is a defect, so this holds even if another test was broken; the rig faults
  are listed beside it.
- **2, incomplete**: no verdict on the firmware. An instrument (or the rig) broke, no test ran, pytest itself
  stopped, the rack does not run the version the manifest names, or the run ended early: interrupted (a
  signal), rack unusable, or tests left not run, as its `run.json` says. (When the rack becomes unusable the
  rest of the night is skipped, but the test that broke it makes the run incomplete.) A run that ended early is
  incomplete even when a test already failed: the failures found are named in the reason, but a release is
  judged on the whole plan. A broken instrument never gives pass or fail (DESIGN rule 8): mend the rig and run
  the gate again.

On a simulated rack the build's firmware is the model its manifest names (`model = "module:Class"`), else the
rack file's [sim] model; on a real rack, whatever is flashed, which is why the version check comes first.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rig import runs
from rig.budgets import Manifest, load_manifest
from rig.config import Rack as RackConfig
from rig.config import load_rack
from rig.tiers import TIERS

PASS, FAIL, INCOMPLETE = 0, 1, 2
VERDICTS = {PASS: "pass", FAIL: "fail", INCOMPLETE: "incomplete"}


def add_gate_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gate", help="judge a firmware build: 0 pass, 1 fail, 2 incomplete (rig fault)",
                       description=__doc__.split("\n\n")[0])
    p.add_argument("--firmware", required=True, metavar="MANIFEST",
                   help="the build's manifest, e.g. firmware_under_test/manifests/reference.toml")
    p.add_argument("--rack", default="racks/sim-6.toml", help="rack file (default: racks/sim-6.toml)")
    p.add_argument("--plans", nargs="+", default=["testplans"], metavar="PATH",
                   help="the gating plan: test plan files or directories (default: testplans)")
    p.add_argument("--tier", choices=[*TIERS, "all"], default="gate",
                   help="which tier of the plans gates the build (default: gate, about an hour of rack time; "
                        "nightly, weekend, soak, or all)")
    p.add_argument("--out", default="reports",
                   help="the reports folder: gate.json, gate.txt, gate/, and the run's folder under runs/")
    p.set_defaults(func=cmd_gate)


def model_for(rack: RackConfig, manifest: Manifest) -> str | None:
    """The simulated firmware that stands for the build: the manifest's model, else the rack file's."""
    if rack.sim is None:
        return None
    return manifest.model or rack.sim.model


def read_versions(rack: RackConfig, manifest: Manifest, trace_path: Path) -> dict[str, str]:
    """Open the rack as a test would and read every unit's firmware version from its API."""
    from rig.rack import open_rack

    with open_rack(rack, manifest, trace_path, model_for(rack, manifest)) as opened:
        return dict(opened.trace.header.get("firmware_versions") or {})


def run_plans(cmd: list[str], env: dict[str, str] | None = None, tail_lines: int = 40) -> tuple[int, str]:
    """Run pytest, passing its output through as it comes (live progress included); return its exit code and
    the last lines of its output, kept for gate.json. SIGINT, SIGTERM and SIGHUP sent to the gate are passed on
    to pytest (a signal from the terminal reaches both; pytest says a repeat nothing new), and the gate waits for
    it to stop: it never leaves pytest running, and still judges what ran."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    assert proc.stdout is not None
    restore = _pass_signals_to(proc)
    try:
        out = sys.stdout.buffer if hasattr(sys.stdout, "buffer") else None
        kept = bytearray()
        fd = proc.stdout.fileno()
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            kept += chunk
            del kept[:-65536]
            if out is not None:
                out.write(chunk)
                out.flush()
        code = proc.wait()
    finally:
        restore()
        if proc.poll() is None:  # the gate itself failed: pytest stops with it
            proc.terminate()
            proc.wait()
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", kept.decode("utf-8", "replace"))  # no terminal codes in gate.json
    return code, "\n".join(text.splitlines()[-tail_lines:])


def _pass_signals_to(proc: subprocess.Popen[bytes]) -> Any:
    """While pytest runs, the gate's SIGINT/SIGTERM/SIGHUP go to pytest; returns what restores the handlers."""
    previous: dict[int, Any] = {}

    def forward(signum: int, frame: Any) -> None:
        if proc.poll() is None:
            proc.send_signal(signum)

    for sig in (signal.SIGINT, getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)):
        if sig is not None:
            try:
                previous[sig] = signal.signal(sig, forward)
            except (OSError, ValueError):  # not the main thread
                pass

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore


def read_outcomes(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def judge(outcomes: list[dict[str, Any]], pytest_code: int | None,
          record: dict[str, Any] | None = None, whole_plan: bool = False) -> tuple[int, str]:
    """The exit code and the one-line reason, from the tests' outcomes, pytest's own exit code and the run's
    record (run.json): a run that ended early is incomplete, whatever its tests said so far. With `whole_plan`
    (the gate tier: every seed promise once), a test the rack could not run leaves a promise unjudged, so the
    verdict is incomplete rather than pass."""
    counts = Counter(o["outcome"] for o in outcomes)
    if record is not None and runs.ended_early(record):
        failed = f"; {counts['failed']} test(s) had already failed" if counts["failed"] else ""
        return INCOMPLETE, f"the run ended early: {runs.summary(record)}{failed}"
    if counts["interrupted"]:
        return INCOMPLETE, f"{counts['interrupted']} test(s) interrupted: no verdict on the firmware"
    if counts["failed"]:
        checks = sorted({c["check"] for o in outcomes if o["outcome"] == "failed" for c in o["checks"]
                         if not c["passed"]})
        why = f"{counts['failed']} test(s) failed" + (f" ({', '.join(checks)})" if checks else "")
        if counts["broken"]:
            why += f"; {counts['broken']} broken by a rig fault"
        return FAIL, why
    if counts["broken"]:
        return INCOMPLETE, f"{counts['broken']} test(s) broken by a rig fault: no verdict on the firmware"
    if pytest_code not in (0, None) or not outcomes:
        return INCOMPLETE, f"pytest stopped (exit code {pytest_code}) with {len(outcomes)} test(s) run"
    if not counts["passed"]:
        return INCOMPLETE, f"no test ran: all {len(outcomes)} skipped"
    if whole_plan and counts["skipped"]:
        names = [o["test"].split("::")[-1] for o in outcomes if o["outcome"] == "skipped"]
        why = next((o["message"] for o in outcomes if o["outcome"] == "skipped" and o["message"]), "")
        return INCOMPLETE, (f"{counts['skipped']} test(s) of the gate tier could not run on this rack, so their "
                            f"promises are not judged: {', '.join(names[:5])}{' ...' if len(names) > 5 else ''}"
                            + (f" ({why.splitlines()[0][:200]})" if why else ""))
    skipped = f" ({counts['skipped']} skipped by their plans, listed in gate.json)" if counts["skipped"] else ""
    return PASS, f"all {counts['passed']} test(s) that ran passed{skipped}"


def check_table(outcomes: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per check: in how many tests it passed and failed, and the tests it failed in."""
    table: dict[str, dict[str, Any]] = {}
    for o in outcomes:
        for c in o["checks"]:
            row = table.setdefault(c["check"], {"passed": 0, "failed": 0, "failed_in": []})
            if c["passed"]:
                row["passed"] += 1
            else:
                row["failed"] += 1
                row["failed_in"].append({"test": o["test"], "summary": c["summary"],
                                         "evidence": c["violations"][:3]})
        if o["outcome"] == "failed" and all(c["passed"] for c in o["checks"]):
            row = table.setdefault("(condition waited for)", {"passed": 0, "failed": 0, "failed_in": []})
            row["failed"] += 1
            row["failed_in"].append({"test": o["test"], "summary": (o["message"] or "").splitlines()[0][:300],
                                     "evidence": []})
    return table


def summary_text(g: dict[str, Any]) -> str:
    """gate.json for people."""
    lines = [f"rig gate: {g['verdict'].upper()} (exit {g['exit_code']}): {g['reason']}"]
    lines.append(f"  build     {g['build']} {g['expected_version']} ({g['manifest']})")
    rack = g["rack"]
    model = f", model {g['firmware_model']}" if g.get("firmware_model") else ""
    lines.append(f"  rack      {rack['name']} ({rack['mode']}{model}), {rack['file']}")
    versions = g.get("firmware_versions") or {}
    if versions:
        by_version: dict[str, list[str]] = {}
        for unit, v in versions.items():
            by_version.setdefault(v, []).append(unit)
        shown = "; ".join(f"{', '.join(units)}: {v}" for v, units in by_version.items())
        lines.append(f"  firmware  {shown}" + ("" if g["version_check"]["ok"] else "  <- not the build under test"))
    else:
        lines.append("  firmware  not read")
    budgets = " ".join(f"{k}={v:g}" for k, v in g["budgets"].items())
    lines.append(f"  budgets   {budgets}")
    c = g["counts"]
    if g["tests"]:
        cut = f", {c['interrupted']} interrupted" if c.get("interrupted") else ""
        lines.append(f"  tests     {len(g['tests'])} run in {g['duration_s']:.0f} s: {c.get('passed', 0)} passed, "
                     f"{c.get('failed', 0)} failed, {c.get('broken', 0)} broken, {c.get('skipped', 0)} skipped{cut}")
    if g["checks"]:
        lines.append("checks:")
        width = max(len(k) for k in g["checks"])
        for name, row in g["checks"].items():
            if row["failed"]:
                result = f"FAILED in {row['failed']} of {row['failed'] + row['passed']} test(s)"
            else:
                result = f"passed in {row['passed']} test(s)"
            lines.append(f"  {name:<{width}}  {result}")
            for f in row["failed_in"][:5]:
                lines.append(f"      {f['test']}: {f['summary']}")
                lines.extend(f"        - {e}" for e in f["evidence"][:2])
            if len(row["failed_in"]) > 5:
                lines.append(f"      ... and {len(row['failed_in']) - 5} more (gate.json)")
    skipped = [t for t in g["tests"] if t["outcome"] == "skipped"]
    if skipped:
        lines.append("skipped by their plans (not judged):")
        lines.extend(f"  {t['test']}: {(t['message'] or '').splitlines()[0][:200] if t['message'] else ''}"
                     for t in skipped[:10])
    if g["rig_faults"]:
        lines.append("rig faults (broken, not judged):")
        for f in g["rig_faults"][:10]:
            lines.append(f"  {f['test']} ({f['phase']}): {f['message']}".replace("\n", "\n    "))
        if len(g["rig_faults"]) > 10:
            lines.append(f"  ... and {len(g['rig_faults']) - 10} more (gate.json)")
    else:
        lines.append("rig faults: none")
    if g.get("run"):
        lines.append(f"run: {g['reports']['run']}: {runs.summary(g['run'])}")
    where = [g["reports"]["gate_json"], g["reports"].get("junit"), g["reports"].get("allure_results")]
    lines.append(f"reports: {', '.join(w for w in where if w)} (`make report` for the HTML)")
    return "\n".join(lines) + "\n"


def cmd_gate(args: argparse.Namespace) -> int:
    started = time.monotonic()
    manifest = load_manifest(args.firmware)
    rack = load_rack(args.rack)
    out = Path(args.out)
    gate_dir = out / "gate"
    gate_dir.mkdir(parents=True, exist_ok=True)
    outcomes_path = gate_dir / "outcomes.jsonl"
    outcomes_path.unlink(missing_ok=True)
    g: dict[str, Any] = {
        "verdict": None, "exit_code": None, "reason": None,
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "build": manifest.build, "expected_version": manifest.version, "manifest": str(args.firmware),
        "rack": {"name": rack.name, "file": str(args.rack), "mode": "simulated" if rack.simulated else "hardware"},
        "firmware_model": model_for(rack, manifest),
        "firmware_versions": {}, "version_check": {"ok": False, "mismatched": {}},
        "budgets": {**manifest.budgets.model_dump(), "measurement_tolerance_a": rack.measurement_tolerance_a},
        "plans": list(args.plans), "tier": args.tier, "pytest_exit_code": None, "counts": {}, "checks": {}, "tests": [],
        "rig_faults": [], "duration_s": 0.0, "git_revision": _git_revision(),
        "reports": {"gate_json": str(out / "gate.json"), "gate_txt": str(out / "gate.txt"),
                    "outcomes": str(outcomes_path)},
        "run": None,
    }
    code, reason = _version_check(g, rack, manifest, gate_dir)
    if code is None:
        before = {f.path for f in runs.run_folders(out)}
        cmd = [sys.executable, "-m", "pytest", *args.plans, "--rack", str(args.rack), "--manifest",
               str(args.firmware), "--reports", str(out), "--outcomes", str(outcomes_path), "-q"]
        if args.tier != "all":
            cmd += ["--tier", args.tier]
        env = dict(os.environ)
        if sys.stdout.isatty():  # pytest's output comes through a pipe: ask for what a terminal would get
            cmd += ["--live", "--color=yes"]
            env["COLUMNS"] = str(shutil.get_terminal_size().columns)
        print(f"rig gate: running {' '.join(args.plans)} (tier {args.tier}) against {rack.name} for "
              f"{manifest.build} {manifest.version}", flush=True)
        pytest_code, tail = run_plans(cmd, env)
        outcomes = read_outcomes(outcomes_path)
        g["pytest_exit_code"] = pytest_code
        folder = next((f for f in reversed(runs.run_folders(out)) if f.path not in before), None)
        record = runs.read_record(folder) if folder is not None else None
        if folder is not None and record is not None:
            g["run"] = {k: record.get(k) for k in ("run", "status", "reason", "planned", "ran", "not_run")}
            g["reports"].update({"run": str(folder.path), "junit": str(folder.junit),
                                 "allure_results": str(folder.allure_results)})
        code, reason = judge(outcomes, pytest_code, record, whole_plan=args.tier == "gate")
        if code == INCOMPLETE and pytest_code not in (0, 1):
            g["pytest_output_tail"] = tail
        g["counts"] = dict(Counter(o["outcome"] for o in outcomes))
        g["checks"] = check_table(outcomes)
        g["tests"] = [{"test": o["test"], "outcome": o["outcome"], "phase": o["phase"],
                       "message": o["message"], "checks": o["checks"], "duration_s": o["duration_s"]}
                      for o in outcomes]
        g["rig_faults"] += [{"test": o["test"], "phase": o["phase"],
                             "message": (o["message"] or "").splitlines()[0][:400] if o["message"] else ""}
                            for o in outcomes if o["outcome"] == "broken"]
    g["exit_code"], g["verdict"], g["reason"] = code, VERDICTS[code], reason
    g["duration_s"] = round(time.monotonic() - started, 1)
    out.mkdir(parents=True, exist_ok=True)
    (out / "gate.json").write_text(json.dumps(g, indent=2) + "\n", encoding="utf-8")
    text = summary_text(g)
    (out / "gate.txt").write_text(text, encoding="utf-8")
    print(text, end="", flush=True)
    return code


def _version_check(g: dict[str, Any], rack: RackConfig, manifest: Manifest,
                   gate_dir: Path) -> tuple[int | None, str]:
    """Fill the version check into `g`; (None, "") when the plans may run, else the exit code and reason."""
    try:
        versions = read_versions(rack, manifest, gate_dir / "version-check.jsonl")
    except Exception as exc:  # any way the rack cannot be opened is a rig fault, not a firmware verdict
        name = type(exc).__name__
        g["rig_faults"].append({"test": "version check", "phase": "open rack", "message": f"{name}: {exc}"})
        first = (str(exc).splitlines() or [""])[0]
        return INCOMPLETE, f"the rack could not be opened to read the firmware versions ({name}: {first})"
    g["firmware_versions"] = versions
    mismatched = {u: v for u, v in versions.items() if v != manifest.version}
    g["version_check"] = {"ok": bool(versions) and not mismatched, "mismatched": mismatched}
    if not versions:
        return INCOMPLETE, "no unit reported a firmware version"
    if mismatched:
        shown = ", ".join(f"{u} reports {v}" for u, v in mismatched.items())
        return INCOMPLETE, (f"the rack does not run {manifest.build} {manifest.version} ({shown}): flash the build "
                            "under test (or name the right manifest) and run the gate again")
    return None, ""


def _git_revision() -> str:
    from rig.fixtures.reporting import git_revision

    return git_revision(Path.cwd())
