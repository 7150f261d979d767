"""CAN EV emulator (python-can, frames described by `rig/dbc/ev_emulator.dbc` and encoded with cantools).

An alternative to the LabJack's resistor relays and pulse-width inputs for the pilot role: the emulator presents
the vehicle's side of a unit's pilot (state A, B or C) and measures the pilot's duty cycle and positive level.
One emulator serves several units, each a `node` of it.

The protocol is request/response. Every frame the rig sends carries a counter that the emulator echoes in the
`EV_Status` it answers with, so a late reply is never taken for the answer to a newer request:

- `EV_Command` (node, state): the emulator switches the node's relays and answers with that node's status, so
  a command has taken effect when `set_state()` returns (as a LabJack line write has);
- `EV_StatusRequest` (node): the emulator answers with the node's status. `read_pilots()` sends one request per
  node back to back, then collects the replies: one exchange per emulator per tick.

The bus settings come from the rack file: `can.Bus(interface=..., channel=..., bitrate=...)`. On the lab PC that
is `socketcan` on `can0` (the bitrate is set with `ip link`, python-can's socketcan ignores it); a simulated rack
names python-can's in-process `virtual` bus. This driver does not know which.

Rig faults (InstrumentError): the bus cannot be opened; a frame cannot be sent (socketcan refuses to send on a
bus that is down or off, and fills its queue when nobody acknowledges); the controller reports bus-off in an
error frame; no reply within the timeout (a silent emulator); a status frame that does not decode or holds
impossible values (garbage); the emulator reports a fault of its own (named as the DBC names it).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from rig.instruments.errors import InstrumentError, InstrumentGarbage, InstrumentTimeout
from rig.instruments.labjack_t7 import PilotReading
from rig.pilot import PilotState

DBC_PATH = Path(__file__).resolve().parents[1] / "dbc" / "ev_emulator.dbc"
STATES = (PilotState.A, PilotState.B, PilotState.C)
"""Raw PilotState values 0, 1, 2 in the DBC."""
MAX_NODE = 32
CAN_ERR_BUSOFF = 0x40
"""Error class bit of a Linux CAN error frame (linux/can/error.h): the controller went bus-off."""
CAN_ERR_RESTARTED = 0x100
FIX = "check the emulator's power, the CAN wiring and termination, and `ip -details link show {channel}`"


@lru_cache(maxsize=4)
def load_dbc(path: str = str(DBC_PATH)) -> Any:
    """The emulator's frame definitions; cantools is imported here so the rig loads without it."""
    import cantools

    return cantools.database.load_file(path)


@dataclass(frozen=True)
class EvStatus:
    """One node as the emulator reports it."""

    node: int
    state: PilotState
    """The state the emulator's relays present."""
    duty_pct: float | None
    """Measured duty cycle in percent, None when the pilot carries no PWM."""
    high_v: float
    """Measured positive pilot level."""

    @property
    def reading(self) -> PilotReading:
        return PilotReading(duty_pct=self.duty_pct, high_v=self.high_v)


class CanEvEmulator:
    """Implements the pilot role over CAN for the nodes of one emulator."""

    def __init__(self, name: str, channel: str, interface: str = "socketcan", bitrate: int = 500_000,
                 timeout_s: float = 2.0) -> None:
        self.name = name
        self.channel = channel
        self.interface = interface
        self.bitrate = bitrate
        self.timeout_s = timeout_s
        self._bus: Any = None
        self._counter = 0
        try:
            import can

            db = load_dbc()
        except ImportError as exc:
            raise InstrumentError(name, f"cannot load the CAN stack: {exc} (pip install python-can cantools)") from None
        self._can = can
        self._cmd = db.get_message_by_name("EV_Command")
        self._req = db.get_message_by_name("EV_StatusRequest")
        self._status = db.get_message_by_name("EV_Status")
        self._status_id = self._status.frame_id
        choices = self._status.get_signal_by_name("Fault").choices
        self._faults: dict[int, str] = {int(k): str(v) for k, v in choices.items()}
        self._open()

    def _open(self) -> None:
        try:
            self._bus = self._can.Bus(interface=self.interface, channel=self.channel, bitrate=self.bitrate)
        except Exception as exc:  # python-can raises CanError, OSError, ValueError, ImportError by interface
            hint = ""
            if self.interface == "socketcan":
                hint = f"; bring it up: sudo ip link set {self.channel} up type can bitrate {self.bitrate}"
            raise InstrumentError(self.name, f"cannot open CAN bus {self.where}: {exc or type(exc).__name__}{hint}"
                                  ) from None

    def reopen(self) -> None:
        """Close the bus and open it again (after a fault); every command is safe to repeat."""
        self.close()
        self._open()

    @property
    def where(self) -> str:
        return f"{self.interface}:{self.channel}"

    def __repr__(self) -> str:
        return f"CanEvEmulator({self.name!r}, {self.where!r})"

    # -- the pilot role ------------------------------------------------------------------------------------

    def set_state(self, node: int, state: PilotState) -> EvStatus:
        """Present `state` on `node`; returns once the emulator reports the relays switched."""
        if state not in STATES:
            raise ValueError(f"the vehicle side can present states A, B and C, not {state}")
        counter = self._next_counter()
        what = f"EV_Command node {node} state {state.value}"
        self._send(self._cmd, {"Node": self._node(node), "Counter": counter, "PilotState": STATES.index(state)}, what)
        (status,) = self._collect([node], counter, what)
        if status.state != state:
            raise InstrumentError(self.name, f"node {node} presents state {status.state.value} after being told "
                                             f"{state.value} (relay fault?)")
        return status

    def status(self, nodes: list[int]) -> list[EvStatus]:
        """Every node's status, in the order asked: one request per node, then the replies."""
        if not nodes:
            return []
        counter = self._next_counter()
        for node in nodes:
            self._send(self._req, {"Node": self._node(node), "Counter": counter}, f"EV_StatusRequest node {node}")
        return self._collect(nodes, counter, f"EV_StatusRequest for node(s) {', '.join(map(str, nodes))}")

    def read_pilots(self, nodes: list[int]) -> list[PilotReading]:
        """Duty and level of each node's pilot, as `LabJackT7.read_pilots` gives them."""
        return [s.reading for s in self.status(nodes)]

    def close(self) -> None:
        bus, self._bus = self._bus, None
        if bus is not None:
            try:
                bus.shutdown()
            except Exception:
                pass

    # -- transport -----------------------------------------------------------------------------------------

    def _node(self, node: int) -> int:
        if not 1 <= node <= MAX_NODE:
            raise ValueError(f"{self.name}: node {node} is not 1-{MAX_NODE}")
        return node

    def _next_counter(self) -> int:
        self._counter = (self._counter + 1) % 256
        return self._counter

    def _send(self, message: Any, signals: dict[str, int], what: str) -> None:
        if self._bus is None:
            raise InstrumentError(self.name, f"{what}: the CAN bus {self.where} was closed")
        frame = self._can.Message(arbitration_id=message.frame_id, is_extended_id=message.is_extended_frame,
                                  data=message.encode(signals))
        try:
            self._bus.send(frame, timeout=self.timeout_s)
        except Exception as exc:  # CanOperationError, OSError (ENETDOWN, ENOBUFS), a closed virtual bus
            raise InstrumentError(
                self.name, f"cannot send {what} on {self.where}: {exc or type(exc).__name__}; the bus is down or "
                           f"off ({FIX.format(channel=self.channel)})") from None

    def _collect(self, nodes: list[int], counter: int, what: str) -> list[EvStatus]:
        """Receive until every node in `nodes` has answered `counter`; other traffic and stale replies are
        skipped, an error frame reporting bus-off or a garbled status frame ends the exchange."""
        pending = set(nodes)
        got: dict[int, EvStatus] = {}
        deadline = time.monotonic() + self.timeout_s
        while pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                missing = ", ".join(str(n) for n in sorted(pending))
                raise InstrumentTimeout(
                    self.name, f"no EV_Status from node {missing} on {self.where} within {self.timeout_s:g} s after "
                               f"{what} (emulator silent: {FIX.format(channel=self.channel)})")
            try:
                frame = self._bus.recv(timeout=remaining)
            except Exception as exc:
                raise InstrumentError(self.name, f"receiving on {self.where} failed: {exc or type(exc).__name__}"
                                      ) from None
            if frame is None:
                continue
            if frame.is_error_frame:
                self._error_frame(frame)
                continue
            if frame.arbitration_id != self._status_id or frame.is_remote_frame:
                continue
            status = self._decode(frame, counter)
            if status is not None and status.node in pending:
                pending.discard(status.node)
                got[status.node] = status
        return [got[n] for n in nodes]

    def _error_frame(self, frame: Any) -> None:
        if frame.arbitration_id & CAN_ERR_BUSOFF:
            raise InstrumentError(
                self.name, f"the CAN controller on {self.where} reports bus-off (error frame 0x{frame.arbitration_id:X}"
                           f"); {FIX.format(channel=self.channel)}")

    def _decode(self, frame: Any, counter: int) -> EvStatus | None:
        """The status in a frame, None if it answers another request; garbage raises."""
        data = bytes(frame.data)
        try:
            values = self._status.decode(data, decode_choices=False)
        except Exception as exc:
            raise InstrumentGarbage(self.name, f"EV_Status frame {data.hex()} does not decode: {exc}") from None
        if values["Counter"] != counter:
            return None
        node = int(values["Node"])
        fault = int(values["Fault"])
        if fault:
            text = self._faults.get(fault, f"fault {fault}")
            raise InstrumentError(self.name, f"node {node} reports {text} (EV_Status Fault={fault})")
        raw_state = int(values["PilotState"])
        duty = float(values["PwmDuty"])
        high = float(values["PilotHigh"])
        if raw_state >= len(STATES) or not 0.0 <= duty <= 100.0 or not math.isfinite(high) or abs(high) > 15.0:
            raise InstrumentGarbage(
                self.name, f"EV_Status frame {data.hex()} holds impossible values: state {raw_state}, duty {duty:g} %,"
                           f" level {high:g} V")
        return EvStatus(node=node, state=STATES[raw_state], duty_pct=duty if values["PwmPresent"] else None,
                        high_v=high)
