"""``gps execute --report PATH``: the execution report as a JSON file, besides the journal.

:func:`check_writable` runs before anything is sent, so a path that cannot take a report is
refused up front (:class:`~gps_core.errors.BadInput`, exit 2): an empty path, a directory
that does not exist, and a path that exists but is not a regular file (a device such as
``/dev/null``, a fifo, a socket, a directory) — a report is a file, and replacing one of those
with a file (as root, even ``/dev/null``) breaks whatever else uses it; writing into a fifo
would block until something reads it. A symbolic link is followed: the report is written to
the file it points at and the link stays a link.

:func:`write_report` writes the file atomically: a temporary file in the target's directory,
flushed and fsynced, given the mode (and, where allowed, the owner) of the file it replaces
(a new file gets the process's usual ``0666 & ~umask``), then renamed over the file, so a
reader never sees half a report.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from .errors import BadInput

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISFIFO, "a fifo"), (stat.S_ISSOCK, "a socket"))


def check_writable(path: str) -> Path:
    """The file a report for ``--report path`` goes to (symbolic links followed); :class:`BadInput` (one line) if none."""
    if not path or not path.strip():
        raise BadInput("--report needs a file name; nothing was sent")
    target = Path(os.path.realpath(Path(path).expanduser()))  # write through a symlink, never replace it
    try:
        mode = target.stat().st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise BadInput(f"--report {path}: cannot use it ({exc.strerror or exc}); nothing was sent") from None
    if mode is not None and not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
        raise BadInput(f"--report {path}: is {kind}, not a file; give a file name (nothing was sent)")
    folder = target.parent
    if not folder.is_dir():
        raise BadInput(f"--report {path}: the directory {folder} does not exist; nothing was sent")
    try:
        handle, probe = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".check", dir=folder)
        os.close(handle)
        os.unlink(probe)
    except OSError as exc:
        raise BadInput(f"--report {path}: cannot write in {folder} ({exc.strerror or exc}); nothing was sent") from None
    if mode is not None and not os.access(target, os.W_OK):
        raise BadInput(f"--report {path}: the file is not writable; nothing was sent")
    return target


def write_report(target: Path, report: dict) -> None:
    """Write ``report`` (plain JSON data) to ``target`` atomically, keeping an existing file's mode. Raises OSError."""
    from .codec import dumps

    data = (dumps(report, indent=2) + "\n").encode()
    target = Path(os.path.realpath(target))
    try:
        before = os.stat(target)
    except FileNotFoundError:
        before = None
    if before is not None and not stat.S_ISREG(before.st_mode):  # it changed since check_writable
        raise OSError(f"{target} is no longer a regular file; not replaced")
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            if before is not None:
                os.fchmod(stream.fileno(), stat.S_IMODE(before.st_mode))
                try:
                    os.fchown(stream.fileno(), before.st_uid, before.st_gid)
                except OSError:
                    pass  # not allowed for this user: the file is then this user's
            else:
                umask = os.umask(0)
                os.umask(umask)
                os.fchmod(stream.fileno(), 0o666 & ~umask)
            os.fsync(stream.fileno())
        os.replace(temporary, target)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
