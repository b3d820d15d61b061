"""Finding plugin entry points, with a cache so start-up does not rescan every distribution.

``importlib.metadata`` costs about 50 ms to import and scan on a small environment, half of
what ``gps venues`` may spend. The cache (``$GPS_HOME/cache/entry-points.json``) stores the
entry points of the groups gps reads, keyed on the interpreter and the modification times of
every directory on ``sys.path``: installing or removing a distribution changes its directory's
mtime, which invalidates the cache. ``gps doctor`` always scans afresh.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable

CACHE_VERSION = 1


@dataclass(frozen=True)
class EntryPoint:
    """An entry point as gps needs it: where it is and which distribution it came from."""

    name: str
    group: str
    value: str
    distribution: str | None
    version: str | None

    def load(self) -> Any:
        module, _, attribute = self.value.partition(":")
        obj = importlib.import_module(module.strip())
        for part in filter(None, attribute.strip().split(".")):
            obj = getattr(obj, part)
        return obj


def scan(groups: Iterable[str]) -> list[EntryPoint]:
    """Every entry point of ``groups`` in the installed distributions (no cache)."""
    from importlib import metadata

    found = []
    for group in groups:
        for ep in metadata.entry_points(group=group):
            dist = getattr(ep, "dist", None)
            found.append(EntryPoint(ep.name, group, ep.value, dist.name if dist else None,
                                    dist.version if dist else None))
    return found


def _fingerprint() -> list:
    stamps = []
    for entry in sys.path:
        try:
            stamps.append([entry, os.stat(entry or ".").st_mtime_ns])
        except OSError:
            stamps.append([entry, None])
    return [CACHE_VERSION, sys.executable, stamps]


def cached_scan(groups: Iterable[str], cache_dir: Path) -> list[EntryPoint]:
    """:func:`scan`, answered from the cache when nothing on ``sys.path`` changed."""
    groups = sorted(groups)
    path = cache_dir / "entry-points.json"
    key = _fingerprint() + [groups]
    try:
        data = json.loads(path.read_text())
        if data.get("key") == key:
            return [EntryPoint(**item) for item in data["entry_points"]]
    except (OSError, ValueError, TypeError, KeyError):
        pass
    found = scan(groups)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps({"key": key, "entry_points": [asdict(ep) for ep in found]}))
        os.replace(temporary, path)
    except OSError:
        pass  # a read-only home only costs the rescan next time
    return found
