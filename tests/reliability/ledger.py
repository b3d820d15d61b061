"""The figures of a reliability run: one row per scenario, written out for docs/reliability.md.

Set ``GPS_RELIABILITY_RESULTS=path.json`` when running the suite; ``report.py`` turns the
file into the table of docs/reliability.md. Only measured numbers go in.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

RESULTS_ENV = "GPS_RELIABILITY_RESULTS"


@dataclass
class Row:
    suite: str  # matrix, crash, sigint, rate_limit, secrets, bad_input, hostile
    venue: str
    scenario: str
    placed: int = 0  # orders the venue's book of record holds after the scenario
    duplicates: int = 0
    orphans: int = 0
    unjournaled: int = 0
    leaks: int = 0
    disagreements: int = 0
    outcome: str = ""  # what gps reported (e.g. "exit 1, unwound 2")


class Ledger:
    """Collects rows from the tests of one session. Thread-safe."""

    def __init__(self):
        self.rows: list[Row] = []
        self._lock = threading.Lock()

    def add(self, row: Row) -> Row:
        with self._lock:
            self.rows.append(row)
        return row

    def from_audit(self, suite: str, venue: str, scenario: str, audit, outcome: str = "") -> Row:
        return self.add(Row(suite, venue, scenario, audit.placed, audit.duplicates, audit.orphans, audit.unjournaled,
                            0, len(audit.disagreements), outcome))

    def write(self, path: Path) -> None:
        path.write_text(json.dumps([asdict(r) for r in self.rows], indent=1) + "\n", encoding="utf-8")


def results_path() -> Path | None:
    value = os.environ.get(RESULTS_ENV)
    return Path(value) if value else None
