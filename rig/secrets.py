"""Secrets: the units' Wi-Fi passwords, where they come from, and the one redaction filter that keeps them out
of every report, log, trace and error message.

The leader of a Power Sharing network joins each follower's own Wi-Fi, so commissioning gives it every
follower's WPA2 password (`gpm pair <unit> <password>` on the leader's console). A password is looked up, first
found wins, in:

1. the environment variable `RIG_WIFI_PASSWORD_<UNIT>` (unit name upper-cased, `-` as `_`): `RIG_WIFI_PASSWORD_WC2`;
2. `RIG_WIFI_PASSWORD`, one password for every unit;
3. the secrets file named by `RIG_SECRETS_FILE`: TOML, `[wifi]` with one key per unit and/or `default`. It must be
   outside the repository and readable by its owner only (`chmod 600`), or the run stops with one line.

A simulated rack's units have no real passwords: when none is configured they get a fixed, non-secret
placeholder, so a laptop runs the nightly plans without any set-up.

Every password read is registered here, and `redact()` replaces each registered secret (and its escaped
spellings) with `********`. It is applied in one place per way out: instrument error messages
(`InstrumentError`), the console transcript and replies, trace lines, log records (a record factory installed
by the pytest plugin) and pytest's failure reports (rig/fixtures/safety.py). This module imports nothing from
the rig, so any of them can use it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import stat
import threading
import tomllib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import quote

MASK = "********"
ENV_ONE = "RIG_WIFI_PASSWORD"
ENV_UNIT_PREFIX = "RIG_WIFI_PASSWORD_"
ENV_FILE = "RIG_SECRETS_FILE"
REPO_ROOT = Path(__file__).resolve().parents[1]
"""The repository (or source tree) the rig runs from: a secrets file must live outside it."""
SIMULATED_PLACEHOLDER = "sim-wifi-{unit}"
"""What a simulated unit is paired with when no password is configured: not a secret, never registered."""

_lock = threading.Lock()
_secrets: set[str] = set()
_patterns: list[str] = []


class SecretsError(ValueError):
    """A password that cannot be used, or a secrets file that cannot be trusted. The message names the variable,
    file or key and never the value."""


# -- redaction ---------------------------------------------------------------------------------------------


def _spellings(secret: str) -> set[str]:
    """The ways a secret can appear in text the rig writes: as is, escaped by repr() or JSON, URL-quoted."""
    forms = {secret, repr(secret)[1:-1], json.dumps(secret)[1:-1], quote(secret, safe=""), quote(secret)}
    return {f for f in forms if f}


def register(secret: str) -> None:
    """From now on, `redact()` hides this secret."""
    if not secret:
        return
    with _lock:
        if secret in _secrets:
            return
        _secrets.add(secret)
        patterns = set(_patterns)
        patterns.update(_spellings(secret))
        _patterns[:] = sorted(patterns, key=len, reverse=True)  # longest first: a spelling may contain another


def forget_all() -> None:
    """Drop every registered secret (for the rig's own tests)."""
    with _lock:
        _secrets.clear()
        _patterns.clear()


def registered() -> bool:
    return bool(_patterns)


def redact(text: str) -> str:
    """`text` with every registered secret replaced by ********. Cheap when there is none."""
    if not _patterns or not isinstance(text, str):
        return text
    for pattern in list(_patterns):
        if pattern in text:
            text = text.replace(pattern, MASK)
    return text


def contains_secret(data: bytes | str) -> bool:
    """Whether any registered secret appears as is in `data` (for audits of what a run wrote)."""
    if isinstance(data, bytes):
        return any(s.encode("utf-8", "replace") in data for s in list(_secrets))
    return any(s in data for s in list(_secrets))


def scrub_files(paths: Iterable[Path]) -> list[Path]:
    """Audit files a run wrote: every file under `paths` that contains a registered secret has it replaced
    and is returned. The rig's own redaction should leave nothing to do here; a non-empty result is a bug."""
    leaked: list[Path] = []
    if not _secrets:
        return leaked
    for root in paths:
        if not root.exists():
            continue
        files = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
        for path in files:
            try:
                data = path.read_bytes()
            except OSError:
                continue
            if not contains_secret(data):
                continue
            text = data.decode("utf-8", "surrogateescape")
            for secret in list(_secrets):
                text = text.replace(secret, MASK)
            path.write_bytes(text.encode("utf-8", "surrogateescape"))
            leaked.append(path)
    return leaked


def redact_object(obj: Any, depth: int = 0) -> Any:
    """Redact strings inside a structure in place where possible (lists, dicts, objects' attributes) and
    return it: used on pytest's failure reports, whose tracebacks show argument values."""
    if not _patterns or depth > 12:
        return obj
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, list):
        for i, item in enumerate(obj):
            obj[i] = redact_object(item, depth + 1)
        return obj
    if isinstance(obj, tuple):
        return tuple(redact_object(item, depth + 1) for item in obj)
    if isinstance(obj, dict):
        for key in list(obj):
            obj[key] = redact_object(obj[key], depth + 1)
        return obj
    attrs = getattr(obj, "__dict__", None)
    if isinstance(attrs, dict) and not isinstance(obj, type):
        for key, value in list(attrs.items()):
            if isinstance(value, str | list | tuple | dict) or hasattr(value, "__dict__"):
                try:
                    setattr(obj, key, redact_object(value, depth + 1))
                except (AttributeError, TypeError):
                    pass
    return obj


def redact_exception(exc: BaseException | None) -> None:
    """Redact an exception's message in place (its args, pytest's `msg`), along its chain of causes: reports
    such as Allure's read the exception itself."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen and _patterns:
        seen.add(id(exc))
        try:
            exc.args = tuple(redact(a) if isinstance(a, str) else a for a in exc.args)
            msg = getattr(exc, "msg", None)
            if isinstance(msg, str):
                exc.msg = redact(msg)  # type: ignore[attr-defined]
        except (AttributeError, TypeError):
            pass
        exc = exc.__cause__ or exc.__context__


# -- logging -----------------------------------------------------------------------------------------------

_previous_factory: Callable[..., logging.LogRecord] | None = None
_installs = 0


def install_log_redaction() -> None:
    """Redact every log record as it is created, whichever logger or handler it goes to. Nests: each install
    needs its uninstall (a pytest session inside another one)."""
    global _previous_factory, _installs
    _installs += 1
    if _previous_factory is not None:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if _patterns:
            try:
                message = record.getMessage()
            except Exception:
                return record
            record.msg, record.args = redact(message), None
            if record.exc_info and record.exc_info[1] is not None:
                record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return record

    _previous_factory = previous
    logging.setLogRecordFactory(factory)


def uninstall_log_redaction() -> None:
    global _previous_factory, _installs
    _installs = max(0, _installs - 1)
    if _previous_factory is not None and _installs == 0:
        logging.setLogRecordFactory(_previous_factory)
        _previous_factory = None


# -- where passwords come from -----------------------------------------------------------------------------


def env_name(unit: str) -> str:
    return ENV_UNIT_PREFIX + re.sub(r"\W", "_", unit).upper()


def _check_password(value: str, where: str) -> str:
    if not 8 <= len(value) <= 63:
        raise SecretsError(f"{where}: a WPA2 password has 8 to 63 characters (this one has {len(value)})")
    if not all(" " <= ch <= "~" for ch in value):
        raise SecretsError(f"{where}: a WPA2 password is printable ASCII only")
    if value != value.strip():
        raise SecretsError(f"{where}: the password starts or ends with a space, which a console line loses")
    return value


def _inside(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return True


def read_secrets_file(path: str | Path) -> dict[str, str]:
    """The `[wifi]` table of a secrets file, checked: outside the repository, owner-only, valid passwords."""
    path = Path(path).expanduser()
    where = f"{ENV_FILE}={path}"
    try:
        resolved = path.resolve(strict=True)
        mode = resolved.stat().st_mode
        text = resolved.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SecretsError(f"{where}: no such file") from None
    except OSError as exc:
        raise SecretsError(f"{where}: cannot be read: {exc.strerror or type(exc).__name__}") from None
    except UnicodeDecodeError:
        raise SecretsError(f"{where}: not UTF-8 text") from None
    if _inside(resolved, REPO_ROOT) or _inside(resolved, Path.cwd().resolve()):
        raise SecretsError(f"{where}: the secrets file is inside the repository; keep it outside (e.g. ~/.config/rig)")
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SecretsError(f"{where}: readable by others (mode {stat.S_IMODE(mode):o}); chmod 600 it")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # the decoder's message names a line and column, never the text there
        raise SecretsError(f"{where}: not valid TOML ({str(exc).splitlines()[0]})") from None
    unknown = sorted(set(data) - {"wifi"})
    if unknown:
        raise SecretsError(f"{where}: unknown table {unknown[0]!r} (only [wifi])")
    wifi = data.get("wifi", {})
    if not isinstance(wifi, dict):
        raise SecretsError(f"{where}: wifi must be a table of unit = \"password\"")
    out: dict[str, str] = {}
    for key, value in wifi.items():
        if not isinstance(value, str):
            raise SecretsError(f"{where}: wifi.{key} is not a string")
        out[key] = _check_password(value, f"{where}: wifi.{key}")
    return out


def load_all(environ: dict[str, str] | None = None) -> int:
    """Read and register every configured password (environment and secrets file) so that redaction is in
    force before any of them is used; returns how many there are. Raises SecretsError on a bad one."""
    env = os.environ if environ is None else environ
    found: list[str] = []
    for key, value in env.items():
        if key == ENV_ONE or key.startswith(ENV_UNIT_PREFIX):
            register(value)  # registered even if invalid: it is still someone's password
            found.append(_check_password(value, key))
    if env.get(ENV_FILE):
        values = read_secrets_file(env[ENV_FILE])
        for value in values.values():
            register(value)
        found.extend(values.values())
    return len(found)


def wifi_password(unit: str, *, simulated: bool, environ: dict[str, str] | None = None) -> str:
    """The WPA2 password of `unit`'s own Wi-Fi, registered for redaction; SecretsError naming where to set it
    when a real rack has none."""
    env = os.environ if environ is None else environ
    for key in (env_name(unit), ENV_ONE):
        value = env.get(key)
        if value:
            register(value)
            return _check_password(value, key)
    if env.get(ENV_FILE):
        values = read_secrets_file(env[ENV_FILE])
        for key in (unit, "default"):
            if key in values:
                register(values[key])
                return values[key]
    if simulated:
        return SIMULATED_PLACEHOLDER.format(unit=unit)
    raise SecretsError(f"no Wi-Fi password for unit {unit!r}: set {env_name(unit)} or {ENV_ONE} in the environment, "
                       f"or name a secrets file in {ENV_FILE}")
