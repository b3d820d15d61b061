"""Which journals are known to be closed and settled, so the pre-flight checks need not reread them.

Before every execution gps asks every journal in ``GPS_HOME`` whether an execution is running,
interrupted or left orders unsettled (:func:`gps_core.execution.preflight`, twice). Reading and
replaying every past journal made that cost grow with the trading history (about 3 ms per
journal per check). A journal that is closed (finished or recovered), undamaged and has no
unsettled order can only change its answer by changing its bytes, so its name is remembered
here with the identity of its file (size, modification time in ns, inode) and it is skipped
while all three stay the same. Anything else (running, interrupted, unsettled, damaged, or a
file that changed in any way) is read every time, as before.

The record is ``$GPS_HOME/cache/settled-journals.json``::

    {"version": 1, "journals": {"<file name>": [size, mtime_ns, inode]}}

It is a cache: unreadable, torn or foreign content reads as empty (every journal is read), and
it is written atomically (temporary file, ``os.replace``); two processes writing at once can
only lose each other's additions, which costs a reread.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

VERSION = 1
_lock = threading.Lock()


def _record(home: Path) -> Path:
    return home / "cache" / "settled-journals.json"


def _identity(path: Path) -> list[int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return [stat.st_size, stat.st_mtime_ns, stat.st_ino]


def _read(home: Path) -> dict[str, list]:
    try:
        data = json.loads(_record(home).read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return {}
    if not isinstance(data, dict) or data.get("version") != VERSION or not isinstance(data.get("journals"), dict):
        return {}
    return {name: value for name, value in data["journals"].items() if isinstance(value, list)}


class SettledJournals:
    """The remembered settled journals of one ``GPS_HOME``, read once per instance."""

    def __init__(self, home: Path):
        self.home = home
        self._known = _read(home)
        self._new: dict[str, list[int]] = {}

    def skip(self, path: Path) -> bool:
        """Whether ``path`` is a journal remembered as closed and settled, unchanged since."""
        remembered = self._known.get(path.name)
        return remembered is not None and remembered == _identity(path)

    @staticmethod
    def identity(path: Path) -> list[int] | None:
        """What identifies the file's content now: take it *before* reading the journal."""
        return _identity(path)

    def remember(self, path: Path, identity_before: list[int] | None) -> None:
        """Note ``path`` as closed and settled: call after reading it (and finding so), with
        :meth:`identity` taken before the read; nothing is noted if the file changed meanwhile."""
        if identity_before is not None and _identity(path) == identity_before:
            if self._known.get(path.name) != identity_before:
                self._new[path.name] = identity_before

    def save(self) -> None:
        """Write what was learnt (nothing when nothing was). Never raises."""
        if not self._new:
            return
        with _lock:
            try:
                current = _read(self.home)
                current.update(self._new)
                record = _record(self.home)
                record.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                temporary = record.with_name(f"{record.name}.{os.getpid()}.{threading.get_ident()}.tmp")
                temporary.write_text(json.dumps({"version": VERSION, "journals": current}), encoding="utf-8")
                os.replace(temporary, record)
                self._known.update(self._new)
                self._new.clear()
            except OSError:
                pass  # a read-only home only costs the reread
