"""A lab-rack command starts without a stray `<class 'labjack.ljm.ljm.LJMError'>: Cannot load...` line: importing
`labjack.ljm` without its native library prints it, so the rig holds that one line back and the driver names the
missing library, with its fix, where it matters (on its first call). Anything else an LJM module prints gets
through."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from support import ROOT

from rig.instruments.errors import InstrumentError
from rig.instruments.labjack_t7 import NATIVE_HINT, load_ljm


def _native_library_missing() -> bool:
    import ctypes.util

    return ctypes.util.find_library("LabJackM") is None


@pytest.mark.skipif(not _native_library_missing(), reason="the native LJM library is installed here")
def test_a_lab_rack_command_prints_no_ljm_error_line_and_the_driver_still_names_the_missing_library() -> None:
    code = ("from rig.instruments.labjack_t7 import load_ljm, LabJackT7\n"
            "ljm = load_ljm('labjack.ljm')\n"
            "try:\n"
            "    LabJackT7('t7-pilots', '470018811', ljm)\n"
            "except Exception as exc:\n"
            "    print('error:', exc)\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.stdout == f"error: t7-pilots: {NATIVE_HINT}\n", proc.stdout
    assert "LJMError" not in proc.stderr


def test_other_output_of_an_ljm_module_gets_through(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "chatty_ljm.py").write_text(
        "print(\"<class 'labjack.ljm.ljm.LJMError'>: Cannot load the LJM library libLabJackM.so. gone\")\n"
        "print('LJM configuration file read from /etc/ljm.conf')\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    module = load_ljm("chatty_ljm")
    assert module.__name__ == "chatty_ljm"
    assert capsys.readouterr().out == "LJM configuration file read from /etc/ljm.conf\n"
    with pytest.raises(InstrumentError, match="cannot import no_such_ljm_module"):
        load_ljm("no_such_ljm_module")
