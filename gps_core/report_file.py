"""``gps execute --report PATH``: the execution report as a JSON file, besides the journal.

:func:`check_writable` runs before anything is sent, so an unwritable path is refused up
front (:class:`~gps_core.errors.BadInput`, exit 2); :func:`write_report` writes the file
atomically: a temporary file in the same directory, flushed and fsynced, then renamed over
``PATH``, so a reader never sees half a report.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import BadInput


def check_writable(path: str) -> Path:
    """``path`` as a :class:`Path` if a report can be written there; :class:`BadInput` (one line) if not."""
    target = Path(path).expanduser()
    if target.is_dir():
        raise BadInput(f"--report {path}: is a directory; give a file name")
    folder = target.parent
    if not folder.is_dir():
        raise BadInput(f"--report {path}: the directory {folder} does not exist; nothing was sent")
    try:
        handle, probe = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".check", dir=folder)
        os.close(handle)
        os.unlink(probe)
    except OSError as exc:
        raise BadInput(f"--report {path}: cannot write in {folder} ({exc.strerror or exc}); nothing was sent") from None
    if target.exists() and not os.access(target, os.W_OK):
        raise BadInput(f"--report {path}: the file is not writable; nothing was sent")
    return target


def write_report(target: Path, report: dict) -> None:
    """Write ``report`` (plain JSON data) to ``target`` atomically. Raises OSError on failure."""
    from .codec import dumps

    data = (dumps(report, indent=2) + "\n").encode()
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, target)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
