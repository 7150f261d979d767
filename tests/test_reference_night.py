"""One night of the reference firmware (tests/reference_night.py), and what is judged of it: the reference passes
every plan, and the Wi-Fi password given to the night, the plans where it is in flight when things go wrong
included, is nowhere in what the night wrote: traces, Allure results, JUnit, run.log, the terminal.

Both are in this one file so that `make test`'s worker that runs the night judges it too, while the other worker
gets on with the rest.
"""

from __future__ import annotations

import pytest
from reference_night import PASSWORD, reference_night, spellings
from safety_harness import junit_cases
from teeth import read_junit


def test_the_reference_passes_every_plan(tmp_path_factory: pytest.TempPathFactory) -> None:
    night = reference_night(tmp_path_factory)
    run = read_junit(night.reports / "junit.xml", night.output, ignore="plan_secret_faults")
    failed = {k: (v or "").splitlines()[:4] for k, v in run.failed.items()}
    assert not failed, f"the reference failed: {failed}"
    assert len(run.results) >= 120
    assert any("test_soak" in k and "eight-hours" in k for k in run.results), "the soak did not run"


def test_a_nightly_run_leaves_no_copy_of_the_password(tmp_path_factory: pytest.TempPathFactory) -> None:
    night = reference_night(tmp_path_factory)  # shared with test_teeth.py: the whole night, once per make test
    reports, stdout = night.reports, night.output
    cases = junit_cases(reports / "junit.xml")
    assert len(cases) > 100, stdout[-3000:]
    # the plans where things went wrong with the password in flight did go wrong, as intended
    assert cases["test_console_goes_silent_while_pairing"] == "error"
    assert cases["test_firmware_echoes_the_password_in_its_refusal"] == "failure"
    assert cases["test_a_careless_plan_prints_and_logs_the_password"] == "failure"
    assert "gpm pair wc2 ********" in stdout  # the console traceback was shown, redacted
    found = []
    for path in [p for p in reports.rglob("*") if p.is_file()]:
        data = path.read_bytes()
        found += [(str(path.relative_to(reports)), form) for form in spellings(PASSWORD) if form.encode() in data]
    assert not found, found
    for form in spellings(PASSWORD):
        assert form not in stdout, form
    assert "SECRET LEAK" not in stdout  # nothing had to be scrubbed after the fact
    files = sum(1 for p in reports.rglob("*") if p.is_file())
    assert files > 300, files  # the run really wrote its reports there: traces, Allure results, JUnit
