"""JUnit XML for the lab's CI server, written as the run goes: a valid file with the right counts after every
finished test.

pytest's own `--junitxml` writes its file once, when the session ends: a night killed at 3 a.m. leaves the
previous night's file in place (a CI server reads old results as tonight's), and a night stopped by a signal
gets a test case without a name. This writer rewrites the whole file after each test instead, into a temporary
file first and then `os.replace`, so a reader (or a `kill -9` at any moment) finds either the previous complete
file or the new complete one, never half of one.

The rig's words, in JUnit's:

- passed: a bare `<testcase>`;
- failed (a firmware defect, found by a check): `<failure>`;
- broken (a rig fault: an instrument, the rig itself, a rack that cannot be brought up): `<error>`, never
  `<failure>`, so a CI server never blames the firmware for the rig;
- skipped by its plan, or not run because the rack became unusable: `<skipped>`;
- interrupted (Ctrl-C, SIGTERM, SIGHUP, or a `kill -9` found by the next run): `<skipped type="rig.interrupted"
  message="interrupted: ...">`. Not `<error>`: an interruption is neither the rig's fault nor the firmware's,
  and a CI server counts errors as breakage to be mended. The test was not judged, which is what `<skipped>`
  says; the message says why, and the suite's properties say how the run ended (`rig.status`, `rig.not_run`),
  so a CI job that looks sees an incomplete night (and `rig gate` exits 2, incomplete, for it).

The file has one `<testsuite>` in a `<testsuites>` root, as pytest writes it, with the same `classname`/`name`
per test, so a CI server's history of each test carries on from pytest's files.
"""

from __future__ import annotations

import os
import re
import socket
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

OUTCOMES = ("passed", "failed", "broken", "skipped", "interrupted")
ELEMENT = {"failed": "failure", "broken": "error", "skipped": "skipped", "interrupted": "skipped"}
INTERRUPTED_TYPE = "rig.interrupted"

_ILLEGAL = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def clean(text: str) -> str:
    """Text XML 1.0 can hold: control characters (an instrument's garbage in a message) written as #xNN."""
    return _ILLEGAL.sub(lambda m: f"#x{ord(m.group()):02X}", text)


@dataclass
class Case:
    """One test as JUnit shows it."""

    classname: str
    name: str
    outcome: str
    """passed, failed, broken, skipped or interrupted."""
    time: float = 0.0
    message: str = ""
    details: str = ""
    file: str | None = None
    line: int | None = None
    skip_type: str = "pytest.skip"

    def element(self) -> ET.Element:
        attrs = {"classname": self.classname, "name": self.name, "time": f"{self.time:.3f}"}
        if self.file:
            attrs["file"] = self.file
        if self.line is not None:
            attrs["line"] = str(self.line)
        case = ET.Element("testcase", {k: clean(v) for k, v in attrs.items()})
        tag = ELEMENT.get(self.outcome)
        if tag is not None:
            child = ET.SubElement(case, tag, {"message": clean(self.message[:1000])})
            if tag == "skipped":
                child.set("type", INTERRUPTED_TYPE if self.outcome == "interrupted" else self.skip_type)
            if self.details:
                child.text = clean(self.details)
        return case


def counts(suite: ET.Element) -> dict[str, int]:
    """The counts a `<testsuite>` must carry, from its test cases (so they are right by construction)."""
    cases = suite.findall("testcase")
    return {
        "tests": len(cases),
        "failures": sum(1 for c in cases if c.find("failure") is not None),
        "errors": sum(1 for c in cases if c.find("error") is not None),
        "skipped": sum(1 for c in cases if c.find("skipped") is not None),
    }


def write_atomically(path: Path, root: ET.Element) -> None:
    """Write the document whole into a temporary file beside `path`, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    ET.ElementTree(root).write(tmp, encoding="utf-8", xml_declaration=True)
    os.replace(tmp, path)


class JUnitWriter:
    """The run's JUnit file: `add()` a finished test and the file on disk is complete and valid again."""

    def __init__(self, path: str | Path, suite: str = "pytest", started: datetime | None = None) -> None:
        self.path = Path(path)
        self.suite = suite
        self.started = started or datetime.now(UTC)
        self.hostname = socket.gethostname()
        self.cases: list[Case] = []
        self.properties: dict[str, str] = {}

    def add(self, case: Case) -> None:
        self.cases.append(case)
        self.write()

    def set_properties(self, properties: dict[str, object]) -> None:
        """`rig.status = running` and the like, in the suite's `<properties>` (written with the next write)."""
        self.properties.update({k: str(v) for k, v in properties.items() if v is not None})

    def document(self) -> ET.Element:
        root = ET.Element("testsuites", {"name": "rig"})
        suite = ET.SubElement(root, "testsuite", {"name": self.suite})
        if self.properties:
            props = ET.SubElement(suite, "properties")
            for name, value in self.properties.items():
                ET.SubElement(props, "property", {"name": clean(name), "value": clean(value)})
        for case in self.cases:
            suite.append(case.element())
        elapsed = (datetime.now(UTC) - self.started).total_seconds()
        suite.attrib.update({k: str(v) for k, v in counts(suite).items()})
        suite.set("time", f"{max(0.0, elapsed):.3f}")
        suite.set("timestamp", self.started.isoformat(timespec="seconds"))
        suite.set("hostname", self.hostname)
        return root

    def write(self) -> None:
        write_atomically(self.path, self.document())


def complete_ended_run(path: Path, properties: dict[str, str], running: Case | None) -> None:
    """Finish the JUnit file of a run that could not finish it (killed): the test that was running when it ended
    is added as interrupted, and the suite's properties say how the run ended. A missing or unreadable file is
    started afresh with just that."""
    try:
        root = ET.parse(path).getroot()
        suite = root.find("testsuite") if root.tag == "testsuites" else root
        if suite is None:
            raise ET.ParseError("no testsuite")
    except (OSError, ET.ParseError):
        root = ET.Element("testsuites", {"name": "rig"})
        suite = ET.SubElement(root, "testsuite", {"name": "pytest"})
    props = suite.find("properties")
    if props is None:
        props = ET.Element("properties")
        suite.insert(0, props)
    existing = {p.get("name"): p for p in props.findall("property")}
    for name, value in properties.items():
        prop = existing.get(name)
        if prop is None:
            prop = ET.SubElement(props, "property", {"name": name})
        prop.set("value", clean(str(value)))
    if running is not None:
        suite.append(running.element())
    suite.attrib.update({k: str(v) for k, v in counts(suite).items()})
    write_atomically(path, root)
