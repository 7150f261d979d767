"""A unit's service console over a serial line (pyserial `serial_for_url`): how the rig commissions a network.

The same URL forms work on the lab PC (`/dev/ttyUSB0`, `rfc2217://host:port`) and in simulation
(`socket://127.0.0.1:port`). Commands are lines; a reply ends at the console's prompt. Every exchange is kept
in `transcript` so it can be attached to the report; secrets (Wi-Fi passwords given at pairing) are redacted
there, in replies and in error messages.
"""

from __future__ import annotations

from typing import Any

from rig.instruments.errors import InstrumentError, InstrumentGarbage, InstrumentTimeout
from rig.secrets import redact

PROMPT = b"wc> "


class ServiceConsole:
    """Implements the `Console` role: one command, one reply, within a timeout."""

    def __init__(self, name: str, url: str, timeout_s: float = 2.0) -> None:

        self.name = name
        self.url = url
        self.timeout_s = timeout_s
        self.transcript: list[str] = []
        self._port: Any = None
        self._open()

    def _open(self) -> None:
        import serial

        try:
            self._port = serial.serial_for_url(self.url, baudrate=115200, timeout=self.timeout_s)
        except (serial.SerialException, OSError, ValueError) as exc:
            if getattr(exc, "errno", None) == 2 and "://" not in self.url:  # ENOENT: pyserial repeats the path twice
                raise InstrumentError(self.name, f"cannot open console {self.url}: no such serial port (is its USB "
                                                 f"serial adapter plugged in? see ls /dev/serial/by-id/)") from None
            raise InstrumentError(self.name, f"cannot open console {self.url}: {exc}") from None

    def reopen(self) -> None:
        """Close the port and open it again (after a timeout or a dropped connection); the transcript stays."""
        self.close()
        self._open()

    def command(self, line: str) -> str:
        """Send one command and return the reply text (without the prompt)."""
        import serial

        self.transcript.append(redact(f"> {line}"))
        try:
            self._port.reset_input_buffer()
            self._port.write(line.encode("ascii") + b"\r\n")
            raw = self._port.read_until(PROMPT)
        except (serial.SerialException, OSError) as exc:
            self.transcript.append(redact(f"!! connection failed: {exc}"))
            raise InstrumentError(self.name, f"console {self.url} failed during {line!r}: {exc}") from None
        if not raw.endswith(PROMPT):
            # what came is recorded even when it is no reply: the transcript is how a garbled night is read
            received = redact(raw.decode("ascii", "replace").strip())
            self.transcript.append(f"{received}\n!! no prompt: not a reply" if raw else
                                   f"!! no answer within {self.timeout_s:g} s")
            if not raw:
                raise InstrumentTimeout(self.name, f"no answer to {line!r} on {self.url} within {self.timeout_s:g} s")
            raise InstrumentGarbage(self.name, f"reply to {line!r} has no prompt: {raw[:60]!r}")
        text = redact(raw[: -len(PROMPT)].decode("ascii", "replace").strip())
        self.transcript.append(text)
        return text

    def close(self) -> None:
        """Close the port. For `socket://` ports the socket is closed here first, because pyserial's own
        close() then sleeps 0.3 s "for quick reconnects", which would cost every test of a night 2 s."""
        sock = getattr(self._port, "_socket", None)
        if sock is not None:
            try:
                sock.close()
            finally:
                self._port._socket = None
                self._port.is_open = False
        try:
            self._port.close()
        except Exception:
            pass
