"""`rig unit URL`: one unit's version, vitals, Wi-Fi status and lifetime counters as one JSON document.

For a first look at a unit on the bench, or at one that misbehaved in the night. It reads the four endpoints
with the rig's own API driver (`rig/instruments/unit_api.py`), so it copes with what real units send: a bare
`nan` (written as null here, and listed under "notes", since JSON has no NaN), a body cut off before its last
`}` (the members received whole are shown), several seconds before the first byte. The Wi-Fi SSID is shown
decoded (`ssid`) next to the base64 the unit sent (`wifi_ssid`).

A reply that does not fit its record (a field missing or of the wrong type, as firmware the rig has not seen may
send) is still shown as the unit sent it, with the reason under "notes". An endpoint that does not answer, or
answers something that is not a JSON object, is null, with the reason under "problems". The exit code is 0 when
every endpoint answered with an object, 1 when some did not, 2 when the unit did not answer at all.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from rig.instruments.errors import InstrumentError, InstrumentGarbage
from rig.instruments.unit_api import LIFETIME, VERSION, VITALS, WIFI_STATUS, UnitApi, decode_ssid

ENDPOINTS = {"version": VERSION, "vitals": VITALS, "wifi_status": WIFI_STATUS, "lifetime": LIFETIME}


def _finite(value: Any, path: str, notes: list[str]) -> Any:
    """`value` with every non-finite float replaced by None (noted), so the document is JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        notes.append(f"{path} was {value!r} (sent as a bare {'nan' if math.isnan(value) else 'inf'}); shown as null")
        return None
    if isinstance(value, dict):
        return {k: _finite(v, f"{path}.{k}", notes) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v, f"{path}[{i}]", notes) for i, v in enumerate(value)]
    return value


def read_unit(url: str, connect_timeout_s: float = 2.0, read_timeout_s: float = 10.0) -> tuple[dict[str, Any], int]:
    """The document for the unit at `url`, and the exit code it deserves."""
    api = UnitApi("unit", url.rstrip("/"), connect_timeout_s, read_timeout_s)
    doc: dict[str, Any] = {"url": api.base_url}
    problems: dict[str, str] = {}
    notes: list[str] = []
    unreachable = 0
    try:
        for key, endpoint in ENDPOINTS.items():
            try:
                record = getattr(api, key)()
                data: dict[str, Any] | None = dict(record.raw)
            except InstrumentGarbage as exc:
                try:  # show what it said all the same, if it is a JSON object at all
                    data = api.body(endpoint)
                    notes.append(f"{key} does not fit the rig's record, shown as sent: {exc.message}")
                except InstrumentError as again:
                    problems[key] = again.message
                    data = None
            except InstrumentError as exc:
                problems[key] = exc.message
                data = None
                unreachable += 1
            if data is not None and key == "wifi_status" and isinstance(data.get("wifi_ssid"), str):
                data["ssid"] = decode_ssid(data["wifi_ssid"])
            doc[key] = _finite(data, key, notes) if data is not None else None
    finally:
        api.close()
    if notes:
        doc["notes"] = notes
    if problems:
        doc["problems"] = problems
    if unreachable == len(ENDPOINTS):
        return doc, 2
    return doc, 1 if problems else 0


def cmd_unit(args: argparse.Namespace) -> int:
    doc, code = read_unit(args.url, args.connect_timeout, args.read_timeout)
    if code == 2:
        print(f"rig unit: {args.url} does not answer: {doc['problems']['version']}", file=sys.stderr)
        return 2
    print(json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False))
    return code


def setup_unit(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("unit", help="print one unit's version, vitals, Wi-Fi status and lifetime as JSON")
    p.add_argument("url", help="the unit's API address, e.g. http://192.168.1.50")
    p.add_argument("--connect-timeout", type=float, default=2.0, help="seconds to connect (default 2)")
    p.add_argument("--read-timeout", type=float, default=10.0, help="seconds to wait for a reply (default 10)")
    p.set_defaults(func=cmd_unit)
