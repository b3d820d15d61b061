"""The write-ahead journal: one append-only JSONL file per execution, and the lock on it.

Every line is one event (see :mod:`gps_core.events`), written with one ``write(2)`` and
fsynced before the call that writes it returns, so an order's intent is on disk before the
order leaves. Reading survives damage: a line that is not UTF-8, not JSON, not an event
object, or an event missing what its readers need (an ``order_intent`` without its order),
and a torn last line (a crash mid-write) are skipped with one warning per file naming the
file and the lines; the rest is read. An append always starts on a new line, so a torn
line never swallows the next record.

The process driving an execution holds an OS lock (``flock``) on ``<execution id>.lock``
next to the journal, with its PID written in it; the OS releases it when the process dies.
:func:`lock_holder` tells a running execution from a dead one. Values go through
:mod:`gps_core.codec`, which refuses to encode a :class:`~gps_core.secrets.Secret`.
"""

from __future__ import annotations

import json
import os
import re
import secrets as _random
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from .codec import dumps
from .config import ensure_dir
from .errors import BadInput
from .events import Event, closing_report, first, last, problem
from .model import utcnow
from .secrets import redact_known

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no execution lock
    fcntl = None  # type: ignore[assignment]


def journal_dir(home: Path) -> Path:
    return home / "journal"


def new_execution_id() -> str:
    """Unique, and sorted by start time to the microsecond: ``20261124T160405.123456-3f9a1c`` (UTC).

    Ids written before the sub-second part existed (``20261124T160405-3f9a1c``) stay valid;
    :func:`execution_sort_key` orders both kinds by time.
    """
    return f"{utcnow():%Y%m%dT%H%M%S.%f}-{_random.token_hex(3)}"


_EXECUTION_ID = re.compile(r"^(\d{8}T\d{6})(?:\.(\d{1,6}))?-(.*)$")


def execution_sort_key(execution_id: str) -> tuple[str, int, str]:
    """Order execution ids by start time (UTC, to the microsecond), then by their random suffix.

    An id without a sub-second part counts as the start of its second, so it sorts before a
    newer id of the same second; a name that is not an execution id sorts first.
    """
    match = _EXECUTION_ID.match(execution_id)
    if not match:
        return ("", 0, execution_id)
    return (match[1], int((match[2] or "").ljust(6, "0")), match[3])


class Journal:
    """Appends events to ``<home>/journal/<execution_id>.jsonl``.

    :meth:`write` raises :class:`OSError` when the event could not be written (disk full,
    file-size limit); the journal stays usable, and the next event starts on a new line.
    """

    def __init__(self, home: Path, execution_id: str):
        self.execution_id = execution_id
        self.path = ensure_dir(journal_dir(home)) / f"{execution_id}.jsonl"
        self._lock = threading.Lock()
        self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._needs_newline = _ends_torn(self.path)
        self._unsynced = False

    def write(self, event: str, *, sync: bool = True, **data: Any) -> None:
        """Append one event; with ``sync`` (the default) it is on disk when this returns.

        ``sync=False`` writes it without the fsync: call :meth:`sync` before anything
        depends on it (the engine journals all legs' intents, then syncs once, then sends).
        Raises :class:`OSError` if the event (or the fsync) could not be written.
        """
        record = {"ts": utcnow().isoformat(), "event": str(event), "execution_id": self.execution_id, **data}
        line = dumps(record, separators=(",", ":"))
        payload = (redact_known(line) + "\n").encode("utf-8")
        with self._lock:
            if self._fd is None:
                raise OSError(f"journal {self.path} is closed")
            if self._needs_newline:
                payload = b"\n" + payload
            try:
                _write_all(self._fd, payload)
            except OSError:
                self._needs_newline = True  # part of the line may be on disk: the next starts afresh
                raise
            self._needs_newline = False
            self._unsynced = True
            if sync:
                self._sync_locked()

    def removed(self) -> bool:
        """Whether the file was deleted (or replaced) while open: what is written since reaches no path."""
        with self._lock:
            if self._fd is None:
                return False
            try:
                return not os.path.samestat(os.fstat(self._fd), os.stat(self.path))
            except OSError:
                return True

    def sync(self) -> None:
        """Fsync everything written so far; raises :class:`OSError` if that fails."""
        with self._lock:
            self._sync_locked()

    def _sync_locked(self) -> None:
        if self._fd is not None and self._unsynced:
            os.fsync(self._fd)
            self._unsynced = False

    def close(self) -> None:
        """Close the file (a failing final fsync is not raised: every write already said so)."""
        with self._lock:
            if self._fd is None:
                return
            fd, self._fd = self._fd, None
            try:
                if self._unsynced:
                    os.fsync(fd)
            except OSError:
                pass
            finally:
                os.close(fd)

    def __enter__(self) -> "Journal":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class UnwritableJournal:
    """Stands in for a journal that cannot even be opened: every write raises :class:`OSError`.

    Used by recovery so the engine still sends its cancels and unwinds (it records each
    failed write in its report) when the journal file cannot be opened.
    """

    def __init__(self, path: Path, reason: str = "the journal cannot be opened"):
        self.path, self.execution_id, self.reason = path, path.stem, reason

    def write(self, event: str, *, sync: bool = True, **data: Any) -> None:
        raise OSError(self.reason)

    def sync(self) -> None:
        raise OSError(self.reason)

    def close(self) -> None:
        pass


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written <= 0:
            raise OSError(f"short write to the journal ({written})")
        view = view[written:]


def _ends_torn(path: Path) -> bool:
    """Whether the file is non-empty and its last byte is not a newline (a torn last line)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            if handle.tell() == 0:
                return False
            handle.seek(-1, os.SEEK_END)
            return handle.read(1) != b"\n"
    except OSError:
        return True  # cannot tell: a spare newline costs one blank line, which readers skip


# --- reading ------------------------------------------------------------------------------


Warn = Callable[[str], None]


def _stderr_warning(message: str) -> None:
    try:
        print(f"gps: warning: {message}", file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass  # a closed stderr never stops a reader


_warned: set[tuple[str, tuple[int, ...]]] = set()
_warned_lock = threading.Lock()
#: Where skipped-line warnings go; replace it (tests, a GUI) with any ``str -> None`` callable.
warning_sink: Warn = _stderr_warning


def read_events(path: Path, warn: Warn | None = None) -> list[dict]:
    """Every usable event of one journal file, in order.

    Skips blank lines and, with one warning per file (per process, per set of bad lines),
    every damaged line: not UTF-8, not JSON, not an event object, missing what its event
    needs (see :func:`gps_core.events.problem`), or a torn last line. A file that cannot
    be read at all gives no events and a warning. Never raises.
    """
    skipped: list[tuple[int, str]] = []
    events: list[dict] = []
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        _warn_once(path, [(0, f"cannot read it: {exc.strerror or exc}")], warn)
        return []
    lines = data.split(b"\n")
    torn = lines.pop()  # after the last newline: b"" when the file ends cleanly
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            skipped.append((number, "not UTF-8"))
            continue
        if _too_deep(raw):
            skipped.append((number, f"nested deeper than {MAX_DEPTH}"))
            continue
        try:
            record = json.loads(text, object_hook=_one_spelling)
        except (ValueError, RecursionError):
            skipped.append((number, "not JSON"))
            continue
        why = problem(record)
        if why:
            skipped.append((number, why))
            continue
        events.append(record)
    if torn.strip():
        skipped.append((len(lines) + 1, "torn last line (a write cut short)"))
    if skipped:
        _warn_once(path, skipped, warn)
    return events


def _one_spelling(obj: dict) -> dict:
    """An older journal's ``"canceled"`` (a state, status or reason) read as ``"cancelled"``, the one spelling output uses."""
    for name, value in obj.items():
        if value == "canceled":
            obj[name] = "cancelled"
    return obj


#: No event nests deeper; a deeper line is damage, and decoding it could exhaust the C stack.
MAX_DEPTH = 64


def _too_deep(raw: bytes) -> bool:
    """Whether the JSON text ``raw`` nests objects/arrays deeper than :data:`MAX_DEPTH` (strings skipped)."""
    if raw.count(b"[") + raw.count(b"{") <= MAX_DEPTH:
        return False
    # Strings out first (at C speed); an unterminated one runs to the end of the line.
    structure = _JSON_STRING.sub(b"", raw).split(b'"', 1)[0]
    if structure.count(b"[") + structure.count(b"{") <= MAX_DEPTH:
        return False
    depth = 0
    for byte in structure.translate(_OPEN_CLOSE, _NOT_BRACKETS):  # b"(" opens, b")" closes
        if byte == 0x28:
            depth += 1
            if depth > MAX_DEPTH:
                return True
        else:
            depth -= 1
    return False


_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_OPEN_CLOSE = bytes.maketrans(b"[{]}", b"(())")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def _warned_before(path: Path, lines: tuple[int, ...]) -> bool:
    """Whether an earlier command already warned about this damage of ``path`` (remembered next to it).

    ``<journal dir>/.damage-warned`` holds one ``<file> <size> <bad lines>`` per warning given,
    so a damaged journal is named once, not by every command forever; new damage (another size
    or other lines) is named again. Best effort: a folder that cannot be written warns each time.
    """
    try:
        entry = f"{path.name} {path.stat().st_size} {','.join(map(str, lines))}"
        marker = path.parent / ".damage-warned"
        try:
            if entry in marker.read_text(encoding="utf-8", errors="replace").splitlines():
                return True
        except FileNotFoundError:
            pass
        with open(marker, "a", encoding="utf-8") as handle:
            handle.write(entry + "\n")
    except OSError:
        pass
    return False


def _warn_once(path: Path, skipped: list[tuple[int, str]], warn: Warn | None) -> None:
    key = (str(path), tuple(number for number, _ in skipped))
    with _warned_lock:
        if key in _warned:
            return
        _warned.add(key)
    if warn is None and _warned_before(path, key[1]):
        return
    shown = "; ".join(f"line {n}: {why}" if n else why for n, why in skipped[:5])
    more = f"; and {len(skipped) - 5} more" if len(skipped) > 5 else ""
    (warn or warning_sink)(f"journal {path}: skipped {len(skipped)} unreadable line(s) ({shown}{more})")


# --- the execution lock -------------------------------------------------------------------


def lock_path(journal: Path) -> Path:
    return journal.with_suffix(".lock")


class ExecutionLock:
    """The OS lock of one execution: whoever holds it drives the execution.

    ``ExecutionLock.acquire(path)`` returns the held lock or raises :class:`ExecutionRunning`
    naming the holder's PID. It is released by :meth:`release` or when the process ends,
    however it ends. ``release(remove=True)`` (an execution that is closed) unlinks the file
    while still holding it; every locker checks, once it holds a lock, that the file it
    locked is still the one at the path, and starts over if not, so two processes never
    hold two different files of one execution.
    """

    def __init__(self, path: Path, fd: int | None):
        self.path = path
        self._fd = fd

    @classmethod
    def acquire(cls, journal: Path, execution_id: str | None = None) -> "ExecutionLock":
        path = lock_path(journal)
        if fcntl is None:  # pragma: no cover
            return cls(path, None)
        for _ in range(20):  # the file was removed under us (a finished execution): lock the new one
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            for attempt in range(5):  # a reader's probe (lock_holder) holds it for microseconds
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError:
                    if attempt == 4:
                        os.close(fd)
                        raise ExecutionRunning(execution_id or journal.stem, _read_pid(path)) from None
                    time.sleep(0.02)
            if _same_file(fd, path):
                break
            os.close(fd)
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError:
            pass  # the lock holds without the PID; readers then say "process ?"
        return cls(path, fd)

    def release(self, *, remove: bool = False) -> None:
        """Release the lock; ``remove``: unlink its file first (the execution is closed: no lock file piles up)."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            if remove:
                try:
                    if _same_file(fd, self.path):
                        self.path.unlink()
                except OSError:
                    pass
            os.close(fd)  # closing the descriptor releases the flock

    def __enter__(self) -> "ExecutionLock":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


class ExecutionRunning(BadInput):
    """Another process holds the execution's lock: it is running, and nothing may act on it."""

    def __init__(self, execution_id: str, pid: int | None):
        self.execution_id, self.pid = execution_id, pid
        super().__init__(f"execution {execution_id} is running in process {pid if pid else '?'}; "
                         "it was left alone (wait for it to finish, or stop that process first)")


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except OSError:
        return False


def _read_pid(path: Path) -> int | None:
    try:
        text = path.read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def lock_holder(journal: Path) -> int | None:
    """``None`` if no process drives the execution of ``journal``; else the holder's PID (0 if unknown)."""
    path = lock_path(journal)
    if fcntl is None or not path.exists():
        return None
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return _read_pid(path) or 0
    finally:
        os.close(fd)  # also drops the shared lock if it was taken
    return None


# --- listing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExecutionSummary:
    execution_id: str
    path: Path
    started: str | None
    strategy: str | None
    venues: list[str]
    legs: int
    finished: bool
    all_filled: bool | None
    mode: str | None
    recovered: bool = False
    running_pid: int | None = None
    #: the file holds bytes but no readable ``execution_started`` (zeroed, overwritten)
    damaged: bool = False

    @property
    def result(self) -> str:
        """``filled``, ``incomplete``, ``recovered: ...``, ``RUNNING (pid N)``, ``DAMAGED`` or ``NOT FINISHED``."""
        if self.running_pid is not None:
            return f"RUNNING (pid {self.running_pid or '?'})"
        if self.damaged:
            return "DAMAGED"
        if not self.finished:
            return "NOT FINISHED"
        outcome = "filled" if self.all_filled else "incomplete"
        return f"recovered: {outcome}" if self.recovered else outcome

    def to_json(self) -> dict:
        return {
            "execution_id": self.execution_id,
            "started": self.started,
            "strategy": self.strategy,
            "venues": self.venues,
            "legs": self.legs,
            "finished": self.finished,
            "all_filled": self.all_filled,
            "recovered": self.recovered,
            "running_pid": self.running_pid,
            "result": self.result,
            "mode": self.mode,
            "path": str(self.path),
        }


def is_damaged(path: Path, events: list[dict]) -> bool:
    """A journal with bytes in it but no readable ``execution_started``: nothing in it can be trusted or resumed."""
    if first(events, Event.EXECUTION_STARTED) is not None:
        return False
    try:
        return path.stat().st_size > 0
    except OSError:
        return False


def summarize(path: Path) -> ExecutionSummary:
    """One line's worth of an execution; recovered executions count as finished."""
    events = read_events(path)
    started = first(events, Event.EXECUTION_STARTED) or {}
    plan = first(events, Event.PLAN) or {}
    finished = last(events, Event.EXECUTION_FINISHED)
    recovered = last(events, Event.EXECUTION_RECOVERED)
    report = closing_report(events)
    legs = plan.get("legs", [])
    all_filled = None
    if report is not None:
        all_filled = bool(report.get("all_filled"))
    elif recovered is not None:
        all_filled = bool(recovered.get("complete"))
    elif finished is not None:
        all_filled = bool(finished.get("all_filled"))
    strategy = started.get("strategy") or {}
    closed = finished is not None or recovered is not None
    return ExecutionSummary(
        execution_id=path.stem,
        path=path,
        started=started.get("ts"),
        strategy=strategy.get("name") if isinstance(strategy.get("name"), str) else None,
        venues=sorted({leg["venue"] for leg in legs if isinstance(leg.get("venue"), str)}),
        legs=len(legs),
        finished=closed,
        all_filled=all_filled,
        mode=started.get("mode"),
        recovered=recovered is not None,
        running_pid=None if closed else lock_holder(path),
        damaged=is_damaged(path, events),
    )


def iter_journals(home: Path) -> Iterator[Path]:
    """Every execution's journal under ``home``, oldest first (by :func:`execution_sort_key`)."""
    folder = journal_dir(home)
    if folder.is_dir():
        yield from sorted((p for p in folder.glob("*.jsonl") if p.is_file()), key=lambda p: execution_sort_key(p.stem))


def find_journal(home: Path, execution_id: str | None) -> Path:
    """The journal of ``execution_id`` (a unique prefix is enough), or the newest one."""
    paths = list(iter_journals(home))
    if not paths:
        raise BadInput(f"no executions recorded under {journal_dir(home)}")
    if execution_id is None or execution_id == "last":
        return paths[-1]
    matches = [p for p in paths if p.stem.startswith(execution_id)]
    if len(matches) != 1:
        what = "no execution matches" if not matches else f"{len(matches)} executions match"
        raise BadInput(f"{what} {execution_id!r}; see `gps journal`")
    return matches[0]
