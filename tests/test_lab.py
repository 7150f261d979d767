"""A lab of three simulated racks behind a real labgrid coordinator on 127.0.0.1: a night sharded across them.

The coordinator is labgrid's own (`labgrid-coordinator`, a free port), the three racks are places tagged with
their rack files (copies of racks/sim-6.toml named sim-a, sim-b, sim-c), and the runs are `rig run --lab` and
`pytest --lab` in subprocesses, as a CI job starts them. They load tests/lab_plans/lab_faults.py, which writes down
which rack ran each test and brings on the faults a lab must survive. Every process a test starts is killed in its
teardown, whatever happened; a test that ran processes checks that none was left behind.

One night serves most of the tests below (about 20 s of wall time on a two-core machine): the gate tier sharded over
the three racks by `rig run`, while a rack breaks, a worker dies, and a second run started once the night holds
every rack waits for one. The gate's verdicts on the firmware are not what is proven here (a failed gate test is
shown as a warning); that every test ran once, on which rack, and that broken stays broken, is. The end of a night
and SIGTERM need runs of their own, on tests/lab_plans/plan_small.py. The shapes (scheduler, tags) are checked
without any process at the end.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from rig.lab.coordinator import local_coordinator, simulated_racks
from rig.lab.places import LabClient, LabError, parse_tags, stale_owner
from rig.lab.shard import RackScheduling, group_key

ROOT = Path(__file__).resolve().parents[1]
PLAN = "tests/lab_plans/plan_small.py"
GATE = ["testplans", "--tier", "gate"]
RACKS = ["sim-a", "sim-b", "sim-c"]


# -- a lab of three simulated racks --------------------------------------------------------------------------


@dataclass
class Lab:
    address: str
    tmp: Path
    runs: list[subprocess.Popen[str]] = field(default_factory=list)
    checked: bool = False
    """Whether the test saw every rack released and no reservation left, after its last run."""

    def start(self, name: str, plans: Sequence[str], racks: int, *pytest_args: str,
              env: dict[str, str] | None = None, allure: bool = False, rig_run: bool = False) -> subprocess.Popen[str]:
        """A lab run of `plans` on up to `racks` racks (`rig run` or `pytest --lab`), in its own process group; its
        reports go under tmp/name, Allure's only when asked (and never plots: they are not what this is about)."""
        out = self.tmp / name
        out.mkdir()
        lab = ["--lab", self.address, "--racks", str(racks), "--place-tags", "kind=sim"]
        reports = [f"--alluredir={out / 'results'}", "--clean-alluredir"] if allure else ["-p", "no:allure_pytest"]
        if not any(p.startswith("testplans") for p in plans):
            reports += ["-p", "no:hypothesispytest"]  # its import is a good part of a small run's start
        args = [*plans, "-q", "-p", "lab_faults", "--plots=none", *reports,
                f"--junitxml={out / 'junit.xml'}", f"--trace-dir={out / 'traces'}", *pytest_args]
        cmd = [sys.executable, "-m", "rig.cli", "run", *lab, "--", *args] if rig_run else \
            [sys.executable, "-m", "pytest", *args, *lab]
        path = os.pathsep.join(filter(None, [str(ROOT / "tests" / "lab_plans"), os.environ.get("PYTHONPATH")]))
        full_env = {**os.environ, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1", "RIG_LAB_LOG": str(out / "log.jsonl"),
                    "RIG_LAB_COLLECTED": str(out / "collected.json"), **(env or {})}
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=(out / "stdout.txt").open("w"), stderr=subprocess.STDOUT,
                                text=True, env=full_env, start_new_session=True)
        self.runs.append(proc)
        return proc

    def output(self, name: str) -> str:
        path = self.tmp / name / "stdout.txt"
        return path.read_text() if path.exists() else ""

    def log(self, name: str) -> list[dict[str, Any]]:
        path = self.tmp / name / "log.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def collected(self, name: str) -> list[dict[str, str]]:
        return json.loads((self.tmp / name / "collected.json").read_text())

    def junit(self, name: str) -> dict[str, str]:
        """Test name -> passed, failure, error or skipped."""
        out = {}
        for case in ET.parse(self.tmp / name / "junit.xml").getroot().iter("testcase"):
            kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
            out[case.get("name", "")] = kinds[0] if kinds else "passed"
        return out

    def held(self) -> dict[str, str]:
        """`labgrid-client -v places`: place -> who holds it, for the places held."""
        return {name: p.acquired for name, p in LabClient(self.address).places().items() if p.acquired}

    def assert_all_released(self) -> None:
        """No place held, no reservation left (`labgrid-client who` and `reservations`)."""
        assert self.held() == {}
        assert LabClient(self.address).reservations() == {}
        self.checked = True

    def left_running(self) -> list[int]:
        """Processes of the runs' process groups still there (none may outlive its run)."""
        groups = {proc.pid for proc in self.runs}
        return [pid for pid, pgrp in _processes() if pgrp in groups and pid not in groups]

    def kill_all(self) -> None:
        """Every run this test started, with its workers (its process group), by id."""
        for proc in self.runs:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()

    def clean_up(self) -> None:
        """Kill what is left and give every rack back (a test that failed half-way must not leave the next one
        without racks)."""
        self.kill_all()
        if self.checked:
            return
        client = LabClient(self.address)
        for place, holder in self.held().items():
            client.release_from(place, holder)
        for token in client.reservations():
            client.cancel(token)


def _processes() -> list[tuple[int, int]]:
    """(pid, process group) of every live process (Linux /proc)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[-1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            out.append((int(stat.parent.name), int(fields[2])))
    return out


def children_of(pid: int) -> list[int]:
    """Processes whose parent is pid (Linux /proc)."""
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[-1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().rsplit(")", 1)[-1].split()[0] == "Z")


def until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s:g} s")
        time.sleep(0.1)


def dead_pid() -> int:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    return dead.pid


@pytest.fixture(scope="module")
def coordinator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One coordinator with the three racks for the module's tests (each test leaves every rack released)."""
    tmp = tmp_path_factory.mktemp("lab")
    with local_coordinator(tmp / "coordinator") as address:
        simulated_racks(address, RACKS, tmp / "racks")
        yield address


@pytest.fixture
def lab(coordinator: str, tmp_path: Path) -> Iterator[Lab]:
    lab = Lab(coordinator, tmp_path)
    try:
        yield lab
    finally:
        lab.clean_up()


# -- one night: the gate tier over three racks, a rack breaking, a worker dying, a second run waiting ------------


@dataclass
class Night:
    lab: Lab
    codes: dict[str, int]
    """Exit code of each run: night, second."""
    stale: str
    """Who held sim-c, left acquired by a run killed before the night."""
    released: str
    """What was wrong with the racks after both runs: nothing, or an AssertionError's message."""
    left_running: list[int]

    def ran(self) -> list[dict[str, Any]]:
        return self.lab.log("night")

    def faulted(self, fault: str) -> dict[str, Any]:
        entries = [r for r in self.ran() if r.get("fault") == fault]
        assert len(entries) == 1, (fault, entries)
        return entries[0]


@pytest.fixture(scope="module")
def night(coordinator: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Night]:
    """`rig run` of the gate tier over the three racks, with sim-c left acquired by a run killed before it. In the
    night the first test of the largest group of tests sharing a network breaks its rack and the worker running the
    last group dies. A second run (one test of the small plan on one rack) is started once the night holds every
    rack; the night's tests wait until the second says it waits for a free rack, so it surely started while none
    was free."""
    lab = Lab(coordinator, tmp_path_factory.mktemp("night"))
    try:
        stale = f"ci:{dead_pid()}"
        LabClient(coordinator, user=stale).acquire("sim-c")
        second_out = lab.tmp / "second" / "stdout.txt"
        night = lab.start("night", GATE, 3, rig_run=True, allure=True,
                          env={"RIG_LAB_BREAK": "first-of-largest-group", "RIG_LAB_CRASH": "last-group",
                               "RIG_LAB_AWAIT": f"{second_out}::waiting for a free rack"})
        until(lambda: "acquired 3 of 3 rack(s)" in lab.output("night") or night.poll() is not None, 120,
              "the night acquires three racks")
        second = lab.start("second", [PLAN, "-k", "test_two_units and 1"], 1)
        codes = {"night": night.wait(timeout=300), "second": second.wait(timeout=300)}
        try:
            lab.assert_all_released()
            released = ""
        except AssertionError as exc:
            released = str(exc) or "a place held or a reservation left"
        yield Night(lab, codes, f"{LabClient(coordinator).host}/{stale}", released, lab.left_running())
    finally:
        lab.clean_up()


def test_the_night_ran_every_gate_test_once_over_the_three_racks(night: Night) -> None:
    lab = night.lab
    assert night.codes["night"] == 1, lab.output("night")  # 1: tests are broken
    collected = [c["test"] for c in lab.collected("night")]
    assert len(collected) >= 10, collected  # the gate tier, not an empty selection
    ran = [r["test"] for r in night.ran()]
    assert sorted(ran) == sorted(collected), (ran, collected)  # every test once, the broken ones included
    assert {r["rack"] for r in night.ran()} == set(RACKS)
    cases = lab.junit("night")
    assert len(cases) == len(collected), cases
    name = {r["test"]: r["test"].split("::")[-1] for r in night.ran()}
    broken = {name[night.faulted("break")["test"]], name[night.faulted("crash")["test"]]}
    assert {n for n, kind in cases.items() if kind == "error"} == broken, cases  # broken is an <error>
    failed = sorted(n for n, kind in cases.items() if kind == "failure")
    if failed:  # a verdict on the firmware, not the lab's doing: shown, not hidden, without failing the lab
        warnings.warn(f"the sharded gate had firmware failures: {', '.join(failed)} (see {lab.tmp / 'night'})",
                      stacklevel=1)
    assert all(cases[n] in ("passed", "failure") for n in cases if n not in broken), cases


def test_a_rack_made_unusable_gives_the_tests_it_had_not_started_to_the_others(night: Night) -> None:
    lab = night.lab
    broke = night.faulted("break")
    rack = broke["rack"]
    m = re.search(rf"rack {rack} is unusable; (\d+) test\(s\) it had not started go to the other racks",
                  lab.output("night"))
    assert m and int(m.group(1)) >= 1, lab.output("night")
    ran = night.ran()
    assert not [r for r in ran if r["rack"] == rack and r["start"] > broke["end"]], ran  # it ran nothing more
    handed = [r for r in ran if r["group"] == broke["group"] and r["test"] != broke["test"]]
    assert len(handed) == int(m.group(1)), (handed, m.group(0))  # its group's other tests, which it had not started
    assert all(r["rack"] != rack and r["start"] > broke["end"] for r in handed), handed


def test_a_worker_that_dies_leaves_its_test_broken_and_it_is_not_run_again(night: Night) -> None:
    crashed = night.faulted("crash")
    assert [r["test"] for r in night.ran()].count(crashed["test"]) == 1
    assert f"died while running {crashed['test']}" in night.lab.output("night")


def test_a_network_s_tests_run_on_one_rack_in_order(night: Night) -> None:
    collected = [c["test"] for c in night.lab.collected("night")]
    broke = night.faulted("break")
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in night.ran():
        groups.setdefault(r["group"], []).append(r)
    several = [g for key, g in groups.items() if len(g) > 1 and key != broke["group"]]
    assert several, groups  # the gate shares networks
    for runs in several:
        assert len({r["rack"] for r in runs}) == 1, runs
        by_start = [r["test"] for r in sorted(runs, key=lambda r: r["start"])]
        assert by_start == sorted(by_start, key=collected.index), runs


def test_a_second_run_waits_for_a_free_rack_rather_than_share_one(night: Night) -> None:
    lab = night.lab
    assert night.codes["second"] == 0, lab.output("second")
    assert "waiting for a free rack" in lab.output("second"), lab.output("second")
    second = lab.log("second")
    assert len(second) == 1, second
    assert second[0]["start"] > max(r["end"] for r in night.ran()), (second, night.ran())


def test_allure_keeps_history_per_test_and_names_every_rack_and_firmware(night: Night) -> None:
    results_dir = night.lab.tmp / "night" / "results"
    results = [json.loads(f.read_text()) for f in results_dir.glob("*-result.json")]
    crashed = night.faulted("crash")["test"]
    ran = [r["test"] for r in night.ran() if r["test"] != crashed]  # a worker that died wrote nothing of its test
    assert sorted(r["fullName"] for r in results) == sorted(
        _allure_full_name(t) for t in ran), results  # one result per test
    assert sorted(r["status"] for r in results).count("broken") == 1, [r["status"] for r in results]
    racks = [p for r in results for p in r["parameters"] if p["name"] == "rack"]
    assert len(racks) == len(results) and all(p.get("excluded") for p in racks), racks
    env = (results_dir / "environment.properties").read_text()
    assert "rack=sim-a, sim-b, sim-c\n" in env and "firmware=24.44.0\n" in env, env


def _allure_full_name(nodeid: str) -> str:
    path, _, name = nodeid.partition("::")
    return path.removesuffix(".py").replace("/", ".") + "#" + name.split("[")[0]


def test_rig_run_takes_over_a_rack_left_acquired_by_a_run_that_was_killed(night: Night) -> None:
    assert f"place sim-c was left acquired by {night.stale}" in night.lab.output("night"), night.lab.output("night")


def test_every_rack_is_released_and_no_process_left_at_the_end(night: Night) -> None:
    assert "released sim-a, sim-b, sim-c" in night.lab.output("night"), night.lab.output("night")
    assert night.released == ""
    assert night.left_running == []


# -- what needs a run of its own -------------------------------------------------------------------------------


def test_sigterm_releases_every_rack_after_leaving_it_safe(lab: Lab) -> None:
    run = lab.start("night", [PLAN], 2, env={"RIG_LAB_HOLD": "60"})
    state = lab.tmp / "night"  # the unsafe markers live beside the trace directory
    until(lambda: len(list(state.glob(".rack-sim-*.unsafe"))) == 2 or run.poll() is not None, 120,
          "a test under way on both racks (its unsafe marker written)")
    assert run.poll() is None, lab.output("night")
    assert "acquired 2 of 2 rack(s)" in lab.output("night")
    workers = children_of(run.pid)
    assert len([w for w in workers if alive(w)]) >= 2, workers
    os.kill(run.pid, signal.SIGTERM)  # the controller only, as a CI job's timeout does
    assert run.wait(timeout=60) == 2, lab.output("night")  # interrupted
    lab.assert_all_released()
    assert list(state.glob(".rack-*.unsafe")) == [], "a rack was left unsafe"
    until(lambda: not lab.left_running(), 10, "every worker gone")


def test_sigterm_while_waiting_for_a_rack_cancels_the_reservations(lab: Lab) -> None:
    other = LabClient(lab.address, user="someone:1")
    for place in RACKS:  # every rack taken by someone else
        other.acquire(place)
    try:
        run = lab.start("waiting", [PLAN], 2)
        until(lambda: "waiting for a free rack" in lab.output("waiting") or run.poll() is not None, 60,
              "the run waits for a free rack")
        assert len(LabClient(lab.address).reservations()) == 2
        os.kill(run.pid, signal.SIGTERM)
        assert run.wait(timeout=30) == 2, lab.output("waiting")
        assert LabClient(lab.address).reservations() == {}
        assert lab.left_running() == []
    finally:
        for place in RACKS:
            other.release(place)


def test_a_rack_that_breaks_after_the_others_finished_hands_its_tests_to_a_finished_rack(lab: Lab) -> None:
    """The end of a night: the other rack has run its last group and its worker was told to finish when this one
    breaks; a new worker is started on the finished rack for what is left. (The breaking test waits until the
    other rack's last test is written down.)"""
    log = lab.tmp / "night" / "log.jsonl"
    run = lab.start("night", [PLAN], 2, "-k", "test_two_units or test_three_units",
                    env={"RIG_LAB_BREAK": "test_two_units[2]", "RIG_LAB_AWAIT": f"{log}::test_three_units[3]",
                         "RIG_LAB_AWAIT_ONLY": "test_two_units[2]"})
    assert run.wait(timeout=300) == 1, lab.output("night")
    ran = {r["test"].split("::")[1]: r for r in lab.log("night")}
    assert len(ran) == 6 and len(lab.log("night")) == 6, lab.log("night")
    broke = ran["test_two_units[2]"]
    assert ran["test_two_units[3]"]["rack"] != broke["rack"], ran  # handed on, to the rack that had finished
    assert ran["test_two_units[3]"]["start"] > max(ran[f"test_three_units[{i}]"]["end"] for i in (1, 2, 3))
    assert lab.junit("night")["test_two_units[2]"] == "error"
    assert "test(s) a broken rack left" in lab.output("night"), lab.output("night")
    lab.assert_all_released()
    assert lab.left_running() == []


def test_a_run_that_finds_no_matching_place_says_so_in_one_line(coordinator: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "rig.cli", "run", "--lab", coordinator, "--place-tags",
                           "kind=lab", "--", PLAN, "-q", "-p", "no:hypothesispytest"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 4, proc.stdout + proc.stderr  # pytest's usage error
    assert "no place matches the tags kind=lab (places: sim-a, sim-b, sim-c)" in proc.stderr, proc.stderr


# -- shapes, without processes ----------------------------------------------------------------------------------


def test_a_coordinator_that_does_not_answer_is_one_line_naming_it() -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{sock.getsockname()[1]}"
    with pytest.raises(LabError) as err:
        LabClient(address, timeout_s=20).places()
    message = str(err.value)
    assert message.startswith(f"listing the places (coordinator {address}): ") and "\n" not in message
    assert "unavailable" in message  # why, as labgrid's client saw it


def test_tags_are_checked_whole() -> None:
    assert parse_tags(["kind=lab", "units=6"]) == {"kind": "lab", "units": "6"}
    for bad in ("kind", "Kind=lab", "kind=a,b", "k=lab"):
        with pytest.raises(LabError, match="is not a tag"):
            parse_tags([bad])


def test_a_place_held_by_a_run_that_died_on_this_host_is_stale() -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    assert stale_owner(f"vm/ci:{dead.pid}", "vm")
    assert not stale_owner(f"vm/ci:{os.getpid()}", "vm")  # alive
    assert not stale_owner(f"other/ci:{dead.pid}", "vm")  # another host's: not ours to judge
    assert not stale_owner("vm/alice", "vm")  # not a rig run


class FakeNode:
    """What the scheduler uses of an xdist WorkerController."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.sent: list[int] = []
        self.shutting_down = False

    def send_runtest_some(self, indices: list[int]) -> None:
        self.sent.extend(indices)

    def shutdown(self) -> None:
        self.shutting_down = True


class FakeItem:
    def __init__(self, nodeid: str, marker: Any = None) -> None:
        self.nodeid = nodeid
        self._marker = marker

    def get_closest_marker(self, name: str) -> Any:
        return self._marker if name == "network" else None


def test_group_keys_are_the_network_or_the_module() -> None:
    a = FakeItem("p/test_x.py::test_a[1]", pytest.mark.network(2, 40).mark)
    b = FakeItem("p/test_y.py::test_b", pytest.mark.network(2, limit_a=40, enabled=True).mark)
    c = FakeItem("p/test_y.py::test_c", pytest.mark.network(2, 40, enabled=False).mark)
    d = FakeItem("p/test_y.py::test_d")
    assert group_key(a) == group_key(b) != group_key(c)  # type: ignore[arg-type]
    assert group_key(d) == "p/test_y.py"  # type: ignore[arg-type]


def scheduler(keys: list[str], nodes: list[FakeNode]) -> RackScheduling:
    collection = [f"t{i}" for i in range(len(keys))]
    sched = RackScheduling(len(nodes), lambda node, coll: keys)
    for node in nodes:
        sched.add_node(node)
        sched.add_node_collection(node, collection)
    sched.schedule()
    return sched


def test_a_group_goes_whole_to_one_rack_and_racks_take_the_next_as_they_free_up() -> None:
    a, b = FakeNode("a"), FakeNode("b")
    sched = scheduler(["n1", "n1", "n1", "n2", "n2", "n3", "n3"], [a, b])
    assert a.sent == [0, 1, 2] and b.sent == [3, 4]
    sched.mark_test_complete(b, 3)  # b is down to its last test: it gets the next group
    assert b.sent == [3, 4, 5, 6] and not sched.tests_finished
    for i in (5, 6, 4):
        sched.mark_test_complete(b, i)
    assert b.shutting_down  # nothing left for it
    for i in (0, 1):
        sched.mark_test_complete(a, i)
    assert a.shutting_down and sched.tests_finished


def test_a_broken_rack_hands_on_what_it_had_not_started_and_the_broken_test_is_not_run_again() -> None:
    a, b = FakeNode("a"), FakeNode("b")
    sched = scheduler(["n1", "n1", "n1", "n2", "n2"], [a, b])
    assert a.sent == [0, 1, 2]
    sched.mark_test_complete(a, 0)
    handed = sched.retire(a, "t1")  # t1 broke the rack
    assert handed == ["t2"] and a.shutting_down
    sched.mark_test_complete(a, 1)  # the broken one ends (reported broken) where it ran
    sched.mark_test_complete(b, 3)
    assert b.sent == [3, 4, 2]  # t1 is not among them
    assert sched.remove_node(a) is None


def test_a_crashed_worker_gives_back_all_but_the_test_it_crashed_in() -> None:
    a, b = FakeNode("a"), FakeNode("b")
    sched = scheduler(["n1", "n1", "n1", "n2", "n2"], [a, b])
    assert sched.remove_node(a) == "t0"
    sched.mark_test_complete(b, 3)
    assert b.sent == [3, 4, 1, 2]


def test_work_left_when_every_other_rack_was_told_to_finish_asks_for_a_rack() -> None:
    a, b = FakeNode("a"), FakeNode("b")
    sched = scheduler(["n1", "n1", "n1", "n2", "n2"], [a, b])
    sched.mark_test_complete(b, 3)
    assert b.shutting_down  # nothing left to give b
    sched.retire(a, "t0")
    assert sched.needs_rack and not sched.tests_finished
    assert sched.take_orphans() == ["t1", "t2"] and not sched.needs_rack
