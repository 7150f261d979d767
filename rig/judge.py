"""`rig judge`: judge a stored night's traces again with another manifest's budgets, without the rack.

Checks are pure functions of a trace (DESIGN rule 3), and every test notes in its trace's header which checks
judged it (`judged`, written by the plugin's `expect()`; the campaign writes its own). So a lab that tightens a
budget re-judges last week's nights in seconds:

    rig judge reports/traces --manifest firmware_under_test/manifests/tight.toml \\
        --alluredir reports/judge/allure-results --junitxml reports/judge/junit.xml

Every trace is one result, named after the test that wrote it: *passed* when every check passed, *failed* (a
firmware defect) when one failed, *broken* when the trace cannot be read or its test ended on a rig fault (the
rig was not sure of what it measured, so nothing is blamed on the firmware), *skipped* when no check judged it.
A campaign scenario's checks that the scenario did not exercise are listed, not failed, as in the night. The
output is what a run writes: verdicts on the terminal, Allure results and JUnit XML (a failed check a
<failure>, a broken trace an <error>). Exit code 0 when everything passed, 1 when a check failed, 2 when a
trace was broken or nothing was judged.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rig.budgets import Budgets, load_manifest
from rig.checks import REGISTRY, Verdict
from rig.trace import read_trace

CATEGORIES = [
    {"name": "Firmware defects", "matchedStatuses": ["failed"],
     "description": "A check failed when the stored trace was judged again."},
    {"name": "Rig faults", "matchedStatuses": ["broken"],
     "description": "The trace could not be read, or its test ended on a rig fault: the firmware is not judged."},
]


@dataclass
class Judged:
    """One stored trace judged again."""

    path: Path
    test: str
    outcome: str
    """passed, failed, broken or skipped."""
    message: str = ""
    verdicts: list[Verdict] = field(default_factory=list)
    listed: list[Verdict] = field(default_factory=list)
    """Verdicts of checks the scenario did not exercise where that is not a failure (campaign scenarios)."""


def find_traces(paths: list[str]) -> list[Path]:
    """Every .jsonl trace under the given files and directories, in a stable order."""
    found: list[Path] = []
    for name in paths:
        p = Path(name)
        if p.is_dir():
            found += sorted(p.rglob("*.jsonl"))
        elif p.is_file():
            found.append(p)
        else:
            raise ValueError(f"{p}: no such trace file or directory")
    return found


def judge_trace(path: Path, budgets: Budgets) -> Judged:
    """Judge one stored trace again with `budgets`."""
    try:
        trace = read_trace(path)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return Judged(path, path.stem, "broken", f"{path}: cannot be read: {exc}")
    test = str(trace.header.get("test") or path.stem)
    fault = next((e for e in trace.events if e.action == "rig_fault"), None)
    if fault is not None:
        return Judged(path, test, "broken", f"{path}: its test ended on a rig fault at t={fault.t:.1f} s "
                                            f"({json.dumps(fault.data)[:300]}); the firmware is not judged")
    entries = trace.header.get("judged") or []
    if not entries:
        return Judged(path, test, "skipped", "no check judged this trace in its run")
    trace = trace.as_judged()
    tol = float(trace.header.get("measurement_tolerance_a", 0.5))
    result = Judged(path, test, "passed")
    try:
        for entry in entries:
            name = entry.get("check")
            if name not in REGISTRY:
                raise ValueError(f"the trace names an unknown check {name!r}")
            v = REGISTRY[name](trace, budgets, tol, {k: x for k, x in entry.items() if k not in ("check",
                                                                                              "exercised_only")})
            (result.listed if entry.get("exercised_only") and not v.exercised else result.verdicts).append(v)
    except (ValueError, KeyError, TypeError) as exc:
        return Judged(path, test, "broken", f"{path}: cannot be judged: {type(exc).__name__}: {exc}")
    failed = [v for v in result.verdicts if not v.passed]
    if failed:
        result.outcome = "failed"
        result.message = "\n".join(v.report() for v in failed)
    if any(e.action == "protection_trip" for e in trace.events):
        result.outcome = "failed"
        result.message = (result.message + "\n" if result.message else "") + \
            "the rig's protection interlock tripped during this test"
    return result


def changed_budgets(traces: list[Judged], budgets: Budgets) -> dict[str, tuple[Any, Any]]:
    """Budgets that differ from those the night was judged by (first readable trace's header)."""
    for j in traces:
        try:
            before = read_trace(j.path).header.get("budgets") or {}
        except (OSError, ValueError):
            continue
        now = budgets.model_dump()
        return {k: (before.get(k), v) for k, v in now.items() if before.get(k) != v}
    return {}


def write_allure(results: list[Judged], budgets: Budgets, build: str, outdir: Path) -> None:
    """One Allure result per trace, with each verdict attached, in the form allure-pytest writes."""
    outdir.mkdir(parents=True, exist_ok=True)
    now = int(time.time() * 1000)
    compact = " ".join(f"{k}={v}" for k, v in budgets.model_dump().items())
    status = {"passed": "passed", "failed": "failed", "broken": "broken", "skipped": "skipped"}
    for j in results:
        attachments = []
        for v in [*j.verdicts, *j.listed]:
            name = f"{uuid.uuid4()}-attachment.txt"
            (outdir / name).write_text(v.report(limit=50) + "\n", encoding="utf-8")
            label = f"check: {v.check}" + (" (not exercised by this scenario)" if v in j.listed else "")
            attachments.append({"name": label, "source": name, "type": "text/plain"})
        module, _, func = j.test.rpartition("::")
        result = {
            "uuid": str(uuid.uuid4()), "historyId": f"judge:{j.test}", "name": func or j.test,
            "fullName": f"rig judge: {j.test}", "status": status[j.outcome], "stage": "finished",
            "statusDetails": {"message": j.message} if j.message else {},
            "start": now, "stop": now, "attachments": attachments,
            "parameters": [{"name": "budgets", "value": compact, "excluded": True},
                           {"name": "build", "value": build, "excluded": True},
                           {"name": "trace", "value": str(j.path)}],
            "labels": [{"name": "suite", "value": "rig judge"}, {"name": "parentSuite", "value": module or "traces"},
                       {"name": "framework", "value": "rig judge"}],
        }
        (outdir / f"{result['uuid']}-result.json").write_text(json.dumps(result), encoding="utf-8")
    (outdir / "categories.json").write_text(json.dumps(CATEGORIES, indent=2) + "\n", encoding="utf-8")


def write_junit(results: list[Judged], path: Path) -> None:
    """JUnit XML as pytest writes it: a failed check a <failure>, a broken trace an <error>."""
    count = {k: sum(1 for j in results if j.outcome == k) for k in ("failed", "broken", "skipped")}
    suites = ET.Element("testsuites")
    suite = ET.SubElement(suites, "testsuite", name="rig judge", tests=str(len(results)),
                          failures=str(count["failed"]), errors=str(count["broken"]), skipped=str(count["skipped"]))
    for j in results:
        module, _, func = j.test.rpartition("::")
        classname = module.removesuffix(".py").replace("/", ".") if module else "traces"
        case = ET.SubElement(suite, "testcase", classname=classname, name=func or j.test, time="0")
        first = j.message.splitlines()[0] if j.message else ""
        if j.outcome == "failed":
            ET.SubElement(case, "failure", message=first).text = j.message
        elif j.outcome == "broken":
            ET.SubElement(case, "error", message=first).text = j.message
        elif j.outcome == "skipped":
            ET.SubElement(case, "skipped", message=first)
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(suites).write(path, encoding="utf-8", xml_declaration=True)


def cmd_judge(args: argparse.Namespace) -> int:
    manifest = load_manifest(args.manifest)
    traces = find_traces(args.traces)
    if not traces:
        raise ValueError(f"no .jsonl trace under {', '.join(args.traces)}")
    results = [judge_trace(p, manifest.budgets) for p in traces]
    changed = changed_budgets(results, manifest.budgets)
    print(f"rig judge: {len(results)} trace(s) judged with the budgets of {args.manifest} ({manifest.build})")
    for k, (old, new) in changed.items():
        print(f"  {k}: {old} -> {new}")
    for j in results:
        print(f"{j.outcome.upper():8s}{j.test}")
        if j.outcome in ("failed", "broken") and not args.quiet:
            print("\n".join("    " + line for line in j.message.splitlines()))
        for v in j.listed:
            print(f"    listed, not exercised by this scenario: {v.check}")
    counts = {k: sum(1 for j in results if j.outcome == k) for k in ("passed", "failed", "broken", "skipped")}
    print(", ".join(f"{n} {k}" for k, n in counts.items() if n or k in ("passed", "failed")))
    if args.alluredir:
        write_allure(results, manifest.budgets, manifest.build, Path(args.alluredir))
    if args.junitxml:
        write_junit(results, Path(args.junitxml))
    if counts["failed"]:
        return 1
    return 2 if counts["broken"] or not counts["passed"] else 0


def setup_judge(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("judge", help="judge stored traces again with another manifest's budgets, without the rack")
    p.add_argument("traces", nargs="+", help="trace files or directories of .jsonl traces (e.g. reports/traces)")
    p.add_argument("--manifest", required=True, help="firmware manifest whose budgets to judge by")
    p.add_argument("--alluredir", default=None, help="write Allure results here")
    p.add_argument("--junitxml", default=None, help="write JUnit XML here")
    p.add_argument("-q", "--quiet", action="store_true", help="one line per trace, without the evidence")
    p.set_defaults(func=cmd_judge)
