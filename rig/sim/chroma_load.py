"""A simulated Chroma 63800 programmable AC load: the vehicle's current, drawn through its unit's contactor."""

from __future__ import annotations

from rig.sim.scpi import ErrorQueue, header_matches
from rig.sim.world import SimUnit, World

MAX_RMS_A = 60.0
"""Rated RMS current of the simulated load; a setting above it is refused with -222 as the real one does."""


class ChromaLoad:
    """Answers the Chroma 63800 command subset the rig uses: MODE, CURR, CURR:PEAK:MAX, LOAD, MEAS."""

    def __init__(self, world: World, unit: SimUnit, serial: str) -> None:
        self.world = world
        self.unit = unit
        self.idn = f"Chroma ATE,63804,{serial},1.10"
        self.errors = ErrorQueue()
        self.mode = "CURR"

    def handle(self, line: str) -> str | None:
        header, _, arg = line.partition(" ")
        arg = arg.strip()
        with self.world.lock:
            u = self.unit
            if header == "*IDN?":
                return self.idn
            if header in ("*RST", "*CLS"):
                if header == "*RST":
                    u.load_on, u.load_setpoint_a = False, 0.0
                return None
            if header_matches(header, "SYSTem:ERRor?")[0]:
                return self.errors.pop()
            if header_matches(header, "MODE")[0]:
                if arg.upper() not in ("CURR", "CC"):
                    self.errors.push(-224, "Illegal parameter value")
                return None
            if header_matches(header, "CURRent:PEAK:MAXimum")[0]:
                return None
            if header_matches(header, "CURRent")[0]:
                try:
                    amps = float(arg)
                except ValueError:
                    self.errors.push(-104, "Data type error")
                    return None
                if not 0.0 <= amps <= MAX_RMS_A:
                    self.errors.push(-222, "Data out of range")
                    return None
                u.load_setpoint_a = amps
                return None
            if header_matches(header, "CURRent?")[0]:
                return f"{u.load_setpoint_a:.3f}"
            if header_matches(header, "LOAD")[0]:
                if arg.upper() in ("ON", "1"):
                    u.load_on = True
                elif arg.upper() in ("OFF", "0"):
                    u.load_on = False
                else:
                    self.errors.push(-224, "Illegal parameter value")
                return None
            if header_matches(header, "LOAD?")[0]:
                return "1" if u.load_on else "0"
            if header_matches(header, "MEASure:CURRent?")[0]:
                return f"{u.true_current():.3f}"
            if header_matches(header, "MEASure:POWer?")[0]:
                return f"{u.true_current() * 240.0:.1f}"
            if header_matches(header, "PROTect?")[0]:
                return "0"
            self.errors.push(-113, "Undefined header")
            return None
