"""A loopback TCP server that speaks line by line, as SCPI socket instruments and serial-over-TCP consoles do.

Each simulated instrument is a `LineDevice` (one command line in, one reply line or nothing out) served here on
a free port. The `fault` attribute lets the rig's own tests make an instrument misbehave the way real ones do:
answer garbage, stay silent, or drop the connection.
"""

from __future__ import annotations

import socket
import socketserver
import threading
from typing import Protocol


class LineDevice(Protocol):
    """A simulated instrument: `handle` gets one line (without its terminator) and returns the reply."""

    def handle(self, line: str) -> str | None: ...


class _Handler(socketserver.StreamRequestHandler):
    server: LineServer

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def handle(self) -> None:
        srv = self.server
        with srv.clients_lock:
            srv.clients.add(self.connection)
        try:
            if srv.banner:
                self.wfile.write(srv.banner.encode())
            for raw in self.rfile:
                line = raw.decode("ascii", "replace").strip()
                if not line:
                    continue
                fault = srv.fault
                if fault == "drop":
                    return
                if fault == "silent":
                    continue
                reply = srv.device.handle(line)
                if fault == "garbage" and reply is not None:
                    reply = "\x15#?!@garbled" + reply[::-1]
                if reply is not None:
                    self.wfile.write((reply + srv.terminator).encode())
        except (ConnectionError, OSError):
            return
        finally:
            with srv.clients_lock:
                srv.clients.discard(self.connection)


class LineServer(socketserver.ThreadingTCPServer):
    """Serves one LineDevice on 127.0.0.1 in daemon threads."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, device: LineDevice, port: int = 0, terminator: str = "\n", banner: str = "") -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.device = device
        self.terminator = terminator
        self.banner = banner
        self.fault: str | None = None
        self.clients: set[socket.socket] = set()
        self.clients_lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self.server_address[1]

    def start(self) -> LineServer:
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def drop_clients(self) -> None:
        """Close every open connection, as an instrument that is switched off does."""
        with self.clients_lock:
            for conn in list(self.clients):
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                    conn.close()
                except OSError:
                    pass
            self.clients.clear()

    def stop(self) -> None:
        self.shutdown()
        self.drop_clients()
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=2)
