"""The `rig` command. Each subcommand lives in its own module; this file only routes to them.

Every error a user can cause (a wrong rack file, an instrument that is not there) ends as one line on stderr
and a non-zero exit code, never as a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from rig.config import RackFileError, load_rack
from rig.doctor import setup_doctor
from rig.gate import add_gate_parser
from rig.instruments.errors import InstrumentError
from rig.judge import setup_judge
from rig.lab.run import setup_run
from rig.night_plan import setup_plan
from rig.unit_report import setup_unit


def cmd_check_rack(args: argparse.Namespace) -> int:
    """Validate a rack file without touching any instrument."""
    rack = load_rack(args.rack)
    net = rack.network
    kind = "simulated" if rack.simulated else "hardware"
    print(f"{args.rack}: rack {rack.name!r} ({kind}), {len(rack.units)} units, {len(rack.instruments)} instruments")
    print(f"network: leader {net.leader}, followers {', '.join(net.followers) or 'none'}, limit {net.limit_a:g} A,"
          f" {'enabled' if net.enabled else 'not enabled'}")
    return 0


SubcommandSetup = Callable[[argparse._SubParsersAction], None]


def _check_rack_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check-rack", help="validate a rack file without touching any instrument")
    p.add_argument("rack", help="rack file, e.g. racks/sim-6.toml")
    p.set_defaults(func=cmd_check_rack)


SUBCOMMANDS: list[SubcommandSetup] = [_check_rack_parser, setup_doctor, setup_unit, add_gate_parser, setup_run,
                                      setup_plan, setup_judge]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rig", description="Power Sharing hardware-in-the-loop test rig")
    sub = parser.add_subparsers(dest="command", required=True)
    for setup in SUBCOMMANDS:
        setup(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (RackFileError, InstrumentError, ValueError) as exc:
        print(f"rig {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"rig {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
