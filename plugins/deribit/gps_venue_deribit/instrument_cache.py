"""Instrument metadata kept on disk between runs, so a quote needs no instrument round trip.

One file per Deribit base URL (production and testnet never share one):
``$GPS_HOME/cache/deribit-instruments-<hash of the base URL>.json``, holding the
``public/get_instrument`` rows of the instruments gps has looked up, each with the wall time
(whole epoch seconds) it was fetched::

    {"version": 1, "base_url": "https://www.deribit.com",
     "instruments": {"BTC-25DEC26-95000-C": {"fetched_at": 1796000000, "row": {...}}}}

What keeps it safe (the cache only ever saves a round trip, it never decides a price):

* an entry is used for at most :data:`INSTRUMENT_TTL` seconds, never once the instrument has
  expired or is not active;
* every book is fetched together with the instrument's fresh row (same round trip), and the
  quote is priced on that fresh row: a changed tick, minimum or state replaces the cached one
  (see :meth:`gps_venue_deribit.market.Market.order_book`);
* an order refused for its instrument or tick removes the entry (:meth:`forget`).

Files are replaced atomically (write a temporary file, ``os.replace``); writers take an
``fcntl`` lock on ``<file>.lock`` and merge with what is on disk, so two processes writing at
once both keep their entries. A torn, foreign or unreadable file reads as empty. The rows are
public market data: no credential is ever written here.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from . import wire

log = logging.getLogger(__name__)

#: Seconds a cached instrument row is used before it is fetched again.
INSTRUMENT_TTL = 3600.0
CACHE_VERSION = 1


def cache_path(cache_dir: Path, base_url: str) -> Path:
    """The cache file for ``base_url`` under ``cache_dir``."""
    digest = hashlib.sha256(base_url.rstrip("/").encode()).hexdigest()[:16]
    return cache_dir / f"deribit-instruments-{digest}.json"


class InstrumentCache:
    """Instrument rows by Deribit name, read once from disk and written through. Thread-safe
    for readers; writes are serialised by the file lock.

    :param path: the cache file (``None``: memory only, nothing is read or written).
    :param ttl: seconds an entry stays usable.
    :param wall: epoch seconds (injectable so tests can age entries without sleeping).
    """

    def __init__(self, path: Path | None, base_url: str, *, ttl: float = INSTRUMENT_TTL,
                 wall: Callable[[], float] = time.time):
        self.path, self.base_url, self.ttl, self._wall = path, base_url.rstrip("/"), ttl, wall
        self._entries: dict[str, dict] | None = None
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"InstrumentCache({self.path})"

    def _loaded(self) -> dict[str, dict]:
        if self._entries is None:
            self._entries = self._read()
        return self._entries

    def _read(self) -> dict[str, dict]:
        if self.path is None:
            return {}
        try:
            data = wire.loads(self.path.read_bytes())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:  # torn or foreign file: start afresh
            log.debug("instrument cache %s unreadable (%s); ignoring it", self.path, type(exc).__name__)
            return {}
        if (not isinstance(data, dict) or data.get("version") != CACHE_VERSION
                or data.get("base_url") != self.base_url or not isinstance(data.get("instruments"), dict)):
            return {}
        return {name: entry for name, entry in data["instruments"].items()
                if isinstance(entry, dict) and isinstance(entry.get("row"), dict)
                and isinstance(entry.get("fetched_at"), int) and not isinstance(entry.get("fetched_at"), bool)}

    def row(self, name: str) -> dict | None:
        """The cached row for ``name`` if it was fetched less than ``ttl`` seconds ago."""
        with self._lock:
            entry = self._loaded().get(name)
        if entry is None:
            return None
        age = self._wall() - float(entry["fetched_at"])
        return entry["row"] if 0 <= age < self.ttl else None

    def store(self, name: str, row: dict) -> None:
        """Keep ``row`` (fetched now) for ``name``, in memory and on disk."""
        self._update({name: {"fetched_at": int(self._wall()), "row": row}}, ())

    def forget(self, name: str) -> None:
        """Drop ``name`` (the venue refused an order for its instrument or tick)."""
        self._update({}, (name,))

    def _update(self, add: dict[str, dict], remove) -> None:
        with self._lock:
            self._update_locked(add, remove)

    def _update_locked(self, add: dict[str, dict], remove) -> None:
        entries = self._loaded()
        entries.update(add)
        for name in remove:
            entries.pop(name, None)
        if self.path is None:
            return
        try:
            with self._file_lock():
                merged = self._read()  # what other processes wrote meanwhile
                merged.update(add)
                for name in remove:
                    merged.pop(name, None)
                self._write(merged)
                entries.update(merged)
        except OSError as exc:  # a read-only home only costs the round trip next time
            log.debug("instrument cache %s not written (%s)", self.path, type(exc).__name__)

    def _write(self, entries: dict[str, dict]) -> None:
        assert self.path is not None
        temporary = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        text = wire.dumps({"version": CACHE_VERSION, "base_url": self.base_url, "instruments": entries})
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, self.path)

    @contextmanager
    def _file_lock(self) -> Iterator[None]:
        assert self.path is not None
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(self.path.with_name(self.path.name + ".lock"), "a") as handle:
            try:
                import fcntl
            except ImportError:  # not POSIX: the atomic replace alone (last writer wins)
                yield
                return
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
