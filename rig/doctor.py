"""`rig doctor --rack FILE`: is the rack ready for a night? Run it before one.

It opens every instrument of the rack file on its own (one missing instrument does not hide the others) and
checks, reading only, never switching anything:

- every instrument answers, and names the model the rack file says (`*IDN?` model field of the SCPI
  instruments; PRODUCT_ID of a LabJack, 7 for a T7);
- each LabJack opens and its lines read back (DIO_STATE); the service consoles answer with their prompt; the CAN
  bus is up (the EV emulator answers a status request for each node the rack uses);
- each unit's API answers with a firmware version, and that firmware meets the network's requirement
  (`rig.gpm.firmware_error` with the network's size);
- the rack is in its safe state: loads off (`LOAD?` = 0), relay lines released (breakers closed, Wi-Fi
  antennas connected, no pilot resistor switched in), every pilot in state A;
- each setting the night relies on, as the instrument has it now (read only: the night sets them itself at the
  start of every test): the analyzer's wiring, ranges or sensor ratio, update interval and items, each load's
  mode and protection bits, each T7's DIO_EF_CLOCK0 and Pulse Width In lines.

It prints one table, names the fix where it can, and exits non-zero on any problem. A simulated rack file is
brought up first (its device servers started, as `open_rack` does) and checked the same way.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Any

from rig import gpm
from rig.config import CanPilotRef, PilotRef, load_rack
from rig.config import Rack as RackConfig
from rig.instruments.errors import InstrumentError
from rig.instruments.factory import Instruments, open_instrument
from rig.instruments.unit_api import UnitApi
from rig.pilot import PilotState

DEFAULT_RACK = "racks/sim-6.toml"
PRODUCT_IDS = {4: "T4", 7: "T7", 8: "T8"}
"""LabJack PRODUCT_ID register values."""


@dataclass(frozen=True)
class Finding:
    """One row of the doctor's table."""

    subject: str
    """The instrument or unit it is about, as the rack file names it."""
    check: str
    ok: bool
    detail: str
    fix: str = ""


class Doctor:
    """Checks one rack, bound to its addresses, instrument by instrument and unit by unit."""

    def __init__(self, config: RackConfig) -> None:
        self.config = config
        self.findings: list[Finding] = []

    def add(self, subject: str, check: str, ok: bool, detail: str, fix: str = "") -> None:
        self.findings.append(Finding(subject, check, ok, detail, "" if ok else fix))

    # -- the whole rack --------------------------------------------------------------------------------------

    def run(self) -> list[Finding]:
        for name, cfg in self.config.instruments.items():
            self._instrument(name, cfg)
        members = self.config.network.members
        for unit in self.config.units:
            self._unit_api(unit.name, unit.api, len(members) if unit.name in members else 1)
        return self.findings

    def _instrument(self, name: str, cfg: Any) -> None:
        inst = Instruments()
        try:
            open_instrument(name, cfg, inst)
        except InstrumentError as exc:
            self.add(name, "answers", False, exc.message, _open_fix(cfg, exc.message))
            return
        try:
            check = getattr(self, f"_check_{cfg.driver}")
            check(name, cfg, inst)
        except InstrumentError as exc:
            self.add(name, "answers", False, exc.message, f"check that {name} is on and answering at {cfg.address}")
        finally:
            inst.close()

    # -- per driver ------------------------------------------------------------------------------------------

    def _identity(self, name: str, cfg: Any, idn: str) -> None:
        fields = [f.strip() for f in idn.split(",")]
        if len(fields) < 2 or not fields[1]:
            self.add(name, "answers", False, f"*IDN? reply is not an identity: {idn[:60]!r}",
                     f"another device may answer at {cfg.address}")
            return
        self.add(name, "answers", True, idn)
        if cfg.model is not None:
            said = fields[1]
            ok = said.upper() == cfg.model.upper()
            self.add(name, "model", ok, f"{said} (rack file: {cfg.model})" if not ok else said,
                     f"*IDN? names model {said!r}, the rack file {cfg.model!r}: another instrument answers at "
                     f"{cfg.address}, or correct `model` of [instruments.{name}]")

    def _check_chroma63800(self, name: str, cfg: Any, inst: Instruments) -> None:
        load = inst.loads[name]
        self._identity(name, cfg, load.idn())
        on = load.is_on()
        self.add(name, "safe state", not on, "load on (LOAD? = 1)" if on else "load off",
                 f"switch {name} off (LOAD OFF, or its front panel) before the night starts")
        mode = load.mode()
        trip = load.tripped()
        self.add(name, "settings", trip is None, f"mode {mode} (the night sets CURR); rated {cfg.load_rating[0]:g} A, "
                 f"{cfg.load_rating[1]:g} W" + (f"; {trip.message}" if trip else "; no protection latched"),
                 f"find out why {name} tripped (PROT?) before the night: the night clears it with PROT:CLE")

    def _check_yokogawa_wt(self, name: str, cfg: Any, inst: Instruments) -> None:
        analyzer = inst.analyzers[name]
        self._identity(name, cfg, analyzer.idn())
        elements = [u.analyzer.element for u in self.config.units if u.analyzer.instrument == name]
        settings, differ = analyzer.read_settings(elements)
        shown = ", ".join(f"{k} {v}" for k, v in settings.items())
        note = f" (the night sets: {'; '.join(differ)})" if differ else ""
        self.add(name, "settings", True, shown + note)

    def _check_labjack_t7(self, name: str, cfg: Any, inst: Instruments) -> None:
        lj = inst.labjacks[name]
        product = lj.product_id()
        model = PRODUCT_IDS.get(product, f"product {product}")
        self.add(name, "answers", True, f"LabJack {model}, serial {lj.serial_number()}")
        want = cfg.model or "T7"
        self.add(name, "model", model.upper() == want.upper(), f"{model} (PRODUCT_ID {product})",
                 f"identifier {cfg.address} opens a {model}, not a {want}: check the serial number in the rack file")
        uses = self._lines_of(name)
        state = lj.read_lines(list(uses))
        on = [f"{line} ({uses[line]})" for line, energised in state.items() if energised]
        self.add(name, "lines", True, f"DIO_STATE read back, {len(uses)} lines in use")
        duty = [u.pilot.duty_line for u in self.config.units
                if isinstance(u.pilot, PilotRef) and u.pilot.instrument == name and u.pilot.duty_line]
        if duty:
            self.add(name, "settings", True, lj.pulse_settings(duty) + " (the night sets the clock and each line)")
        self.add(name, "safe state", not on,
                 "energised: " + ", ".join(on) if on else "every relay line released",
                 "a run ended without its safe state: release the lines (power-cycle the T7 or rerun; the rig "
                 "leaves every line released) and check the units they switch")

    def _lines_of(self, name: str) -> dict[str, str]:
        """The lines of a LabJack the rack file uses, with what each switches."""
        uses: dict[str, str] = {}
        for u in self.config.units:
            if isinstance(u.pilot, PilotRef) and u.pilot.instrument == name:
                uses[u.pilot.b_line] = f"{u.name} vehicle B"
                uses[u.pilot.c_line] = f"{u.name} vehicle C"
            if u.breaker_relay.instrument == name:
                uses[u.breaker_relay.line] = f"{u.name} breaker tripped"
            if u.wifi_relay.instrument == name:
                uses[u.wifi_relay.line] = f"{u.name} Wi-Fi cut"
        return uses

    def _check_service_console(self, name: str, cfg: Any, inst: Instruments) -> None:
        console = inst.consoles[name]
        try:
            reply = console.command("gpm status")
        except InstrumentError as exc:
            self.add(name, "answers", False, exc.message,
                     "check the serial adapter, its cable to the unit and the unit's power (a unit still booting "
                     "is silent)")
            return
        self.add(name, "answers", True, f"gpm status: {reply}")

    def _check_can_ev_emulator(self, name: str, cfg: Any, inst: Instruments) -> None:
        ev = inst.ev_emulators[name]
        nodes = {u.pilot.node: u.name for u in self.config.units
                 if isinstance(u.pilot, CanPilotRef) and u.pilot.instrument == name}
        if not nodes:
            self.add(name, "answers", True, f"bus {ev.where} open; no unit uses this emulator")
            return
        try:
            statuses = ev.status(list(nodes))
        except InstrumentError as exc:
            self.add(name, "answers", False, exc.message,
                     f"check the emulator's power and CAN cable, and `ip -details link show {cfg.address}`")
            return
        self.add(name, "answers", True, f"CAN bus {ev.where} up; node(s) {', '.join(map(str, nodes))} answer")
        not_a = [f"{nodes[s.node]} (node {s.node}) in {s.state.value}" for s in statuses if s.state != PilotState.A]
        self.add(name, "safe state", not not_a, "pilots not in A: " + ", ".join(not_a) if not_a else "pilots in A",
                 "a run ended without its safe state: the rig sets every pilot to A when a run ends; rerun or reset "
                 "the emulator")

    # -- units -------------------------------------------------------------------------------------------------

    def _unit_api(self, unit: str, url: str, network_size: int) -> None:
        api = UnitApi(f"{unit}-api", url.rstrip("/"))
        try:
            version = api.version().firmware_version
        except InstrumentError as exc:
            self.add(unit, "api", False, exc.message,
                     f"check {unit}'s power and the lab PC's Wi-Fi link to its own network ({url})")
            return
        finally:
            api.close()
        self.add(unit, "api", True, f"{url} answers")
        try:
            problem = gpm.firmware_error(version, network_size)
        except ValueError as exc:
            self.add(unit, "firmware", False, str(exc), "the unit reports a version the rig cannot read")
            return
        need = ".".join(map(str, gpm.required_firmware(network_size)))
        self.add(unit, "firmware", problem is None, f"{version} (a network of {network_size} needs {need})"
                 if problem is None else problem, f"update {unit}'s firmware to {need} or newer")


def _open_fix(cfg: Any, message: str) -> str:
    """What to do about an instrument that cannot be opened; nothing when its driver's message says it."""
    if any(hint in message for hint in ("install", "bring it up", "plugged in")):
        return ""
    if cfg.driver == "labjack_t7":
        return f"check the T7's USB/Ethernet cable and its serial number {cfg.address} in the rack file"
    if cfg.driver == "service_console":
        return f"check the serial adapter at {cfg.address}"
    if cfg.driver == "can_ev_emulator":
        return f"check the CAN interface {cfg.address} ({cfg.can_interface})"
    return f"switch it on and check its LAN address {cfg.address}"


def diagnose(config: RackConfig, sim: Any = None) -> list[Finding]:
    """Check a rack. `sim` is an already started `SimulatedRack` (its servers perhaps broken by a test): then
    the rack it serves is checked; otherwise `config`, as a real rack."""
    bound = sim.bound if sim is not None else config
    if bound is None:
        raise ValueError("the simulated rack was not started")
    return Doctor(bound).run()


def table(findings: list[Finding]) -> str:
    """The findings as one aligned table; a problem's fix follows its detail."""
    rows = [("SUBJECT", "CHECK", "RESULT", "DETAIL")]
    for f in findings:
        detail = f.detail if f.ok or not f.fix else f"{f.detail} -> fix: {f.fix}"
        rows.append((f.subject, f.check, "ok" if f.ok else "PROBLEM", detail))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join(f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]}" for r in rows)


def run(rack_path: str, out: Any = None) -> int:
    """Load, bring up if simulated, check, print; 0 when the rack is ready, 1 when it is not."""
    out = out or sys.stdout
    config = load_rack(rack_path)
    sim = None
    if config.sim is not None:
        from rig.sim.rack_sim import SimulatedRack

        sim = SimulatedRack(config)
        sim.start()
    try:
        findings = diagnose(config, sim)
    finally:
        if sim is not None:
            sim.stop()
    problems = [f for f in findings if not f.ok]
    kind = "simulated" if config.simulated else "hardware"
    print(f"rig doctor: rack {config.name!r} ({kind}) from {rack_path}", file=out)
    print(table(findings), file=out)
    if problems:
        names = sorted({f.subject for f in problems}, key=[f.subject for f in findings].index)
        print(f"{len(problems)} problem(s): {', '.join(names)}; the rack is not ready", file=out)
        return 1
    print("the rack is ready", file=out)
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    return run(args.rack)


def setup_doctor(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("doctor", help="check that every instrument and unit of a rack answers and is safe")
    p.add_argument("--rack", default=DEFAULT_RACK, help=f"rack file (default: {DEFAULT_RACK})")
    p.set_defaults(func=cmd_doctor)
