"""A lab of three simulated racks behind a real labgrid coordinator on 127.0.0.1: a night sharded across them.

The coordinator is labgrid's own (`labgrid-coordinator`, a free port), the three racks are places tagged with
their rack files (copies of racks/sim-6.toml named sim-a, sim-b, sim-c), and the runs are `pytest --lab` in
subprocesses, as a CI job starts them. tests/lab_plans/plan_small.py is the plan: short tests grouped by network,
each logging which rack ran it. Every process a test starts is killed in its teardown, whatever happened.

The shapes below (scheduler, parsing) are checked without any process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from rig.lab.coordinator import local_coordinator, simulated_racks
from rig.lab.places import LabClient, LabError, parse_places, parse_reservations, parse_tags, stale_owner
from rig.lab.shard import RackScheduling, group_key

ROOT = Path(__file__).resolve().parents[1]
PLAN = "tests/lab_plans/plan_small.py"
TESTS_IN_PLAN = 12


# -- a lab of three simulated racks --------------------------------------------------------------------------


@dataclass
class Lab:
    address: str
    tmp: Path
    runs: list[subprocess.Popen[str]] = field(default_factory=list)

    def start(self, name: str, *args: str, env: dict[str, str] | None = None,
              allure: bool = False) -> subprocess.Popen[str]:
        """`pytest --lab` on the small plan, in its own process group; its reports go under tmp/name (Allure's
        only when asked: without plots, which are not what these tests are about)."""
        out = self.tmp / name
        out.mkdir()
        reports = [f"--alluredir={out / 'results'}", "--clean-alluredir", "--plots=none"] if allure else \
            ["-p", "no:allure_pytest"]
        cmd = [sys.executable, "-m", "pytest", PLAN, "--lab", self.address, "--place-tags", "kind=sim", *args,
               "-q", "-rA", "-p", "no:cacheprovider", *reports, f"--junitxml={out / 'junit.xml'}",
               f"--trace-dir={out / 'traces'}"]
        full_env = {**os.environ, "RIG_LAB_LOG": str(out / "log.jsonl"), **(env or {})}
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=(out / "stdout.txt").open("w"), stderr=subprocess.STDOUT,
                                text=True, env=full_env, start_new_session=True)
        self.runs.append(proc)
        return proc

    def output(self, name: str) -> str:
        return (self.tmp / name / "stdout.txt").read_text()

    def log(self, name: str) -> list[dict[str, Any]]:
        path = self.tmp / name / "log.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def places(self) -> dict[str, str | None]:
        return {name: p.acquired for name, p in LabClient(self.address).places().items()}

    def held(self) -> dict[str, str]:
        """`labgrid-client who`: place -> who holds it."""
        return {name: who for name, who in self.places().items() if who}

    def kill_all(self) -> None:
        """Every run this test started, with its workers (its process group), by id."""
        for proc in self.runs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait()


def until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s:g} s")
        time.sleep(0.3)


@pytest.fixture(scope="module")
def coordinator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One coordinator with the three racks for the module's tests (each test leaves every rack released)."""
    tmp = tmp_path_factory.mktemp("lab")
    with local_coordinator(tmp / "coordinator") as address:
        simulated_racks(address, ["sim-a", "sim-b", "sim-c"], tmp / "racks")
        yield address


@pytest.fixture
def lab(coordinator: str, tmp_path: Path) -> Iterator[Lab]:
    lab = Lab(coordinator, tmp_path)
    try:
        yield lab
    finally:
        lab.kill_all()
        client = LabClient(coordinator)  # a test that failed half-way must not leave the next one without racks
        for place, holder in lab.held().items():
            client.release_from(place, holder)
        for token in client.reservations():
            client.cancel(token)


def junit(path: Path) -> dict[str, str]:
    out = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        out[case.get("name", "")] = kinds[0] if kinds else "passed"
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


# -- the lab, end to end ----------------------------------------------------------------------------------------


def test_a_night_sharded_over_three_racks_while_a_second_run_waits(lab: Lab) -> None:
    night = lab.start("night", "--racks", "3", env={"RIG_LAB_BREAK": "sim-b", "RIG_LAB_HOLD": "1"}, allure=True)
    until(lambda: len(lab.held()) == 3 or night.poll() is not None, 120, "the night acquires three racks")
    assert night.poll() is None, lab.output("night")
    second = lab.start("second", "--racks", "1", "-k", "test_two_units")  # started while every rack is taken
    assert night.wait(timeout=300) == 1, lab.output("night")  # 1: a test is broken
    assert second.wait(timeout=300) == 0, lab.output("second")

    # every test ran once, the broken one included, and none twice
    ran = lab.log("night")
    assert sorted(r["test"] for r in ran) == sorted({r["test"] for r in ran}), ran
    assert len(ran) == TESTS_IN_PLAN, ran
    cases = junit(lab.tmp / "night" / "junit.xml")
    assert len(cases) == TESTS_IN_PLAN and list(cases.values()).count("passed") == TESTS_IN_PLAN - 1, cases
    broken = [name for name, kind in cases.items() if kind != "passed"]
    assert len(broken) == 1 and cases[broken[0]] == "error", cases  # broken is an <error>, never a <failure>

    # the rack made unusable mid-run handed its tests on: the second test on sim-b broke, the rest of its group
    # ran on the other racks afterwards, and sim-b ran nothing more
    on_b = [r for r in ran if r["rack"] == "sim-b"]
    assert len(on_b) == 2 and on_b[1]["test"].endswith(broken[0]), (on_b, broken)
    group = on_b[1]["test"].split("[")[0]
    handed = [r for r in ran if r["test"].startswith(group) and r["start"] > on_b[1]["end"]]
    assert handed and all(r["rack"] in ("sim-a", "sim-c") for r in handed), ran
    assert "rack sim-b is unusable; 1 test(s) it had not started go to the other racks" in lab.output("night")

    # a network's tests ran on one rack, in order (the groups the broken rack did not touch)
    for name in ("test_two_units", "test_three_units", "test_six_units", "test_no_network_marker"):
        runs = [r for r in ran if r["test"].split("::")[1].startswith(name + "[")]
        if name != group.split("::")[1]:
            assert len({r["rack"] for r in runs}) == 1, runs
            assert [r["test"] for r in runs] == [r["test"] for r in sorted(runs, key=lambda r: r["start"])]

    # Allure: one result per test, the rack a parameter outside the history id; the environment names every
    # rack and the firmware the racks reported
    results = [json.loads(f.read_text()) for f in (lab.tmp / "night" / "results").glob("*-result.json")]
    assert sorted(r["status"] for r in results) == ["broken"] + ["passed"] * (TESTS_IN_PLAN - 1), results
    racks = [p for r in results for p in r["parameters"] if p["name"] == "rack"]
    assert len(racks) == TESTS_IN_PLAN and all(p.get("excluded") for p in racks), racks
    env = (lab.tmp / "night" / "results" / "environment.properties").read_text()
    assert "rack=sim-a, sim-b, sim-c\n" in env and "firmware=24.44.0\n" in env, env

    # the second run waited for a free rack instead of sharing one, and ran only once the night had let go
    assert "waiting for a free rack" in lab.output("second"), lab.output("second")
    second_ran = lab.log("second")
    assert len(second_ran) == 3, second_ran
    assert min(r["start"] for r in second_ran) > max(r["end"] for r in ran), (second_ran, ran)

    # every rack released, no reservation left
    assert lab.held() == {}
    assert LabClient(lab.address).reservations() == {}


def test_sigterm_releases_every_rack_after_leaving_it_safe(lab: Lab) -> None:
    run = lab.start("night", "--racks", "3", env={"RIG_LAB_HOLD": "60"})
    state = lab.tmp / "night"  # the unsafe markers live beside the trace directory
    until(lambda: len(list(state.glob(".rack-sim-*.unsafe"))) == 3 or run.poll() is not None, 120,
          "a test under way on every rack (its unsafe marker written)")
    assert run.poll() is None, lab.output("night")
    assert sorted(lab.held()) == ["sim-a", "sim-b", "sim-c"]
    workers = children_of(run.pid)
    assert len([w for w in workers if alive(w)]) >= 3, workers
    os.kill(run.pid, signal.SIGTERM)  # the controller only, as a CI job's timeout does
    assert run.wait(timeout=60) == 2, lab.output("night")  # interrupted
    assert lab.held() == {}, lab.output("night")
    assert LabClient(lab.address).reservations() == {}
    assert list(state.glob(".rack-*.unsafe")) == [], "a rack was left unsafe"
    until(lambda: not any(alive(w) for w in workers), 10, "every worker gone")


def test_a_rack_that_breaks_after_the_others_finished_hands_its_tests_to_a_finished_rack(lab: Lab) -> None:
    """The end of a night: the other rack has run its last group and its worker is gone when this one breaks;
    a new worker is started on the finished rack for what is left. (The two-unit tests hold 8 s of wall time each,
    so that the other rack is surely done with the three-unit ones when the second two-unit test breaks its rack.)"""
    run = lab.start("night", "--racks", "2", "-k", "test_two_units or test_three_units",
                    env={"RIG_LAB_BREAK_TEST": "test_two_units[2]", "RIG_LAB_HOLD": "8",
                         "RIG_LAB_HOLD_ONLY": "test_two_units"})
    assert run.wait(timeout=300) == 1, lab.output("night")
    ran = {r["test"].split("::")[1]: r for r in lab.log("night")}
    assert len(ran) == 6 and len(lab.log("night")) == 6, lab.log("night")
    broke = ran["test_two_units[2]"]
    assert ran["test_two_units[3]"]["rack"] != broke["rack"], ran  # handed on, to the rack that had finished
    assert ran["test_two_units[3]"]["start"] > max(ran[f"test_three_units[{i}]"]["end"] for i in (1, 2, 3))
    assert junit(lab.tmp / "night" / "junit.xml")["test_two_units[2]"] == "error"
    assert "test(s) a broken rack left" in lab.output("night"), lab.output("night")
    assert lab.held() == {}


def test_a_worker_that_dies_leaves_its_test_broken_and_the_rest_runs_once(lab: Lab) -> None:
    run = lab.start("night", "--racks", "2", "-k", "test_two_units or test_three_units",
                    env={"RIG_LAB_CRASH_TEST": "test_three_units[2]"})
    assert run.wait(timeout=300) == 1, lab.output("night")
    ran = [r["test"].split("::")[1] for r in lab.log("night")]
    assert sorted(ran) == ["test_three_units[1]", "test_three_units[3]", "test_two_units[1]", "test_two_units[2]",
                           "test_two_units[3]"], ran  # the one it died in is not run again
    cases = junit(lab.tmp / "night" / "junit.xml")
    assert [n for n, kind in cases.items() if kind != "passed"] == ["test_three_units[2]"], cases
    assert cases["test_three_units[2]"] == "error", cases
    assert "died while running tests/lab_plans/plan_small.py::test_three_units[2]" in lab.output("night")
    assert "BROKEN" in lab.output("night") and "FAILED" not in lab.output("night")
    assert lab.held() == {}


def test_rig_run_takes_over_a_rack_left_acquired_by_a_run_that_was_killed(lab: Lab) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    for place in ("sim-a", "sim-b", "sim-c"):  # a night killed with -9: it never released its racks
        LabClient(lab.address, user=f"ci:{dead.pid}").acquire(place)
    log = lab.tmp / "log.jsonl"
    proc = subprocess.run([sys.executable, "-m", "rig.cli", "run", "--lab", lab.address, "--place-tags", "kind=sim",
                           "--", PLAN, "-q", "-p", "no:cacheprovider", "-p", "no:allure_pytest", "-k",
                           "test_two_units and 1", f"--trace-dir={lab.tmp / 'traces'}"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, env={**os.environ, "RIG_LAB_LOG": str(log)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"was left acquired by vm/ci:{dead.pid}".replace("vm", LabClient(lab.address).host) in proc.stdout
    assert len(log.read_text().splitlines()) == 1
    assert lab.held() == {}


def test_a_run_that_finds_no_matching_place_says_so_in_one_line(lab: Lab) -> None:
    proc = subprocess.run([sys.executable, "-m", "rig.cli", "run", "--lab", lab.address, "--place-tags",
                           "kind=lab", "--", PLAN, "-q", "-p", "no:cacheprovider"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 4, proc.stdout + proc.stderr  # pytest's usage error
    assert "no place matches the tags kind=lab (places: sim-a, sim-b, sim-c)" in proc.stderr, proc.stderr


# -- shapes, without processes ----------------------------------------------------------------------------------


def test_place_and_reservation_listings_are_read() -> None:
    places = parse_places("Place 'sim-a':\n  tags: kind=sim, rack=/x/sim-a.toml\n  matches:\n  acquired: vm/ci:42\n"
                          "  acquired resources:\nPlace 'sim-b':\n  tags: \n  acquired: None\n")
    assert places["sim-a"].tags == {"kind": "sim", "rack": "/x/sim-a.toml"} and places["sim-a"].acquired == "vm/ci:42"
    assert places["sim-b"].tags == {} and places["sim-b"].acquired is None
    res = parse_reservations("Reservation 'AB12':\n  owner: vm/ci:42\n  token: AB12\n  state: allocated\n"
                             "  filters:\n    main: kind=sim\n  allocations:\n    main: sim-a\n"
                             "Reservation 'CD34':\n  state: waiting\n  filters:\n    main: kind=sim\n")
    assert res["AB12"].state == "allocated" and res["AB12"].place == "sim-a"
    assert res["CD34"].state == "waiting" and res["CD34"].place is None


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
