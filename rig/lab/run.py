"""`rig run`: run test plans on racks taken from a lab's labgrid coordinator.

    rig run --lab HOST:PORT --place-tags kind=lab [--racks N] [-- PYTEST ARGS...]

(`--` before pytest's own options) is, in this process,
`pytest [PYTEST ARGS, default: testplans] --lab HOST:PORT --racks N --place-tags ...`: the plugin
(rig.fixtures.places) reserves and acquires up to N free matching racks (waiting for one if none is free), shards
the plans across them, and releases every rack on every way out. Without --lab it runs on --rack as
`pytest` would. Its exit code is pytest's.
"""

from __future__ import annotations

import argparse
import os

import pytest


def cmd_run(args: argparse.Namespace) -> int:
    pytest_args = list(args.pytest_args)
    if pytest_args[:1] == ["--"]:
        pytest_args = pytest_args[1:]
    if not any(not a.startswith("-") for a in pytest_args):
        pytest_args.insert(0, "testplans")
    lab = args.lab or os.environ.get("LG_COORDINATOR")
    if lab:
        pytest_args += ["--lab", lab, "--racks", str(args.racks)]
        if args.place_tags:
            pytest_args += ["--place-tags", *args.place_tags]
    elif args.racks != 1 or args.place_tags:
        raise ValueError("--racks and --place-tags need --lab COORDINATOR (or LG_COORDINATOR)")
    return int(pytest.main(pytest_args))


def setup_run(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run test plans on racks from a lab's labgrid coordinator (pytest arguments "
                                   "follow)", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lab", default=None, metavar="HOST:PORT",
                   help="the labgrid coordinator whose places are the racks (default: $LG_COORDINATOR)")
    p.add_argument("--racks", type=int, default=1, metavar="N", help="run on up to N racks at once (default 1)")
    p.add_argument("--place-tags", nargs="+", default=[], metavar="K=V",
                   help="the tags a place must have, e.g. kind=lab units=6 (required with --lab)")
    p.add_argument("pytest_args", nargs=argparse.REMAINDER, help="passed to pytest (default: testplans)")
    p.set_defaults(func=cmd_run)
