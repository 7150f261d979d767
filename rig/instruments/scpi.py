"""SCPI over VISA (pyvisa with the pyvisa-py backend): the transport the load and analyzer drivers share.

Only transport lives here: open with terminations and a timeout, TCP_NODELAY on socket resources (pyvisa-py
leaves Nagle on, which stalls a write followed by a query by tens of milliseconds), the instrument's own error
query after commands that can fail, and every transport failure turned into a one-line InstrumentError naming
the instrument. There is no common error query: a Yokogawa WT reports its errors with `:STATus:ERRor?`, a Chroma
63800 with `*ESR?`, and neither knows `SYST:ERR?` (a header an instrument does not know gets no reply at all), so
each driver hands its own reader in.
"""

from __future__ import annotations

import os
import select
import socket
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from rig.instruments.errors import InstrumentError, InstrumentGarbage, InstrumentTimeout


@lru_cache(maxsize=1)
def resource_manager() -> Any:
    """One pyvisa-py resource manager per process; imported lazily so a laptop without VISA still loads."""
    import pyvisa

    return pyvisa.ResourceManager("@py")


class ScpiInstrument:
    """An open SCPI instrument: write, query, read the error queue, close."""

    def __init__(self, name: str, address: str, timeout_s: float = 2.0,
                 error_reader: Callable[[ScpiInstrument], str | None] | None = None,
                 baud_rate: int | None = None) -> None:
        self.name = name
        self.address = address
        self.timeout_s = timeout_s
        self.baud_rate = baud_rate
        """Serial speed of an RS-232 (ASRL) resource; None for the others."""
        self.error_reader = error_reader
        """Reads the instrument's own error query: the message of the error it reports, or None when clean."""
        self._sock: socket.socket | None = None
        self._open()

    def _open(self) -> None:
        self._sock = None
        self._resolve()
        try:
            extra = {"baud_rate": self.baud_rate} if self.baud_rate is not None else {}
            self._res = resource_manager().open_resource(
                self.address, read_termination="\n", write_termination="\n", timeout=int(self.timeout_s * 1000),
                open_timeout=int(self.timeout_s * 1000),  # pyvisa-py's connect otherwise waits 10 s
                **extra,
            )
        except Exception as exc:  # pyvisa raises several unrelated types for a missing instrument
            raise InstrumentError(self.name, f"cannot open {self.address}: {exc}") from None
        self._set_nodelay()
        self._check_connected()

    def _resolve(self) -> None:
        """Resolve a LAN resource's host first: pyvisa-py leaves its socket open when the name does not resolve
        (until the garbage collector finds it), so a night retrying a missing host would leak one each, and for a
        VXI-11 resource it reports only "Bad file descriptor"."""
        parts = self.address.split("::")
        if len(parts) >= 3 and parts[0].upper().startswith("TCPIP"):
            port = parts[2] if parts[-1].upper() == "SOCKET" else "111"  # VXI-11 starts at the portmapper
            try:
                socket.getaddrinfo(parts[1], port, type=socket.SOCK_STREAM)
            except (OSError, UnicodeError) as exc:
                raise InstrumentError(self.name, f"cannot open {self.address}: host {parts[1]!r} does not resolve "
                                                 f"({exc})") from None

    def reopen(self) -> None:
        """Close the connection and open a fresh one (after a timeout, garbage or a dropped connection)."""
        self.close()
        self._open()

    def _set_nodelay(self) -> None:
        try:
            session = self._res.visalib.sessions[self._res.session]
            sock = getattr(session, "interface", None)
        except Exception:
            return
        if isinstance(sock, socket.socket):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._sock = sock

    def _check_connected(self) -> None:
        """pyvisa-py takes a refused connection for an open one (it never reads SO_ERROR after its
        non-blocking connect), so the error would only surface on the first command."""
        if self._sock is None:
            return
        try:
            err = self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        except OSError as exc:
            err = exc.errno or 0
        if err:
            self.close()
            raise InstrumentError(self.name, f"cannot open {self.address}: {os.strerror(err)}")

    def _peer_closed(self) -> bool:
        """Whether a socket instrument has closed its end: pyvisa-py reads the end of stream as silence and
        reports a timeout, which would send whoever reads the report looking for a hung instrument."""
        if self._sock is None:
            return False
        try:
            readable, _, _ = select.select([self._sock], [], [], 0)
            return bool(readable) and self._sock.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True

    def _fail(self, what: str, exc: BaseException) -> InstrumentError:
        text = str(exc)
        if "timeout" in text.lower() or "VI_ERROR_TMO" in text:
            if self._peer_closed():
                return InstrumentError(self.name, f"{self.address} closed the connection during {what!r}")
            return InstrumentTimeout(self.name, f"no answer to {what!r} at {self.address}")
        return InstrumentError(self.name, f"{what!r} at {self.address} failed: {text or type(exc).__name__}")

    def write(self, command: str) -> None:
        try:
            self._res.write(command)
        except Exception as exc:
            raise self._fail(command, exc) from None

    def query(self, command: str) -> str:
        try:
            reply = self._res.query(command)
        except UnicodeDecodeError:
            raise InstrumentGarbage(self.name, f"reply to {command!r} is not text") from None
        except Exception as exc:
            raise self._fail(command, exc) from None
        return reply.strip()

    def query_float(self, command: str) -> float:
        reply = self.query(command)
        try:
            return float(reply)
        except ValueError:
            raise InstrumentGarbage(self.name, f"reply to {command!r} is not a number: {reply[:40]!r}") from None

    def check_errors(self, after: str) -> None:
        """Ask the instrument's own error query and raise its message if it reports one."""
        if self.error_reader is None:
            return
        message = self.error_reader(self)
        if message:
            raise InstrumentError(self.name, f"after {after!r} the instrument reports {message}")

    def idn(self) -> str:
        return self.query("*IDN?")

    def close(self) -> None:
        try:
            self._res.close()
        except Exception:
            pass
