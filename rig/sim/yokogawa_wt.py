"""A simulated Yokogawa WT power analyzer: one element per unit, every current in one numeric reply."""

from __future__ import annotations

from rig.sim.scpi import ErrorQueue, header_matches
from rig.sim.world import World

NOISE_A = 0.05
"""Peak measurement noise, well inside the rack file's measurement tolerance."""


class YokogawaWT:
    """Answers `:NUMeric:NORMal:ITEM<n> I,<element>`, `:NUMeric:NORMal:NUMber`, `:NUMeric:NORMal:VALue?`."""

    def __init__(self, world: World, instrument: str) -> None:
        self.world = world
        self.instrument = instrument
        self.idn = "YOKOGAWA,WT5000,91N000001,F1.02"
        self.errors = ErrorQueue()
        self.items: dict[int, tuple[str, int]] = {}
        self.count = 0

    def _value(self, function: str, element: int) -> str:
        unit = self.world.wiring.element.get((self.instrument, element))
        if unit is None:
            return "NAN"
        amps = unit.true_current()
        if amps > 0:
            amps = max(0.0, amps + self.world.random.uniform(-NOISE_A, NOISE_A))
        value = amps if function == "I" else amps * 240.0
        return f"{value:.4E}"

    def handle(self, line: str) -> str | None:
        header, _, arg = line.partition(" ")
        arg = arg.strip()
        with self.world.lock:
            if header == "*IDN?":
                return self.idn
            if header in ("*RST", "*CLS"):
                return None
            if header_matches(header, "SYSTem:ERRor?")[0]:
                return self.errors.pop()
            if header_matches(header, "RATE")[0] or header_matches(header, "NUMeric:FORMat")[0]:
                return None
            if header_matches(header, "NUMeric:NORMal:NUMBer")[0]:
                try:
                    self.count = int(arg)
                except ValueError:
                    self.errors.push(-104, "Data type error")
                return None
            ok, nums = header_matches(header, "NUMeric:NORMal:ITEM#")
            if ok:
                function, _, element = arg.partition(",")
                if function.strip().upper() not in ("I", "P") or not element.strip().isdigit():
                    self.errors.push(-224, "Illegal parameter value")
                    return None
                self.items[nums[0]] = (function.strip().upper(), int(element))
                return None
            if header_matches(header, "NUMeric:NORMal:VALue?")[0]:
                n = self.count or len(self.items)
                return ",".join(self._value(*self.items[i]) if i in self.items else "NAN" for i in range(1, n + 1))
            self.errors.push(-113, "Undefined header")
            return None
