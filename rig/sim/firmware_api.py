"""The hardware boundary a simulated firmware model is written against.

A firmware model is written as a device would be: it sees its own board (pilot, contactor, current
transformer, non-volatile memory, the Wi-Fi radio, the service console) and nothing else. It never sees the
rig, the instruments or the checks (DESIGN rule 6). A rack file names the model as `module:Class`; every unit
of the simulated rack runs one instance of it, created anew at each power-on.

To write a model, implement `FirmwareModel`:

    class MyFirmware:
        firmware_version = "24.44.0"            # what /api/1/version reports

        def __init__(self, board: Board) -> None:   # power-on: RAM is empty, board.nvram is not
            ...
        def tick(self) -> None:                     # called every TICK_S of world time while powered
            ...
        def on_message(self, sender: str, message: dict) -> None:   # a Wi-Fi message arrived
            ...
        def on_console(self, line: str) -> str:     # one service-console command, one reply line
            ...

The service console is how the rig commissions a network, on the lab rack as in simulation. A model answers
these commands (any other may answer `ERR unknown command`):

    gpm status                  -> role=leader|follower|standalone limit=<A> enabled=0|1 size=<n>
                                   followers=<a,b> online=<a,b>  (keys a role lacks are left out)
    gpm pair <unit> <password>  -> the WPA2 password of <unit>'s own Wi-Fi, which the leader joins; `OK`
    gpm form <f1,f2,...>        -> pairs these followers and reboots the leader; `OK rebooting`, or
                                   `ERR no Wi-Fi password for <units>` when one was not given by `gpm pair`
    gpm limit <A>               -> `OK`, or `ERR ...` when A is outside 6 A per unit .. nameplates - 1 A
    gpm enable 0|1              -> `OK`
    gpm remove <unit>           -> the leader drops the unit; the unit holds 6 A until its breaker cycles
    gpm add <unit>              -> pairs one more follower (after `gpm pair`) and reboots the leader
    gpm output <A>              -> this unit's branch-circuit setting (6 A .. its hardware maximum); `OK`
    gpm reset                   -> forget any network and reboot as a standalone unit

The test plans use `gpm add` (pairing) and `gpm output` (mixed breakers) only in the plans about them; a
model without them still runs every other plan.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

TICK_S = 0.25
"""How often a powered unit's firmware runs, in world seconds."""


class Board(Protocol):
    """What a unit's firmware can see and drive of its own hardware."""

    name: str
    """The unit's own identity on the Wi-Fi mesh (its SSID)."""
    capability_a: float
    """Branch-circuit setting from the installation card (breaker × 80 %, or lower)."""
    nameplate_a: float
    nvram: dict[str, Any]
    """Survives power cycles; everything else the model keeps is lost when power goes."""

    def now(self) -> float:
        """Seconds since the world began; never goes back."""
        ...

    def pilot_state(self) -> str:
        """'A' (no vehicle), 'B' (vehicle connected) or 'C' (vehicle ready to charge)."""
        ...

    def set_pilot(self, amps: float | None) -> None:
        """Advertise `amps` on the pilot PWM (6-80 A), or stop the PWM with None."""
        ...

    def set_contactor(self, closed: bool) -> None:
        """Close or open the contactor that feeds the vehicle."""
        ...

    def measured_current(self) -> float:
        """The unit's own current transformer, in amps."""
        ...

    def send(self, to: str, message: dict[str, Any]) -> None:
        """Send over Wi-Fi; silently lost while either end's link is down or powered off."""
        ...

    def reboot(self) -> None:
        """Restart the firmware (RAM lost, nvram kept), as pairing a follower does."""
        ...

    def join_wifi(self, leader: str | None) -> None:
        """Join a leader's Wi-Fi as a follower does when paired (None: back on the site Wi-Fi, as after a removal
        or a reset). Kept across power cycles. A unit on its leader's Wi-Fi leaves the site LAN, so the rig cannot
        reach its local API, as with real followers. Optional: a model that never calls it stays reachable."""
        ...


class FirmwareModel(Protocol):
    """One unit's firmware; see the module docstring for the console commands it answers."""

    firmware_version: ClassVar[str]

    def __init__(self, board: Board) -> None: ...

    def tick(self) -> None: ...

    def on_message(self, sender: str, message: dict[str, Any]) -> None: ...

    def on_console(self, line: str) -> str: ...
