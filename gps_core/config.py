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
