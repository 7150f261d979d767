"""`make report`: the latest run's Allure results as one self-contained HTML file, with history across runs.

The run is `reports/latest` (rig/runs.py), or `--run DIR`; its report goes into the run's own folder
(`reports/latest/html/index.html`), so every run keeps the report of itself, and the history of every scenario
across runs is kept in `reports/history.jsonl`. A run that did not finish its record (killed: its process is
gone) is marked so first. A run that ended early says so in the report's title and in a banner at the top of
the page: how it ended (killed, interrupted, rack unusable), the tests planned, run and not run, and why.

Uses Allure 3 from the npm registry, pinned in `reports/package.json` and `reports/package-lock.json` and
installed by this command itself (`npm ci --prefix reports`, again only when the lock file changes). The
configuration is `reports/allurerc.mjs`: the Awesome report in single-file mode, history in
`reports/history.jsonl`. Allure 3.x always writes a Google Analytics tag into the page (allure3 issue #476; the
`ALLURE_NO_ANALYTICS` variable, set here too, is honoured only by its Allure 2-style plugin), so the tag is cut
out of the generated file and the file is then checked: no analytics, nothing loaded from the network. A page
that still has either is an error, not a report.

Where Node.js is missing the command says so in one line and succeeds: the results are still in
`reports/allure-results` for any Allure to read.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from html import escape
from pathlib import Path
from typing import Any

from rig import runs

ROOT = Path(__file__).resolve().parents[1]
REPORTS = ROOT / "reports"
MIN_NODE = (20, 0)

ANALYTICS = re.compile(
    r"\s*<script[^>]*src=\"https://www\.googletagmanager\.com/[^\"]*\"[^>]*>\s*</script>"
    r"(\s*<script>(?:(?!</script>)[\s\S])*?gtag\((?:(?!</script>)[\s\S])*</script>)?"
)
"""The tag Allure 3's templates put at the end of the body: the loader script and the inline gtag() set-up."""

FORBIDDEN = ("googletagmanager", "google-analytics", "gtag(", "dataLayer")
REMOTE = re.compile(r"<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)=[\"']?(?:https?:)?//", re.IGNORECASE)


class ReportError(RuntimeError):
    """The report could not be made; the message says why in one line."""


def node_version(node: str) -> tuple[int, ...] | None:
    try:
        out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.match(r"v?(\d+)\.(\d+)", out)
    return (int(m.group(1)), int(m.group(2))) if m else None


def ensure_allure(reports: Path = REPORTS) -> Path:
    """Install the pinned Allure 3 from the lock file (`npm ci`) unless it is already installed from this very
    lock file; return the `allure` executable."""
    lock = reports / "package-lock.json"
    if not lock.exists():
        raise ReportError(f"{lock} is missing: the Allure version is pinned there")
    digest = hashlib.sha256(lock.read_bytes()).hexdigest()
    stamp = reports / "node_modules" / ".rig-installed-from"
    allure = reports / "node_modules" / ".bin" / "allure"
    if not (allure.exists() and stamp.exists() and stamp.read_text(encoding="utf-8").strip() == digest):
        npm = shutil.which("npm")
        if npm is None:
            raise ReportError("npm is missing (it comes with Node.js); install it and run `make report` again")
        print(f"report: installing the pinned Allure 3 (npm ci --prefix {_rel(reports)})", flush=True)
        proc = subprocess.run([npm, "ci", "--prefix", str(reports), "--no-audit", "--no-fund", "--ignore-scripts",
                               "--loglevel=error"], cwd=ROOT, capture_output=True, text=True, timeout=900)
        if proc.returncode != 0 or not allure.exists():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            raise ReportError("npm ci failed: " + " | ".join(tail))
        stamp.write_text(digest + "\n", encoding="utf-8")
    return allure


def strip_analytics(html: str) -> tuple[str, int]:
    """The page without Allure's analytics tag, and how many tags were cut."""
    return ANALYTICS.subn("", html)


def check_offline(html: str) -> list[str]:
    """What in the page would reach the network: analytics markers, remote scripts, styles or images."""
    problems = [f"contains {marker!r}" for marker in FORBIDDEN if marker in html]
    problems += [f"loads {m.group(0)[:80]!r}" for m in REMOTE.finditer(html)]
    return problems


def title(record: dict[str, Any] | None, environment: dict[str, str]) -> str:
    """The report's name: rack, build, firmware, run; and for a run that ended early, how, and how much ran."""
    parts = ["rig", environment.get("rack") or (record or {}).get("rack")]
    build = environment.get("build") or (record or {}).get("build")
    if build:
        parts.append(f"{build} {environment.get('firmware', '')}".strip())
    if record is not None:
        parts.append(f"run {record.get('run')}")
        if runs.ended_early(record):
            parts.append(f"INCOMPLETE ({record.get('status')}): {record.get('ran', 0)} of {record.get('planned')} "
                         f"tests run, {record.get('not_run')} not run")
    return " · ".join(p for p in parts if p)


def banner(record: dict[str, Any]) -> str:
    """The line at the top of the page of a run that ended early (HTML, inline style: the page is offline)."""
    text = escape(f"Incomplete run: {runs.summary(record)}")
    return ('<div id="rig-run-banner" role="alert" style="background:#c0392b;color:#fff;font:600 15px/1.4 '
            'system-ui,sans-serif;padding:10px 16px;position:sticky;top:0;z-index:10000">' + text + "</div>")


def read_environment(results: Path) -> dict[str, str]:
    env: dict[str, str] = {}
    path = results / "environment.properties"
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            key, sep, value = line.partition("=")
            if sep:
                env[key.strip()] = value.strip()
    return env


def build(results: Path, out: Path, history: Path, reports: Path = REPORTS,
          record: dict[str, Any] | None = None) -> Path:
    """Generate the single-file report from `results` into `out`; return the HTML file. With the run's record,
    the title says which run it is, and a run that ended early gets its banner."""
    if not results.is_dir() or not any(results.glob("*-result.json")):
        raise ReportError(f"no Allure results in {_rel(results)}: run `make nightly` (or `rig gate`) first")
    allure = ensure_allure(reports)
    env = {**os.environ, "ALLURE_NO_ANALYTICS": "true", "RIG_ALLURE_RESULTS": str(results),
           "RIG_REPORT_DIR": str(out), "RIG_REPORT_HISTORY": str(history),
           "RIG_REPORT_NAME": title(record, read_environment(results))}
    if record is not None:
        env["RIG_RUN_RECORD"] = json.dumps({k: record.get(k) for k in ("run", "status", "reason", "planned", "ran",
                                                                        "not_run", "started", "finished")})
    history.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([str(allure), "generate", "--config", str(reports / "allurerc.mjs"), str(results)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    page = out / "index.html"
    if proc.returncode != 0 or not page.exists():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise ReportError("allure generate failed: " + " | ".join(tail))
    html, cut = strip_analytics(page.read_text(encoding="utf-8"))
    problems = check_offline(html)
    if problems:
        page.unlink()
        raise ReportError(f"the generated page is not offline ({'; '.join(problems[:3])}); it was removed")
    if record is not None and runs.ended_early(record):
        html = re.sub(r"<body([^>]*)>", lambda m: m.group(0) + banner(record), html, count=1)
    page.write_text(html, encoding="utf-8")
    return page


def choose_run(reports: Path, run: Path | None) -> tuple[runs.RunFolder, dict[str, Any], str]:
    """The run to report (given, else the latest with results), its record, and a line when it is not the
    latest. Runs left `running` by a process that is gone are marked killed first."""
    runs.mark_abandoned_runs(reports)
    if run is not None:
        folder = runs.RunFolder(run.resolve())
        record = runs.read_record(folder)
        if record is None:
            raise ReportError(f"{_rel(folder.path)} is not a run folder (no run.json)")
        return folder, record, ""
    latest = runs.latest(reports)
    if latest is None:
        raise ReportError(f"no run in {_rel(reports / runs.RUNS)}: run `make nightly` first")
    record = runs.read_record(latest) or {}
    if any(latest.allure_results.glob("*-result.json")):
        return latest, record, ""
    note = f"the latest run {latest.id} has no results ({runs.summary(record)})"
    for folder in reversed(runs.run_folders(reports)):
        if any(folder.allure_results.glob("*-result.json")):
            return folder, runs.read_record(folder) or {}, f"{note}; showing {folder.id}, the newest run with results"
    raise ReportError(note)


def _rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m rig.report", description=__doc__.split("\n")[0])
    p.add_argument("--reports", default=str(REPORTS), help="the reports folder (runs/, latest, history.jsonl)")
    p.add_argument("--run", default=None, help="a run folder (default: the latest run)")
    p.add_argument("--results", default=None, help="an Allure results directory, in place of a run's")
    p.add_argument("--out", default=None, help="where the report goes (default: the run folder's html/)")
    p.add_argument("--history", default=None, help="history kept across runs (default: REPORTS/history.jsonl)")
    args = p.parse_args(argv)
    reports = Path(args.reports).resolve()
    history = Path(args.history).resolve() if args.history else reports / "history.jsonl"
    record: dict[str, Any] | None = None
    note = ""
    try:
        if args.results:
            results = Path(args.results).resolve()
            out = Path(args.out).resolve() if args.out else reports / "html"
        else:
            folder, record, note = choose_run(reports, Path(args.run) if args.run else None)
            results = folder.allure_results
            out = Path(args.out).resolve() if args.out else folder.path / "html"
    except ReportError as exc:
        print(f"report: {exc}", file=sys.stderr)
        return 1
    if note:
        print(f"report: {note}")
    if record is not None and runs.ended_early(record):
        print(f"report: incomplete run: {runs.summary(record)}")
    node = shutil.which("node")
    version = node_version(node) if node else None
    if version is None or version < MIN_NODE:
        found = "is missing" if node is None else f"is too old ({'.'.join(map(str, version or ()))})"
        print(f"report: Node.js {found}; the HTML report needs Node.js >= {MIN_NODE[0]} and npm (e.g. `apt-get "
              f"install nodejs npm`), then `make report`. The results are in {_rel(results)}.")
        return 0
    try:
        page = build(results, out, history, record=record)
    except ReportError as exc:
        print(f"report: {exc}", file=sys.stderr)
        return 1
    size = page.stat().st_size / 1e6
    print(f"report: {_rel(page)} ({size:.1f} MB, one self-contained file; history in {_rel(history)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
