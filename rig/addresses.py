"""The grammar of the addresses a rack file gives: each checked by its own rules before anything starts.

A rack file names where every instrument is, in the form its driver's library takes: a VISA resource string for
the SCPI instruments (pyvisa), an LJM identifier for a LabJack, a pyserial URL or device path for a service
console, a CAN channel for python-can, and an HTTP URL for each unit's API. A typo in one of them must stop the
night at `rig check-rack` with one line naming the key, not hours later as a timeout, and never as a firmware
failure. So each address is parsed here by its own grammar (pyvisa's own parser for VISA resource names), and
every host in it must be a host name (RFC 1123 labels) or an IP literal that is one: `256.1.1.1` looks like an
IPv4 address and is not, so it is refused rather than handed to DNS.

What the grammar cannot know (a host that does not resolve, a port nobody listens on) is found when the rack is
opened, and is a rig fault: the test is broken and the rest of the night skipped with one reason.

Each `check_*` function returns the address unchanged or raises ValueError with a one-line reason; pydantic
turns that into `file: key: reason` (rig/config.py).
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_DOTTED = re.compile(r"^[0-9.]+$")
_COM_PORT = re.compile(r"^COM[1-9][0-9]{0,2}$", re.IGNORECASE)
_DEVICE_PATH = re.compile(r"^/dev/[^\s\0]+$")
_LJM_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,48}$")
"""A T7's device name as LJM accepts it as an identifier (up to 49 characters), also the simulated rack's keys."""
_CAN_CHANNEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
"""A socketcan interface name (can0, vcan0, slcan0), a python-can virtual channel, or another interface's
channel name (PCAN_USBBUS1): no spaces, no slashes."""

VISA_DRIVERS = {"chroma63800", "yokogawa_wt"}


def check_host(host: str) -> str:
    """A host name or an IP literal; `256.1.1.1` and `10.0.0` are refused (they look like IPv4 and are not)."""
    if not host:
        raise ValueError("no host")
    if host.startswith("[") and host.endswith("]"):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise ValueError(f"{host} is not an IPv6 address") from None
        return host
    if _DOTTED.match(host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise ValueError(f"{host} is not an IPv4 address (four numbers 0-255)") from None
        return host
    name = host[:-1] if host.endswith(".") else host
    if len(name) > 253 or not all(_LABEL.match(label) for label in name.split(".")):
        raise ValueError(f"{host!r} is not a host name (letters, digits and '-' between dots)")
    if name.split(".")[-1].isdigit():
        raise ValueError(f"{host!r} is not a host name (its last part is a number)")
    return host


def check_port(port: str | int | None, what: str = "port") -> int:
    try:
        number = int(port)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{what} {port!r} is not a number") from None
    if not 0 <= number <= 65535:
        raise ValueError(f"{what} {number} is not between 0 and 65535")
    return number


def check_visa(address: str) -> str:
    """A VISA resource string as pyvisa parses it (TCPIP::host::port::SOCKET, TCPIP::host::INSTR, USB, GPIB,
    ASRL), with its host and port checked too."""
    from pyvisa import rname  # imported when a rack file has a VISA address, not by every `rig` command

    try:
        parsed = rname.parse_resource_name(address)
    except rname.InvalidResourceName as exc:
        raise ValueError(f"{address!r} is not a VISA resource string: {' '.join(str(exc).split())}") from None
    host = getattr(parsed, "host_address", None)
    if host is not None:
        try:
            check_host(host)
            if hasattr(parsed, "port"):
                check_port(parsed.port)
        except ValueError as exc:
            raise ValueError(f"{address!r}: {exc}") from None
    return address


def check_ljm_identifier(address: str) -> str:
    """What LJM's openS takes as identifier: ANY, a serial number, an IPv4 address or a device name."""
    if address.isdigit() or address.upper() == "ANY":
        return address
    if _DOTTED.match(address):
        try:
            check_host(address)
        except ValueError as exc:
            raise ValueError(f"{address!r} is not a LabJack identifier: {exc}") from None
        return address
    if not _LJM_NAME.match(address):
        raise ValueError(f"{address!r} is not a LabJack identifier (a serial number, an IPv4 address, ANY or a "
                         "device name)")
    return address


def check_serial(address: str) -> str:
    """pyserial's forms: a device path (/dev/ttyUSB0, /dev/serial/by-id/...), COMn, socket://host:port or
    rfc2217://host:port (a serial server)."""
    if _DEVICE_PATH.match(address) or _COM_PORT.match(address):
        return address
    scheme, sep, _ = address.partition("://")
    if sep and scheme in ("socket", "rfc2217"):
        try:
            parts = urlsplit(address)
            host, port = parts.hostname, parts.port
        except ValueError as exc:
            raise ValueError(f"{address!r} is not a {scheme}:// URL: {exc}") from None
        try:
            check_host(_bracketed(host or "", parts.netloc))
            if port is None:
                raise ValueError("no port")
            check_port(port)
            if parts.path not in ("", "/"):
                raise ValueError(f"unexpected path {parts.path!r}")
        except ValueError as exc:
            raise ValueError(f"{address!r} is not a {scheme}://host:port URL: {exc}") from None
        return address
    raise ValueError(f"{address!r} is not a serial port: give a device path (/dev/serial/by-id/...), COMn, "
                     "socket://host:port or rfc2217://host:port")


def check_can_channel(address: str) -> str:
    if not _CAN_CHANNEL.match(address):
        raise ValueError(f"{address!r} is not a CAN channel (an interface name such as can0 or vcan0, or a "
                         "virtual channel's name)")
    return address


def check_http(url: str) -> str:
    """http://host[:port][/]: a unit's API (the Gen 3 Wall Connector serves plain HTTP)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"{url!r} is not an HTTP URL: {exc}") from None
    if parts.scheme != "http":
        raise ValueError(f"{url!r} is not an http:// URL (a unit's API is plain HTTP)")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(f"{url!r}: give only http://host[:port] (no path, query or user)")
    try:
        check_host(_bracketed(parts.hostname or "", parts.netloc))
        if port is not None:
            check_port(port)
    except ValueError as exc:
        raise ValueError(f"{url!r} is not an HTTP URL the rig can use: {exc}") from None
    return url


def _bracketed(host: str, netloc: str) -> str:
    """urlsplit drops an IPv6 literal's brackets; put them back so check_host sees the literal as written."""
    return f"[{host}]" if f"[{host}]" in netloc else host


def check_instrument_address(driver: str | None, address: str) -> str:
    """The address grammar of the instrument's driver (unknown drivers are left to the driver field's error)."""
    if driver in VISA_DRIVERS:
        return check_visa(address)
    if driver == "labjack_t7":
        return check_ljm_identifier(address)
    if driver == "service_console":
        return check_serial(address)
    if driver == "can_ev_emulator":
        return check_can_channel(address)
    return address
