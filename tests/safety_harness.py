"""Helpers for the safety tests: a fast copy of the simulated rack file, a TOML writer, and a pytest subprocess.

The rack copy keeps every instrument and unit of racks/sim-6.toml and changes only what the safety tests need:
short instrument timeouts (so a silent instrument costs tenths of a second), a panel trip level the interlock
test can reach, and an absolute manifest path (the copy lives in a temporary directory).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SIM_RACK = ROOT / "racks" / "sim-6.toml"


def _string(text: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped, everything else as is."""
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _key(key: str) -> str:
    return key if key and key.replace("_", "").replace("-", "").isalnum() and key.isascii() else _string(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        if isinstance(value, float) and value != value:
            return "nan"
        if isinstance(value, float) and value in (float("inf"), float("-inf")):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def dump_toml(data: dict[str, Any]) -> str:
    """A rack-file-shaped dict as TOML: scalars first, then tables, then arrays of tables (inline below that)."""
    lines: list[str] = []

    def is_table_array(v: Any) -> bool:
        return isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)

    def emit(prefix: str, table: dict[str, Any]) -> None:
        for k, v in table.items():
            if not isinstance(v, dict) and not is_table_array(v):
                lines.append(f"{_key(k)} = {_value(v)}")
        for k, v in table.items():
            name = f"{prefix}.{_key(k)}" if prefix else _key(k)
            if isinstance(v, dict):
                lines.append("")
                lines.append(f"[{name}]")
                emit(name, v)
        for k, v in table.items():
            name = f"{prefix}.{_key(k)}" if prefix else _key(k)
            if is_table_array(v):
                for item in v:
                    lines.append("")
                    lines.append(f"[[{name}]]")
                    for ik, iv in item.items():
                        lines.append(f"{_key(ik)} = {_value(iv)}")

    emit("", data)
    return "\n".join(lines) + "\n"


def sim_rack_data() -> dict[str, Any]:
    data = tomllib.loads(SIM_RACK.read_text(encoding="utf-8"))
    manifest = data.setdefault("firmware", {}).get("manifest", "firmware_under_test/manifests/reference.toml")
    data["firmware"]["manifest"] = str(ROOT / manifest)
    return data


def fast_rack(tmp: Path, timeout_s: float = 0.5, trip_level_a: float | None = None, **changes: Any) -> Path:
    """A copy of the simulated rack with short timeouts; `changes` are top-level keys to set."""
    data = sim_rack_data()
    for inst in data["instruments"].values():
        inst["timeout_s"] = timeout_s
    for unit in data["units"]:
        unit["api_timeout_s"] = timeout_s
    if trip_level_a is not None:
        data["trip_level_a"] = trip_level_a
    data.update(changes)
    path = tmp / "rack.toml"
    path.write_text(dump_toml(data), encoding="utf-8")
    return path


def pytest_command(tmp: Path, *args: str) -> list[str]:
    """`python -m pytest <args>` writing Allure results, JUnit XML and traces under tmp."""
    return [sys.executable, "-m", "pytest", *args, "-q", "-rA", "-p", "no:cacheprovider",
            f"--alluredir={tmp / 'results'}", f"--junitxml={tmp / 'junit.xml'}", f"--trace-dir={tmp / 'traces'}"]


def run_pytest(tmp: Path, plan: str, *extra: str, env: dict[str, str] | None = None,
               timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run a plan in a pytest subprocess from the repository; its reports go under tmp."""
    full_env = {**os.environ, "RIG_PROBE_DIR": str(tmp), **(env or {})}
    return subprocess.run(pytest_command(tmp, plan, *extra), cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=full_env)


def run_split(tmp: Path, plans: list[Path], *extra: str, env: dict[str, str] | None = None, parts: int = 2,
              timeout: float = 900) -> list[tuple[Path, subprocess.CompletedProcess[str]]]:
    """Run plan files in `parts` concurrent pytest processes (the largest files spread first), each writing its
    reports under tmp/part-N (`{out}` in an argument is that directory); returns each part's directory and
    result."""
    groups: list[list[Path]] = [[] for _ in range(parts)]
    sizes = [0] * parts
    for plan in sorted(plans, key=lambda p: p.stat().st_size, reverse=True):
        i = sizes.index(min(sizes))
        groups[i].append(plan)
        sizes[i] += plan.stat().st_size
    full_env = {**os.environ, **(env or {})}
    running = []
    for i, group in enumerate(g for g in groups if g):
        out = tmp / f"part-{i}"
        out.mkdir(parents=True, exist_ok=True)
        cmd = pytest_command(out, *(str(p.relative_to(ROOT)) for p in group), *(a.replace("{out}", str(out))
                                                                                for a in extra))
        running.append((out, subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                              text=True, env={**full_env, "RIG_PROBE_DIR": str(out)})))
    results = []
    for out, proc in running:
        stdout, stderr = proc.communicate(timeout=timeout)
        results.append((out, subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)))
    return results


def allure_results(results: Path) -> dict[str, dict[str, Any]]:
    """Allure test results by test name (with parameters, as pytest names it)."""
    out = {}
    for f in results.glob("*-result.json"):
        r = json.loads(f.read_text(encoding="utf-8"))
        out[r["name"]] = r
    return out


def junit_cases(path: Path) -> dict[str, str]:
    """Each JUnit test case's outcome: passed, failure, error or skipped."""
    out = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        out[case.get("name", "")] = kinds[0] if kinds else "passed"
    return out
