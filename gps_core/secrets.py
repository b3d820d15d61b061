"""Secrets that cannot leak by accident, and where credentials come from.

A :class:`Secret` prints as ``'***'`` in ``str``, ``repr``, f-strings, logs and JSON; the
real value comes out only through :meth:`Secret.reveal`, which plugins call at the one
place they sign or send it. Credentials come from the environment first, then from
``$GPS_HOME/credentials.toml``, which is refused when other users can read it.
"""

from __future__ import annotations

import logging
import os
import re
import stat
import tomllib
from pathlib import Path
from typing import Iterable, Mapping

from .errors import ConfigurationError

MASK = "***"


class Secret:
    """A string that never shows itself. Compare and hash work; printing does not."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        if isinstance(value, Secret):
            value = value.reveal()
        self._value = str(value)

    def reveal(self) -> str:
        """Return the real value. Call it only where the value is signed or sent."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    def __str__(self) -> str:
        return MASK

    def __format__(self, spec: str) -> str:
        return MASK

    def __eq__(self, other) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self):  # pickling would write the value out
        raise TypeError("Secret cannot be pickled")


def credentials_file(home: Path) -> Path:
    return home / "credentials.toml"


def load_credentials(names: Iterable[str], home: Path, environ: Mapping[str, str] | None = None) -> dict[str, Secret]:
    """Collect the named credentials: environment first, then the credentials file.

    Missing names are simply absent from the result; the plugin decides what it needs.
    """
    env = os.environ if environ is None else environ
    wanted = list(names)
    found = {name: Secret(env[name]) for name in wanted if env.get(name)}
    missing = [name for name in wanted if name not in found]
    path = credentials_file(home)
    if missing and path.exists():
        file_values = read_credentials_file(path)
        found.update({name: Secret(file_values[name]) for name in missing if file_values.get(name)})
    return found


def read_credentials_file(path: Path) -> dict[str, str]:
    """Read ``KEY = "value"`` pairs from a TOML file that only its owner can read."""
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigurationError(
            f"{path} is readable by other users (mode {stat.S_IMODE(mode):o}); run: chmod 600 {path}"
        )
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{path} is not valid TOML: {exc}") from None
    return {str(k): str(v) for k, v in data.items() if isinstance(v, (str, int))}


# --- redaction of logs -------------------------------------------------------------------

_SENSITIVE_NAMES = r"(?:authorization|signature|secret|password|passphrase|api[_-]?key|private[_-]?key|access[_-]?token|refresh[_-]?token|client[_-]?secret|aevo-key|aevo-secret|aevo-signature|sig)"
_KEY_VALUE = re.compile(
    rf"""(?ix)
    (["']?{_SENSITIVE_NAMES}["']?\s*[:=]\s*)     # name followed by : or =
    (Bearer\s+|deri-hmac-sha256\s+)?            # an auth scheme, kept
    (["']?)([^"'\s,}}&]+)                        # the value
    """
)


def redact(text: str, known: Iterable[str] = ()) -> str:
    """Mask values of sensitive-looking fields and every known secret value in ``text``."""
    for value in known:
        if value and len(value) >= 4:
            text = text.replace(value, MASK)
    return _KEY_VALUE.sub(lambda m: f"{m.group(1)}{m.group(2) or ''}{m.group(3)}{MASK}", text)


class _Registry:
    values: set[str] = set()


def redact_known(text: str) -> str:
    """:func:`redact` with every secret value registered in this process."""
    return redact(text, _Registry.values)


def register_secret_values(secrets: Iterable[Secret]) -> None:
    """Tell the log filter about values it must mask wherever they show up."""
    _Registry.values.update(s.reveal() for s in secrets if s)


class RedactingFilter(logging.Filter):
    """A logging filter that masks secrets in every record, including third-party loggers."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg = redact(message, _Registry.values)
        record.args = ()
        return True


def install_log_redaction(logger: logging.Logger | None = None) -> None:
    target = logger or logging.getLogger()
    for handler in target.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
