"""How the rig asks the operator to do something at the rack and learns that it is done.

Every request is printed on the terminal and written, as JSON and as text, to the request directory
(`request.json`, `request.txt`), so whoever watches the rack sees the same steps. The operator confirms in one of
three ways (rack file `commissioning.confirm`):

- `terminal`: press Enter at the rig's terminal (read from /dev/tty, which pytest does not capture);
- `file`: write the request's id into `<request dir>/confirm` (`echo <id> > confirm`); `<id> abort <why>` gives up;
- `http`: `POST http://<listen>/confirm/<id>` (`curl -X POST ...`), or `/abort/<id>`; `GET /request` returns the
  pending request as JSON. For a rack that runs unattended, the automation that does the steps answers here.

The rack keeps sampling while the operator works (the commissioner waits with `Rack.wait_until`, asking `answer()`
every tick), so the trace shows what the units did meanwhile; the wait ends as soon as the answer comes, or after
`confirm_timeout_s`, a rig fault.
"""

from __future__ import annotations

import json
import os
import select
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


class OperatorError(Exception):
    """The operator did not confirm in time, or gave up: the rig cannot go on with this rack (a rig fault)."""


class Channel:
    """Writes a request where the operator sees it and waits for the confirmation."""

    kind = "base"

    def __init__(self, directory: Path, timeout_s: float, say: Callable[[str], None]) -> None:
        self.directory = Path(directory)
        self.timeout_s = timeout_s
        self.say = say
        self._count = 0

    def how(self, request_id: str) -> str:
        raise NotImplementedError

    def publish(self, kind: str, title: str, steps: list[str], **data: Any) -> str:
        """Show one request to the operator; returns its id. `answer(id)` tells when it is done."""
        self._count += 1
        request_id = f"{kind}-{self._count}-{os.getpid()}"
        how = self.how(request_id)
        request = {"id": request_id, "kind": kind, "title": title, "steps": steps, "confirm": how,
                   "asked_at": datetime.now(UTC).isoformat(timespec="seconds"), **data}
        self._publish(request)
        self.say(f"operator: {title}")
        for step in steps:
            self.say(f"    {step}")
        self.say(f"    when done: {how}")
        return request_id

    def answer(self, request_id: str) -> tuple[str, str] | None:
        """("confirm", "") or ("abort", why) once the operator answered, else None. Never blocks."""
        raise NotImplementedError

    def finish(self, request_id: str) -> None:
        """The request is answered or given up: it is no longer shown as pending."""
        self._clear()

    def _publish(self, request: dict[str, Any]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        for name, text in (("request.json", json.dumps(request, indent=2) + "\n"),
                           ("request.txt", "\n".join([request["title"], *request["steps"],
                                                      f"when done: {request['confirm']}"]) + "\n")):
            tmp = self.directory / f".{name}.tmp"
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, self.directory / name)

    def _clear(self) -> None:
        for name in ("request.json", "request.txt"):
            (self.directory / name).unlink(missing_ok=True)

    def close(self) -> None:
        """Release what the channel holds (the HTTP server)."""


class FileChannel(Channel):
    kind = "file"

    @property
    def confirm_path(self) -> Path:
        return self.directory / "confirm"

    def how(self, request_id: str) -> str:
        return f"echo {request_id} > {self.confirm_path}"

    def answer(self, request_id: str) -> tuple[str, str] | None:
        try:
            words = self.confirm_path.read_text(encoding="utf-8").split()
        except FileNotFoundError:
            return None
        if not words or words[0] != request_id:
            return None
        self.confirm_path.unlink(missing_ok=True)
        if len(words) > 1 and words[1] == "abort":
            return "abort", " ".join(words[2:])
        return "confirm", ""


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """No access log on the rig's terminal."""

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        payload = (json.dumps(body) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/request":
            pending = self.server.pending
            self._reply(HTTPStatus.OK if pending else HTTPStatus.NOT_FOUND, pending or {"error": "nothing pending"})
        else:
            self._reply(HTTPStatus.NOT_FOUND, {"error": "GET /request"})

    def do_POST(self) -> None:
        parts = [p for p in self.path.split("/") if p]
        pending = self.server.pending
        if len(parts) != 2 or parts[0] not in ("confirm", "abort"):
            self._reply(HTTPStatus.NOT_FOUND, {"error": "POST /confirm/<id> or /abort/<id>"})
        elif not pending or parts[1] != pending["id"]:
            self._reply(HTTPStatus.CONFLICT, {"error": f"no pending request {parts[1]!r}"})
        else:
            length = int(self.headers.get("Content-Length") or 0)
            why = self.rfile.read(length).decode("utf-8", "replace").strip() if length else ""
            self.server.answer = (parts[0], why)
            self.server.answered.set()
            self._reply(HTTPStatus.OK, {"ok": True, "id": parts[1], "answer": parts[0]})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    pending: dict[str, Any] | None = None
    answer: tuple[str, str] = ("", "")
    answered: threading.Event


class HttpChannel(Channel):
    kind = "http"

    def __init__(self, directory: Path, timeout_s: float, say: Callable[[str], None], listen: str) -> None:
        super().__init__(directory, timeout_s, say)
        host, _, port = listen.rpartition(":")
        self._server = _Server((host, int(port)), _Handler)
        self._server.answered = threading.Event()
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="operator-http", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def how(self, request_id: str) -> str:
        return f"curl -X POST {self.url}/confirm/{request_id}"

    def _publish(self, request: dict[str, Any]) -> None:
        self._server.answered.clear()
        self._server.pending = request
        super()._publish(request)

    def answer(self, request_id: str) -> tuple[str, str] | None:
        pending = self._server.pending
        if pending is None or pending["id"] != request_id or not self._server.answered.is_set():
            return None
        return self._server.answer

    def finish(self, request_id: str) -> None:
        self._server.pending = None
        super().finish(request_id)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class TerminalChannel(Channel):
    kind = "terminal"

    def how(self, request_id: str) -> str:
        return "press Enter on this terminal (or type abort)"

    def __init__(self, directory: Path, timeout_s: float, say: Callable[[str], None]) -> None:
        super().__init__(directory, timeout_s, say)
        self._tty: Any = None

    def answer(self, request_id: str) -> tuple[str, str] | None:
        if self._tty is None:
            try:
                self._tty = open("/dev/tty", encoding="utf-8")  # noqa: SIM115 - kept open while a request waits
            except OSError:
                return "abort", ("no terminal to confirm on: set commissioning.confirm = \"file\" or \"http\" for "
                                 "a rack that runs without one")
        ready, _, _ = select.select([self._tty], [], [], 0)
        if not ready:
            return None
        line = self._tty.readline().strip()
        return ("abort", line[5:].strip()) if line.lower().startswith("abort") else ("confirm", "")

    def finish(self, request_id: str) -> None:
        if self._tty is not None:
            self._tty.close()
            self._tty = None
        super().finish(request_id)


def make_channel(confirm: str, directory: Path, timeout_s: float, listen: str,
                 say: Callable[[str], None] | None = None) -> Channel:
    say = say or (lambda line: print(line, file=sys.stderr, flush=True))
    if confirm == "file":
        return FileChannel(directory, timeout_s, say)
    if confirm == "http":
        return HttpChannel(directory, timeout_s, say, listen)
    return TerminalChannel(directory, timeout_s, say)
