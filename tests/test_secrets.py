"""The units' Wi-Fi passwords: where they come from, that commissioning uses them, and that no copy of one
reaches a report, a log, a trace or an error message.

The end-to-end test (tests/test_reference_night.py) runs the plans with a password in the environment, plus plans
where things go wrong while the password is in flight, then searches every file the run wrote for the password in
any spelling.
"""

from __future__ import annotations

import logging
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from reference_night import PASSWORD, spellings
from safety_harness import ROOT

from rig import secrets
from rig.budgets import load_manifest
from rig.config import load_rack
from rig.instruments.errors import InstrumentTimeout
from rig.rack import open_rack
from rig.trace import read_trace


@pytest.fixture(autouse=True)
def fresh_registry() -> Iterator[None]:
    secrets.forget_all()
    yield
    secrets.forget_all()


# -- where passwords come from -----------------------------------------------------------------------------------


def secrets_file(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "rig-secrets.toml"
    path.write_text(text)
    path.chmod(mode)
    return path


def test_environment_then_file_per_unit_then_default(tmp_path: Path) -> None:
    path = secrets_file(tmp_path, '[wifi]\nwc2 = "file-wc2-pass"\ndefault = "file-default"\n')
    env = {"RIG_SECRETS_FILE": str(path)}
    assert secrets.wifi_password("wc2", simulated=False, environ=env) == "file-wc2-pass"
    assert secrets.wifi_password("wc3", simulated=False, environ=env) == "file-default"
    env["RIG_WIFI_PASSWORD"] = "env-for-every-unit"
    assert secrets.wifi_password("wc2", simulated=False, environ=env) == "env-for-every-unit"
    env["RIG_WIFI_PASSWORD_WC2"] = "env-for-wc2-only"
    assert secrets.wifi_password("wc2", simulated=False, environ=env) == "env-for-wc2-only"
    assert secrets.wifi_password("wc3", simulated=False, environ=env) == "env-for-every-unit"
    assert secrets.env_name("rack-1_wc2") == "RIG_WIFI_PASSWORD_RACK_1_WC2"
    # every password read is redacted from then on
    assert secrets.redact("x env-for-wc2-only y file-default") == "x ******** y ********"


def test_a_real_rack_without_a_password_says_where_to_set_it() -> None:
    with pytest.raises(secrets.SecretsError) as err:
        secrets.wifi_password("wc2", simulated=False, environ={})
    assert "RIG_WIFI_PASSWORD_WC2" in str(err.value) and "RIG_SECRETS_FILE" in str(err.value)
    assert secrets.wifi_password("wc2", simulated=True, environ={}) == "sim-wifi-wc2"


@pytest.mark.parametrize("bad", ["short", "x" * 64, "tab\there-xx", " leading-space"])
def test_an_unusable_password_is_refused_without_showing_it(bad: str) -> None:
    with pytest.raises(secrets.SecretsError) as err:
        secrets.wifi_password("wc2", simulated=False, environ={"RIG_WIFI_PASSWORD": bad})
    assert bad.strip() not in str(err.value) and "RIG_WIFI_PASSWORD" in str(err.value)
    assert "\n" not in str(err.value)


def test_secrets_file_must_be_outside_the_repository_and_private(tmp_path: Path) -> None:
    loose = secrets_file(tmp_path, '[wifi]\ndefault = "file-default"\n', mode=0o644)
    with pytest.raises(secrets.SecretsError, match="readable by others .* chmod 600"):
        secrets.read_secrets_file(loose)
    inside = ROOT / "reports" / ".test-secrets.toml"
    inside.parent.mkdir(exist_ok=True)
    try:
        inside.write_text('[wifi]\ndefault = "file-default"\n')
        inside.chmod(stat.S_IRUSR | stat.S_IWUSR)
        with pytest.raises(secrets.SecretsError, match="inside the repository"):
            secrets.read_secrets_file(inside)
    finally:
        inside.unlink()
    broken = secrets_file(tmp_path, '[wifi]\nwc2 = "unterminated-secret-value\n')
    with pytest.raises(secrets.SecretsError) as err:
        secrets.read_secrets_file(broken)
    assert "not valid TOML" in str(err.value) and "unterminated-secret-value" not in str(err.value)
    with pytest.raises(secrets.SecretsError, match="no such file"):
        secrets.read_secrets_file(tmp_path / "missing.toml")


# -- the redaction filter ----------------------------------------------------------------------------------------


def test_redact_hides_every_spelling_and_only_the_secret() -> None:
    secrets.register(PASSWORD)
    for form in spellings(PASSWORD)[:5]:
        assert secrets.redact(f"<{form}>") == "<********>", form
    assert secrets.redact("gpm status") == "gpm status"
    assert secrets.contains_secret(f"x{PASSWORD}".encode())


def test_instrument_errors_and_log_records_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    secrets.register(PASSWORD)
    err = InstrumentTimeout("console1", f"no answer to 'gpm pair wc2 {PASSWORD}'")
    assert PASSWORD not in str(err) and "gpm pair wc2 ********" in str(err)
    with caplog.at_level(logging.INFO):
        logging.getLogger("rig.test").info("pairing %s with %r", "wc2", PASSWORD)
        try:
            raise RuntimeError(f"boom {PASSWORD}")
        except RuntimeError:
            logging.getLogger("rig.test").exception("failed")
    assert caplog.records and PASSWORD not in caplog.text and 'pairing wc2 with "********"' in caplog.text
    assert "boom ********" in caplog.text


# -- commissioning uses them, and they stay out of the transcript and the trace ---------------------------------------


def test_commissioning_pairs_each_follower_with_its_password(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RIG_WIFI_PASSWORD", PASSWORD)
    monkeypatch.setenv("RIG_WIFI_PASSWORD_WC3", "wc3-has-its-own")
    config = load_rack(ROOT / "racks" / "sim-6.toml")
    manifest = load_manifest(str(ROOT / config.firmware.manifest))
    trace = tmp_path / "traces" / "commission.jsonl"
    with open_rack(config, manifest, trace) as rack:
        rack.commission("wc1", ["wc2", "wc3"], 60)
        keys = rack.sim.world.units["wc1"].nvram["wifi_keys"]
        assert keys == {"wc2": PASSWORD, "wc3": "wc3-has-its-own"}  # the leader was given each password
        transcript = "\n".join(rack.inst.consoles[rack.units["wc1"].console].transcript)
    assert "> gpm pair wc2 ********" in transcript and "> gpm pair wc3 ********" in transcript
    assert PASSWORD not in transcript and "wc3-has-its-own" not in transcript
    text = trace.read_text()
    assert PASSWORD not in text and "wc3-has-its-own" not in text
    assert "commission" in [e.action for e in read_trace(trace).events]


def test_the_firmware_refuses_to_form_a_network_without_passwords(tmp_path: Path) -> None:
    config = load_rack(ROOT / "racks" / "sim-6.toml")
    manifest = load_manifest(str(ROOT / config.firmware.manifest))
    with open_rack(config, manifest, tmp_path / "traces" / "t.jsonl") as rack:
        assert rack.console("wc1", "gpm form wc2") == "ERR no Wi-Fi password for wc2"
        assert rack.console("wc1", "gpm pair wc2 short") == "ERR a WPA2 password has 8 to 63 characters"
