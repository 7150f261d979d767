"""A simulated CAN EV emulator on python-can's in-process `virtual` bus, wired into the simulated world.

It listens on the same virtual channel as the rig's `CanEvEmulator` driver, in its own thread, and decodes the
rig's frames with the same DBC (`rig/dbc/ev_emulator.dbc`): `EV_Command` closes or opens the node's B and C
resistors on the world unit, `EV_StatusRequest` is answered with the unit's pilot as a probe would measure it
(`SimUnit.pilot_duty()`, `SimUnit.pilot_high_v()`). The `fault` attribute makes it misbehave the way a real one
can, for the rig's own tests: "silent" (no replies), "garbage" (a status frame of the wrong length),
"bus_off" (the controller's bus-off error frame instead of a reply), "fault" (a status reporting RelayStuck).
"""

from __future__ import annotations

import threading
from typing import Any

from rig.instruments.can_ev import CAN_ERR_BUSOFF, load_dbc

FAULTS = ("silent", "garbage", "bus_off", "fault")
RELAY_STUCK = 2


class SimulatedEvEmulator:
    """One emulator: the world units wired to its nodes by the rack file."""

    def __init__(self, world: Any, instrument: str, channel: str) -> None:
        self.world = world
        self.instrument = instrument
        self.channel = channel
        self.nodes: dict[int, Any] = {node: unit for (inst, node), unit in world.wiring.ev.items()
                                      if inst == instrument}
        db = load_dbc()
        self._cmd = db.get_message_by_name("EV_Command")
        self._req = db.get_message_by_name("EV_StatusRequest")
        self._status = db.get_message_by_name("EV_Status")
        self._fault: str | None = None
        self.frames_seen = 0
        self._bus: Any = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    @property
    def fault(self) -> str | None:
        return self._fault

    @fault.setter
    def fault(self, value: str | None) -> None:
        if value is not None and value not in FAULTS:
            raise ValueError(f"unknown fault {value!r}; one of {', '.join(FAULTS)}")
        self._fault = value

    def start(self) -> SimulatedEvEmulator:
        import can

        self._can = can
        self._bus = can.Bus(interface="virtual", channel=self.channel)
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name=f"can-ev-{self.instrument}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        bus, self._bus = self._bus, None
        if bus is not None:
            bus.shutdown()

    def _run(self) -> None:
        while not self._stopping.is_set():
            frame = self._bus.recv(timeout=0.05)
            if frame is None or frame.is_error_frame:
                continue
            self.frames_seen += 1
            try:
                self._handle(frame)
            except Exception:  # a frame it cannot read is dropped, as a device's firmware would
                continue

    def _handle(self, frame: Any) -> None:
        if frame.arbitration_id == self._cmd.frame_id:
            values = self._cmd.decode(bytes(frame.data), decode_choices=False)
            unit = self.nodes.get(int(values["Node"]))
            if unit is None:
                return
            state = int(values["PilotState"])
            with self.world.lock:
                unit.b_closed = state >= 1
                unit.c_closed = state == 2
            self._answer(int(values["Node"]), int(values["Counter"]))
        elif frame.arbitration_id == self._req.frame_id:
            values = self._req.decode(bytes(frame.data), decode_choices=False)
            if int(values["Node"]) in self.nodes:
                self._answer(int(values["Node"]), int(values["Counter"]))

    def _answer(self, node: int, counter: int) -> None:
        fault = self._fault
        if fault == "silent":
            return
        if fault == "bus_off":
            self._bus.send(self._can.Message(arbitration_id=CAN_ERR_BUSOFF, is_error_frame=True,
                                             is_extended_id=False, dlc=8, data=bytes(8)))
            return
        unit = self.nodes[node]
        with self.world.lock:
            duty = unit.pilot_duty()
            high = unit.pilot_high_v()
            state = unit.pilot_state()
        data = self._status.encode({
            "Node": node, "Counter": counter, "PilotState": "ABC".index(state),
            "Fault": RELAY_STUCK if fault == "fault" else 0,
            "PwmDuty": round(duty, 2) if duty is not None else 0.0, "PilotHigh": round(high, 3),
            "PwmPresent": 1 if duty is not None else 0,
        })
        if fault == "garbage":
            data = data[:5]
        self._bus.send(self._can.Message(arbitration_id=self._status.frame_id, is_extended_id=False, data=data))
