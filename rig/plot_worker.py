"""The process that draws trace plots while the next tests run, and that never outlives the run.

Drawing a plot costs 0.1-0.3 s of CPU; drawing it in another process lets the next test start at once. The
worker is a plain child process (`python -m rig.plot_worker <parent pid>`), not a multiprocessing pool, because
its lifetime must be its parent's, whatever happens to the parent:

- it reads jobs from its standard input, a pipe only the parent holds, and exits at end of file: when the
  parent closes it, and when the parent dies, even by SIGKILL (the kernel closes the pipe);
- on Linux it also asks the kernel for SIGKILL when the parent dies (`prctl(PR_SET_PDEATHSIG)`), and checks
  that the parent did not die before it asked;
- it ignores SIGINT, SIGTERM and SIGHUP: Ctrl-C or a closed terminal signals the whole process group, and the
  parent, which handles them (rig/safety.py), decides when the worker ends. So no traceback of the worker's ever
  reaches the terminal, and there is no multiprocessing resource tracker to leave behind.

The protocol is framed pickles both ways (4-byte length, then the pickle): a job is `(job_id, trace, title, dest,
marks)`, a reply `(job_id, cpu_seconds, error)`. Pickle is used between this process and its own parent only.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import queue
import signal
import struct
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from typing import IO, Any

_HEADER = struct.Struct("<I")
PR_SET_PDEATHSIG = 1


def _read_frame(stream: IO[bytes]) -> Any:
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None  # end of file: the parent closed the pipe, or died
    (size,) = _HEADER.unpack(header)
    body = stream.read(size)
    if len(body) < size:
        return None
    return pickle.loads(body)


def _write_frame(stream: IO[bytes], obj: Any) -> None:
    body = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(body)) + body)
    stream.flush()


def _die_with_parent(parent: int) -> None:
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the request was in place
        os._exit(0)


def serve(parent: int) -> int:
    """The worker's loop: draw each job, reply, until end of file."""
    for sig in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if sig is not None:
            signal.signal(sig, signal.SIG_IGN)
    _die_with_parent(parent)
    from rig.plot import render_to

    jobs, replies = sys.stdin.buffer, sys.stdout.buffer
    while True:
        job = _read_frame(jobs)
        if job is None:
            return 0
        job_id, trace, title, dest, marks = job
        try:
            seconds, error = render_to(trace, title, dest, marks), None
        except Exception as exc:  # a drawing bug is reported for that plot, and the worker goes on
            seconds, error = 0.0, f"{type(exc).__name__}: {exc}"
        try:
            _write_frame(replies, (job_id, seconds, error))
        except BrokenPipeError:
            return 0


@dataclass
class Job:
    title: str
    dest: str
    done: threading.Event = field(default_factory=threading.Event)
    seconds: float = 0.0
    error: str | None = None


class PlotWorker:
    """The parent's side: `submit()` returns at once (a feeder thread writes the job, which may be megabytes for
    a long soak); `finish()` waits for what was submitted, closes the pipe and reaps the worker."""

    def __init__(self) -> None:
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115  (kept open for the worker's life, closed in finish)
        self.proc = subprocess.Popen([sys.executable, "-m", "rig.plot_worker", str(os.getpid())],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
                                     close_fds=True)
        self.jobs: dict[int, Job] = {}
        self._next = 0
        self._queue: queue.Queue[tuple[int, tuple[Any, ...]] | None] = queue.Queue()
        self._feeder = threading.Thread(target=self._feed, name="rig-plot-feeder", daemon=True)
        self._reader = threading.Thread(target=self._read, name="rig-plot-reader", daemon=True)
        self._feeder.start()
        self._reader.start()

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def submit(self, trace: Any, title: str, dest: str, marks: list[Any]) -> Job:
        self._next += 1
        job = Job(title, dest)
        self.jobs[self._next] = job
        self._queue.put((self._next, (trace, title, dest, marks)))
        return job

    def _feed(self) -> None:
        assert self.proc.stdin is not None
        while True:
            item = self._queue.get()
            if item is None:
                break
            job_id, (trace, title, dest, marks) = item
            try:
                _write_frame(self.proc.stdin, (job_id, trace, title, dest, marks))
            except (BrokenPipeError, OSError, ValueError):
                self._fail(job_id, "the plot worker ended before it could take the job")
        with contextlib.suppress(OSError, ValueError):
            self.proc.stdin.close()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        while True:
            try:
                reply = _read_frame(self.proc.stdout)
            except (OSError, ValueError, pickle.UnpicklingError):
                reply = None
            if reply is None:
                break
            job_id, seconds, error = reply
            job = self.jobs.get(job_id)
            if job is not None:
                job.seconds, job.error = seconds, error
                job.done.set()
        for job in self.jobs.values():  # the worker is gone: what it did not answer will not come
            if not job.done.is_set():
                job.error = job.error or f"the plot worker ended ({self._why()})"
                job.done.set()

    def _fail(self, job_id: int, error: str) -> None:
        job = self.jobs[job_id]
        job.error = error
        job.done.set()

    def _why(self) -> str:
        code = self.proc.poll()
        with contextlib.suppress(OSError):
            self._stderr.seek(0)
            last = self._stderr.read().decode("utf-8", "replace").strip().splitlines()
            if last:
                return f"exit code {code}: {last[-1][:300]}"
        return f"exit code {code}"

    def finish(self, timeout_s: float = 60.0) -> list[Job]:
        """Wait (up to `timeout_s`) for every plot submitted, then end the worker; returns the jobs. A worker
        that does not end at end of file within a few seconds is killed: nothing outlives the run."""
        self._queue.put(None)
        self._feeder.join(timeout=timeout_s)
        self._reader.join(timeout=timeout_s)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        for job in self.jobs.values():
            if not job.done.is_set():
                job.error = "not drawn in time"
        with contextlib.suppress(OSError):
            self._stderr.close()
        if self.proc.stdout is not None:
            with contextlib.suppress(OSError):
                self.proc.stdout.close()
        return list(self.jobs.values())


if __name__ == "__main__":
    sys.exit(serve(int(sys.argv[1])))
