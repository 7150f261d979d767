"""A unit's service console over a serial line (pyserial `serial_for_url`): how the rig commissions a network.

The same URL forms work on the lab PC (`/dev/ttyUSB0`, `rfc2217://host:port`) and in simulation
(`socket://127.0.0.1:port`). Commands are lines; a reply ends at the console's prompt. Every exchange is kept
in `transcript` so it can be attached to the report.
"""

from __future__ import annotations

from typing import Any

from rig.instruments.errors import InstrumentError, InstrumentGarbage, InstrumentTimeout

PROMPT = b"wc> "


class ServiceConsole:
    """Implements the `Console` role: one command, one reply, within a timeout."""

    def __init__(self, name: str, url: str, timeout_s: float = 2.0) -> None:
        import serial

        self.name = name
        self.url = url
        self.timeout_s = timeout_s
        self.transcript: list[str] = []
        try:
            self._port: Any = serial.serial_for_url(url, baudrate=115200, timeout=timeout_s)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise InstrumentError(name, f"cannot open console {url}: {exc}") from None

    def command(self, line: str) -> str:
        """Send one command and return the reply text (without the prompt)."""
        import serial

        self.transcript.append(f"> {line}")
        try:
            self._port.reset_input_buffer()
            self._port.write(line.encode("ascii") + b"\r\n")
            raw = self._port.read_until(PROMPT)
        except (serial.SerialException, OSError) as exc:
            raise InstrumentError(self.name, f"console {self.url} failed during {line!r}: {exc}") from None
        if not raw.endswith(PROMPT):
            if not raw:
                raise InstrumentTimeout(self.name, f"no answer to {line!r} on {self.url} within {self.timeout_s:g} s")
            raise InstrumentGarbage(self.name, f"reply to {line!r} has no prompt: {raw[:60]!r}")
        text = raw[: -len(PROMPT)].decode("ascii", "replace").strip()
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
