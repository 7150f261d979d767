"""Programmable AC electronic load, Chroma 63800 command set: the current an emulated vehicle draws.

The load sinks in whatever mode its front panel left it in, so the driver sets constant current and reads the
mode back. Its errors are in the standard event status register (`*ESR?`, read and cleared; the 63800 manual
lists no `SYST:ERR?`). Past its rating it trips its own protection and stops sinking: `PROT?` gives the bits,
which the driver names, and `PROT:CLE` clears them.
"""

from __future__ import annotations

from rig.instruments.errors import InstrumentError, InstrumentGarbage
from rig.instruments.scpi import ScpiInstrument

ESR_BITS = {4: "query error", 8: "device-dependent error", 16: "execution error", 32: "command error"}
"""IEEE 488.2 standard event status bits the 63800 sets on a mistake."""
PROT_BITS = {8: "OVP", 16: "OTP", 32: "OCP", 64: "OPP"}
"""`PROT?` bits (63800 manual, status tables: OV 8, OC 32, OP 64; OTP 16 inferred)."""


class LoadProtectionTrip(InstrumentError):
    """A load's own protection tripped: it stopped sinking, so the unit's current is not the vehicle's."""


def describe_bits(bits: int, names: dict[int, str]) -> str:
    found = [name for bit, name in names.items() if bits & bit]
    rest = bits & ~sum(names)
    found += [f"bit {i}" for i in range(32) if rest >> i & 1]
    return ", ".join(found) or "none"


def read_esr(scpi: ScpiInstrument) -> str | None:
    reply = scpi.query("*ESR?")
    try:
        bits = int(float(reply))
    except ValueError:
        raise InstrumentGarbage(scpi.name, f"reply to '*ESR?' is not a register value: {reply[:40]!r}") from None
    bits &= sum(ESR_BITS)
    return None if bits == 0 else f"*ESR? = {bits} ({describe_bits(bits, ESR_BITS)})"


class Chroma63800:
    """One load, in constant-current mode. Implements the `Load` role."""

    def __init__(self, name: str, address: str, timeout_s: float = 2.0, baud_rate: int | None = None) -> None:
        self.name = name
        self._scpi = ScpiInstrument(name, address, timeout_s, read_esr, baud_rate)
        self._setpoint: float | None = None

    def idn(self) -> str:
        return self._scpi.idn()

    def setup(self) -> dict[str, str]:
        """Load off, constant-current mode, zero current, latched protection cleared; returns what reads back.
        A mode that does not read back as CURR is a rig fault."""
        read_esr(self._scpi)  # an earlier user's mistakes are not this rig's
        self._scpi.write("LOAD OFF")
        self._scpi.write("MODE CURR")
        self._scpi.write("CURR 0")
        self._setpoint = 0.0
        self._scpi.check_errors("MODE CURR")
        latched = self.protection()
        if latched:
            self._scpi.write("PROT:CLE")
        mode = self._scpi.query("MODE?").strip()
        if mode.upper() not in ("CURR", "CC"):
            raise InstrumentError(self.name, f"mode reads {mode!r} after MODE CURR: the load would not sink the "
                                             f"current it is set to")
        return {"mode": mode, "load": self._scpi.query("LOAD?").strip(),
                "protection at start": describe_bits(latched, PROT_BITS) + (" (cleared)" if latched else "")}

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

    @property
    def setpoint(self) -> float | None:
        return self._setpoint

    def reopen(self) -> None:
        """A fresh connection; the setpoint is written again on the next set_current()."""
        self._scpi.reopen()
        self._setpoint = None

    def on(self) -> None:
        """Switch the load on; a load that refuses (protection latched) says why in *ESR? and PROT?."""
        self._scpi.write("LOAD ON")
        try:
            self._scpi.check_errors("LOAD ON")
        except InstrumentError:
            bits = self.protection()
            if bits:
                raise LoadProtectionTrip(self.name, f"refuses LOAD ON: protection latched "
                                                    f"({describe_bits(bits, PROT_BITS)}, PROT? = {bits})") from None
            raise

    def off(self) -> None:
        self._scpi.write("LOAD OFF")
        self._scpi.check_errors("LOAD OFF")

    def is_on(self) -> bool:
        return self._scpi.query("LOAD?").strip() in ("1", "ON")

    def mode(self) -> str:
        """`MODE?`: the mode the load sinks in."""
        return self._scpi.query("MODE?").strip()

    def measure_current(self) -> float:
        return self._scpi.query_float("MEAS:CURR?")

    def protection(self) -> int:
        """`PROT?`: the latched protection bits, 0 when none."""
        reply = self._scpi.query("PROT?")
        try:
            return int(float(reply))
        except ValueError:
            raise InstrumentGarbage(self.name, f"reply to 'PROT?' is not a register value: {reply[:40]!r}") from None

    def tripped(self) -> LoadProtectionTrip | None:
        """The protection trip to raise, if `PROT?` shows one."""
        bits = self.protection()
        if not bits:
            return None
        return LoadProtectionTrip(self.name, f"protection tripped: {describe_bits(bits, PROT_BITS)} (PROT? = {bits});"
                                             f" the load stopped sinking")

    def errors(self) -> str | None:
        """The standard event status, read-only look at its health (reading clears it, as on the real one)."""
        return read_esr(self._scpi)

    def close(self) -> None:
        self._scpi.close()
