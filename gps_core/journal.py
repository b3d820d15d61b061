"""The write-ahead journal: one append-only JSONL file per execution.

Every line is one event, flushed and fsynced before the call that writes it returns, so
an order's intent is on disk before the order leaves, and a crash at any point leaves a
journal that ``gps recover`` can read (a torn last line is skipped). Values go through
:mod:`gps_core.codec`, which refuses to encode a :class:`~gps_core.secrets.Secret`.
"""

from __future__ import annotations

import json
import os
import secrets as _random
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from .codec import to_jsonable
from .config import ensure_dir
from .errors import BadInput
from .model import utcnow
from .secrets import redact_known


def journal_dir(home: Path) -> Path:
    return home / "journal"


def new_execution_id() -> str:
    """Sortable and unique: ``20261124T160405-3f9a1c``."""
    return f"{utcnow():%Y%m%dT%H%M%S}-{_random.token_hex(3)}"


class Journal:
    """Appends events to ``<home>/journal/<execution_id>.jsonl``."""

    def __init__(self, home: Path, execution_id: str):
        self.execution_id = execution_id
        self.path = ensure_dir(journal_dir(home)) / f"{execution_id}.jsonl"
        self._lock = threading.Lock()
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._file = os.fdopen(fd, "a", encoding="utf-8")

    def write(self, event: str, *, sync: bool = True, **data: Any) -> None:
        """Append one event; with ``sync`` (the default) it is on disk when this returns.

        ``sync=False`` only buffers it: call :meth:`sync` before anything depends on it (the
        engine journals all legs' intents, then syncs once, then sends).
        """
        record = {"ts": utcnow().isoformat(), "event": event, "execution_id": self.execution_id, **data}
        line = json.dumps(to_jsonable(record), separators=(",", ":"), sort_keys=False)
        line = redact_known(line)
        with self._lock:
            self._file.write(line + "\n")
            if sync:
                self._sync_locked()

    def sync(self) -> None:
        """Flush and fsync everything written so far."""
        with self._lock:
            self._sync_locked()

    def _sync_locked(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        with self._lock:
            if not self._file.closed:
                self._file.close()

    def __enter__(self) -> "Journal":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_events(path: Path) -> list[dict]:
    """All complete events of one journal file; a torn last line (a crash mid-write) is skipped."""
    events = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if not line.endswith("\n"):
                break
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return events


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

    def to_json(self) -> dict:
        return {
            "execution_id": self.execution_id,
            "started": self.started,
            "strategy": self.strategy,
            "venues": self.venues,
            "legs": self.legs,
            "finished": self.finished,
            "all_filled": self.all_filled,
            "mode": self.mode,
            "path": str(self.path),
        }


def summarize(path: Path) -> ExecutionSummary:
    events = read_events(path)
    started = next((e for e in events if e["event"] == "execution_started"), {})
    plan = next((e for e in events if e["event"] == "plan"), {})
    finished = next((e for e in events if e["event"] == "execution_finished"), None)
    legs = plan.get("legs", [])
    return ExecutionSummary(
        execution_id=path.stem,
        path=path,
        started=started.get("ts"),
        strategy=(started.get("strategy") or {}).get("name"),
        venues=sorted({leg.get("venue") for leg in legs if leg.get("venue")}),
        legs=len(legs),
        finished=finished is not None,
        all_filled=finished.get("all_filled") if finished else None,
        mode=started.get("mode"),
    )


def iter_journals(home: Path) -> Iterator[Path]:
    folder = journal_dir(home)
    if folder.is_dir():
        yield from sorted(folder.glob("*.jsonl"))


def find_journal(home: Path, execution_id: str | None) -> Path:
    """The journal of ``execution_id`` (a unique prefix is enough), or the newest one."""
    paths = list(iter_journals(home))
    if not paths:
        raise BadInput(f"no executions recorded under {journal_dir(home)}")
    if execution_id is None or execution_id == "last":
        return paths[-1]
    matches = [p for p in paths if p.stem.startswith(execution_id)]
    if len(matches) != 1:
        what = "no execution" if not matches else f"{len(matches)} executions"
        raise BadInput(f"{what} matches {execution_id!r}; see `gps journal`")
    return matches[0]
