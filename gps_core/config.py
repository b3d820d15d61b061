"""Where gps keeps its state: ``$GPS_HOME``, or the platform's user state directory."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Mapping


def gps_home(environ: Mapping[str, str] | None = None) -> Path:
    """The directory for journals, paper orders and the credentials file.

    ``GPS_HOME`` wins; otherwise ``$XDG_STATE_HOME/gps`` (``~/.local/state/gps``) on Linux,
    ``~/Library/Application Support/gps`` on macOS and ``%LOCALAPPDATA%\\gps`` on Windows.
    """
    env = os.environ if environ is None else environ
    if env.get("GPS_HOME"):
        return Path(env["GPS_HOME"]).expanduser()
    home = Path(env.get("HOME") or Path.home())
    if sys.platform == "darwin":
        return home / "Library" / "Application Support" / "gps"
    if sys.platform.startswith("win"):
        return Path(env.get("LOCALAPPDATA") or home / "AppData" / "Local") / "gps"
    return Path(env.get("XDG_STATE_HOME") or home / ".local" / "state") / "gps"


def ensure_dir(path: Path) -> Path:
    """Create ``path`` (owner-only) if needed and return it."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def seconds_from_env(environ: Mapping[str, str], name: str, default: float) -> float:
    """A positive number of seconds from ``environ[name]``, or ``default`` when unset."""
    raw = (environ.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not (0 < value < 3600):  # also refuses nan
        from .errors import ConfigurationError

        raise ConfigurationError(f"{name} must be a number of seconds between 0 and 3600, got {raw!r}")
    return value
