"""One folder per run, and what a run that ended early says about itself.

Every run of the test plans gets its own folder, named by its start time so that folders sort in the order the
runs began:

    reports/
      runs/2026-11-27T02-00-03Z/
        run.json          what the run is and how it ended (below); rewritten after every test
        junit.xml         for the CI server, complete after every test (rig/junit.py)
        allure-results/   the Allure results of this run only
        traces/           one JSON-lines trace per test
        run.log           the run's log records
      latest -> runs/2026-11-27T02-00-03Z
      history.jsonl       the Allure history across runs (`make report`)
      .rack-<name>.unsafe the unsafe marker of a rack (rig/safety.py): state of the rack, not of a run

Nothing of an earlier run is deleted, cleaned or mixed in: a typo in tonight's rack file cannot empty last
night's results, and a killed run's traces are never beside another run's.

`run.json` says, at every moment: `status` (running, finished, killed, interrupted or rack-unusable), `reason`
(why it ended, one line), `planned` (tests collected to run), `ran` (tests that finished), `not_run`, `counts`
(passed, failed, broken, skipped, interrupted), `running` (the tests under way), `started`, `updated` (the last
sign of life), `finished`, and `pid`, `host`, `proc_start` (who is running it). A run killed by SIGKILL or a
power cut cannot write its own end, so the next run looks: a folder still `running` whose process is gone (same
host; a pid reused by another process does not count as alive), or whose host stopped updating it for
`STALE_AFTER_S` (another host sharing the reports folder), is marked `killed`, with the tests planned, run and
not run, and its JUnit file gets the test that was running as interrupted (`mark_abandoned`).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rig.junit import Case, complete_ended_run
from rig.safety import _alive, _proc_start

RUNS = "runs"
LATEST = "latest"
RECORD = "run.json"
STATUSES = ("running", "finished", "killed", "interrupted", "rack-unusable")
ENDED_EARLY = ("killed", "interrupted", "rack-unusable")
COUNTED = ("passed", "failed", "broken", "skipped", "interrupted")

HEARTBEAT_S = 60.0
"""How often a running run refreshes `updated`, even in the middle of an eight-hour soak."""
STALE_AFTER_S = 15 * 60.0
"""A run of another host that has not refreshed `updated` for this long is taken as killed. (On the same host the
process table says it at once.)"""


def now_utc() -> datetime:
    return datetime.now(UTC)


def iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="seconds")


def run_id(when: datetime) -> str:
    """`2026-11-27T13-22-55Z`: sortable, and a valid file name everywhere."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H-%M-%SZ")


def state_dir(path: str | Path) -> Path:
    """Where a rack's state (its unsafe marker) lives for a run writing into `path`: a run folder's is the reports
    folder above `runs/`, where every later run looks; any other folder keeps its own."""
    path = Path(path)
    if (path / RECORD).exists() and path.parent.name == RUNS:
        return path.parent.parent
    return path


class RunFolder:
    """The folder of one run and the names of what it holds."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @property
    def record(self) -> Path:
        return self.path / RECORD

    @property
    def traces(self) -> Path:
        return self.path / "traces"

    @property
    def allure_results(self) -> Path:
        return self.path / "allure-results"

    @property
    def junit(self) -> Path:
        return self.path / "junit.xml"

    @property
    def log(self) -> Path:
        return self.path / "run.log"

    @property
    def id(self) -> str:
        return self.path.name

    @classmethod
    def create(cls, reports: str | Path, started: datetime) -> RunFolder:
        """A new, empty folder under `reports/runs/`, named by the start time (`-2`, `-3`... if two runs start
        in the same second)."""
        runs = Path(reports) / RUNS
        runs.mkdir(parents=True, exist_ok=True)
        base = run_id(started)
        for n in range(1, 1000):
            path = runs / (base if n == 1 else f"{base}-{n}")
            try:
                path.mkdir()
            except FileExistsError:
                continue
            return cls(path)
        raise RuntimeError(f"cannot create a run folder under {runs}")


def point_latest(reports: str | Path, folder: RunFolder) -> None:
    """`reports/latest` -> the run folder (a relative symlink, replaced atomically)."""
    link = Path(reports) / LATEST
    tmp = link.with_name(f".{LATEST}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    os.symlink(os.path.relpath(folder.path, link.parent), tmp)
    os.replace(tmp, link)


def latest(reports: str | Path) -> RunFolder | None:
    """The run `reports/latest` points to, else the newest run folder."""
    link = Path(reports) / LATEST
    if link.is_dir():
        return RunFolder(link.resolve())
    folders = run_folders(reports)
    return folders[-1] if folders else None


def run_folders(reports: str | Path) -> list[RunFolder]:
    """Every run folder with a record, oldest first."""
    runs = Path(reports) / RUNS
    if not runs.is_dir():
        return []
    return [RunFolder(p) for p in sorted(runs.iterdir()) if (p / RECORD).is_file()]


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Written whole into a temporary file, fsynced, then renamed into place: a reader or a kill at any moment
    sees the previous record or the new one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with tmp.open("w", encoding="utf-8") as f:
        json.dump(data, f, indent=2)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_record(folder: RunFolder | Path) -> dict[str, Any] | None:
    path = folder.record if isinstance(folder, RunFolder) else Path(folder)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def tally(record: dict[str, Any]) -> None:
    """`ran` and `not_run` from the counts and the plan."""
    counts = record.setdefault("counts", {})
    record["ran"] = sum(int(counts.get(k, 0)) for k in ("passed", "failed", "broken", "skipped"))
    planned = record.get("planned")
    record["not_run"] = max(0, int(planned) - record["ran"]) if isinstance(planned, int) else None


class RunRecord:
    """`run.json` of the run in progress: every change is written at once (atomically); a heartbeat thread keeps
    `updated` fresh while a long test runs, so another host can tell a live run from a dead one."""

    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path = path
        self.data = data
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    @classmethod
    def begin(cls, path: Path, run: str, started: datetime, **facts: Any) -> RunRecord:
        data: dict[str, Any] = {
            "run": run, "status": "running", "reason": None, "planned": None, "ran": 0, "not_run": None,
            "counts": {k: 0 for k in COUNTED}, "running": [],
            "started": iso(started), "updated": iso(started), "finished": None,
            "pid": os.getpid(), "proc_start": _proc_start(os.getpid()), "host": socket.gethostname(),
            "exit_status": None,
            **facts,
        }
        record = cls(path, data)
        record.save()
        return record

    def update(self, **fields: Any) -> None:
        with self._lock:
            self.data.update(fields)
            self._save_locked()

    def save(self) -> None:
        with self._lock:
            self._save_locked()

    def _save_locked(self) -> None:
        tally(self.data)
        self.data["updated"] = iso(now_utc())
        write_json(self.path, self.data)

    def start_heartbeat(self, every_s: float = HEARTBEAT_S) -> None:
        def beat() -> None:
            while not self._stop.wait(every_s):
                with contextlib.suppress(OSError):
                    self.save()

        self._beat = threading.Thread(target=beat, name="rig-run-heartbeat", daemon=True)
        self._beat.start()

    def stop_heartbeat(self) -> None:
        self._stop.set()
        if self._beat is not None:
            self._beat.join(timeout=5)
            self._beat = None


def summary(record: dict[str, Any]) -> str:
    """One line: how the run ended and how much of it ran, e.g. `killed: 17 of 158 tests run, 141 not run
    (test_x was running); the process (pid 4242) was gone ...`."""
    status = record.get("status", "unknown")
    planned, ran, not_run = record.get("planned"), record.get("ran", 0), record.get("not_run")
    of = f"{ran} of {planned}" if planned is not None else f"{ran}"
    counts = record.get("counts") or {}
    shown = ", ".join(f"{counts[k]} {k}" for k in COUNTED if counts.get(k))
    text = f"{status}: {of} tests run"
    if not_run:
        text += f", {not_run} not run"
    if shown:
        text += f" ({shown})"
    if record.get("running") and status != "running":
        names = [r.get("nodeid", "?") if isinstance(r, dict) else str(r) for r in record["running"]]
        text += f"; {', '.join(names[:3])} was running"
    if record.get("reason") and status != "finished":
        text += f"; {record['reason']}"
    return text


def ended_early(record: dict[str, Any]) -> bool:
    """Killed, interrupted, rack unusable, still running, or finished with tests left out (pytest -x)."""
    return record.get("status") != "finished" or bool(record.get("not_run"))


def is_abandoned(record: dict[str, Any], now: datetime | None = None) -> bool:
    """A record still `running` whose process is gone: on this host, the pid is dead (or reused); on another
    host, the record has not been refreshed for STALE_AFTER_S."""
    if record.get("status") != "running":
        return False
    pid = record.get("pid")
    if record.get("host") == socket.gethostname():
        if pid == os.getpid():
            return False
        return not (isinstance(pid, int) and _alive(pid, record.get("proc_start")))
    try:
        updated = datetime.fromisoformat(record["updated"])
    except (KeyError, TypeError, ValueError):
        return True
    return ((now or now_utc()) - updated).total_seconds() > STALE_AFTER_S


def mark_abandoned(folder: RunFolder, record: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
    """Mark a run that could not write its own end as killed: run.json says so with the tests planned, run and
    not run, and its JUnit file gets the test that was running as interrupted."""
    now = now or now_utc()
    running = [r for r in record.get("running") or [] if isinstance(r, dict)]
    counts = record.setdefault("counts", {})
    counts["interrupted"] = int(counts.get("interrupted", 0)) + len(running)
    where = f"pid {record.get('pid')} on {record.get('host')}"
    record.update(status="killed", finished=record.get("updated"), killed_found=iso(now),
                  reason=f"the run ({where}) stopped without writing its end (kill -9, a crash or a power cut); its "
                         f"last sign of life was at {record.get('updated')}")
    tally(record)
    write_json(folder.record, record)
    case = None
    if running:
        first = running[0]
        case = Case(first.get("classname", ""), first.get("name", first.get("nodeid", "")), "interrupted",
                    message=f"interrupted: the run was killed while this test was running ({where})")
    complete_ended_run(folder.junit, {"rig.status": "killed", "rig.reason": record["reason"],
                                      "rig.planned": str(record.get("planned")), "rig.ran": str(record["ran"]),
                                      "rig.not_run": str(record.get("not_run"))}, case)
    return record


def mark_abandoned_runs(reports: str | Path, now: datetime | None = None) -> list[tuple[RunFolder, dict[str, Any]]]:
    """Find every run under `reports/runs` that was left `running` by a process that is gone, and mark it."""
    marked = []
    for folder in run_folders(reports):
        record = read_record(folder)
        if record is not None and is_abandoned(record, now):
            marked.append((folder, mark_abandoned(folder, record, now)))
    return marked
