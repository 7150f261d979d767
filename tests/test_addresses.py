"""Rack-file addresses are checked by their own grammar before anything starts (rig/addresses.py): VISA resource
strings, LJM identifiers, serial ports and URLs, CAN channels and the units' HTTP URLs. A mistake is one line
naming the file and the key; an IP literal that is not one (256.1.1.1) never reaches DNS."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from support import ROOT, SIM6, one_line

from rig import addresses
from rig.config import RackFileError, load_rack

GOOD = [
    ("chroma63800", "TCPIP::127.0.0.1::0::SOCKET"),
    ("chroma63800", "TCPIP::rack1-load1::2101::SOCKET"),
    ("chroma63800", "TCPIP0::rack1-load1.lab.example::inst0::INSTR"),
    ("yokogawa_wt", "TCPIP::10.1.2.3::10001::SOCKET"),
    ("yokogawa_wt", "USB::0x0B21::0x0025::91K000001::INSTR"),
    ("yokogawa_wt", "GPIB0::1::INSTR"),
    ("labjack_t7", "470018811"),
    ("labjack_t7", "ANY"),
    ("labjack_t7", "192.168.1.207"),
    ("labjack_t7", "SIM-T7-PILOTS"),
    ("service_console", "/dev/serial/by-id/usb-FTDI_FT232R_USB_UART_A10K-if00-port0"),
    ("service_console", "COM3"),
    ("service_console", "socket://127.0.0.1:0"),
    ("service_console", "rfc2217://serial-server.lab:4001?logging=debug"),
    ("can_ev_emulator", "can0"),
    ("can_ev_emulator", "sim-ev1"),
    ("can_ev_emulator", "PCAN_USBBUS1"),
]

BAD = [
    ("chroma63800", "TCPIP::256.1.1.1::5025::SOCKET", "256.1.1.1 is not an IPv4 address"),
    ("chroma63800", "TCPIP::10.0.0::5025::SOCKET", "10.0.0 is not an IPv4 address"),
    ("chroma63800", "TCPIP::rack1 load1::5025::SOCKET", "is not a host name"),
    ("chroma63800", "TCPIP::rack1-load1::65536::SOCKET", "port 65536 is not between 0 and 65535"),
    ("yokogawa_wt", "rack1-wt5000:10001", "is not a VISA resource string"),
    ("yokogawa_wt", "TCPIP::::10001::SOCKET", "host_address is a required parameter"),
    ("labjack_t7", "470018811 ", "is not a LabJack identifier"),
    ("labjack_t7", "300.1.1.1", "300.1.1.1 is not an IPv4 address"),
    ("service_console", "ttyUSB0", "is not a serial port"),
    ("service_console", "socket://127.0.0.1", "no port"),
    ("service_console", "socket://256.0.0.1:4001", "256.0.0.1 is not an IPv4 address"),
    ("service_console", "tcp://127.0.0.1:4001", "is not a serial port"),
    ("can_ev_emulator", "can 0", "is not a CAN channel"),
    ("can_ev_emulator", "/dev/can0", "is not a CAN channel"),
]


@pytest.mark.parametrize(("driver", "address"), GOOD)
def test_addresses_in_their_drivers_forms_pass(driver: str, address: str) -> None:
    assert addresses.check_instrument_address(driver, address) == address


@pytest.mark.parametrize(("driver", "address", "reason"), BAD)
def test_addresses_that_break_their_grammar_are_refused_in_one_line(driver: str, address: str, reason: str) -> None:
    with pytest.raises(ValueError) as info:
        addresses.check_instrument_address(driver, address)
    assert reason in one_line(info.value)


@pytest.mark.parametrize(("url", "reason"), [
    ("http://rack1-wc1-ap", ""),
    ("http://127.0.0.1:0", ""),
    ("http://[::1]:8080/", ""),
    ("https://10.0.0.5", "is not an http:// URL"),
    ("http://256.1.1.1", "256.1.1.1 is not an IPv4 address"),
    ("http://wc1:99999", "is not an HTTP URL"),
    ("http://wc1/api/1/vitals", "no path, query or user"),
    ("http://user:pw@wc1", "no path, query or user"),
    ("http://wc_1", "is not a host name"),
])
def test_unit_api_urls(url: str, reason: str) -> None:
    if not reason:
        assert addresses.check_http(url) == url
        return
    with pytest.raises(ValueError) as info:
        addresses.check_http(url)
    assert reason in one_line(info.value)


def test_a_rack_file_with_an_impossible_ip_is_refused_naming_the_key(tmp_path: Path) -> None:
    text = SIM6.read_text(encoding="utf-8")
    bad = tmp_path / "rack.toml"
    bad.write_text(text.replace('address = "TCPIP::127.0.0.1::0::SOCKET"\nmodel = "WT5000"',
                                'address = "TCPIP::256.1.1.1::5025::SOCKET"\nmodel = "WT5000"'), encoding="utf-8")
    with pytest.raises(RackFileError) as info:
        load_rack(bad)
    assert one_line(info.value) == (f"{bad}: instruments.analyzer.address: 'TCPIP::256.1.1.1::5025::SOCKET': "
                                    "256.1.1.1 is not an IPv4 address (four numbers 0-255)")
    proc = subprocess.run([sys.executable, "-m", "rig.cli", "check-rack", str(bad)], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2 and proc.stdout == "" and proc.stderr.count("\n") == 1, proc.stderr
    assert "instruments.analyzer.address" in proc.stderr and "256.1.1.1 is not an IPv4 address" in proc.stderr


def test_the_shipped_rack_files_pass() -> None:
    for rack in (ROOT / "racks").glob("*.toml"):
        load_rack(rack)
