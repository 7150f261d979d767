"""Programmable AC electronic load, Chroma 63800 command set: the current an emulated vehicle draws."""

from __future__ import annotations

from rig.instruments.scpi import ScpiInstrument


class Chroma63800:
    """One load per unit, in constant-current mode. Implements the `Load` role."""

    def __init__(self, name: str, address: str, timeout_s: float = 2.0) -> None:
        self.name = name
        self._scpi = ScpiInstrument(name, address, timeout_s)
        self._setpoint: float | None = None

    def idn(self) -> str:
        return self._scpi.idn()

    def setup(self) -> None:
        """Constant-current mode, load off, zero current: the state the rig starts from."""
        self._scpi.write("LOAD OFF")
        self._scpi.write("MODE CURR")
        self._scpi.write("CURR 0")
        self._setpoint = 0.0
        self._scpi.check_errors("MODE CURR")

    def set_current(self, amps: float) -> None:
        """Draw `amps` RMS; refuses negative values before the instrument sees them."""
        if amps < 0:
            raise ValueError(f"{self.name}: a load cannot draw {amps} A")
        amps = round(amps, 2)
        if amps == self._setpoint:
            return
        self._scpi.write(f"CURR {amps:.2f}")
        self._scpi.check_errors(f"CURR {amps:.2f}")
        self._setpoint = amps

    def reopen(self) -> None:
        """A fresh connection; the setpoint is written again on the next set_current()."""
        self._scpi.reopen()
        self._setpoint = None

    def on(self) -> None:
        """Switch the load on; a load that refuses (protection latched, remote off) says why in SYST:ERR?."""
        self._scpi.write("LOAD ON")
        self._scpi.check_errors("LOAD ON")

    def off(self) -> None:
        self._scpi.write("LOAD OFF")
        self._scpi.check_errors("LOAD OFF")

    def is_on(self) -> bool:
        return self._scpi.query("LOAD?").strip() in ("1", "ON")

    def measure_current(self) -> float:
        return self._scpi.query_float("MEAS:CURR?")

    def close(self) -> None:
        self._scpi.close()
