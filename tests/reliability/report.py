"""Turn the results of a reliability run into the tables of docs/reliability.md.

    GPS_RELIABILITY_RESULTS=results.json python -m pytest -q tests/reliability
    python tests/reliability/report.py results.json > tables.md

Prints only what the run measured.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

FIGURES = ("placed", "duplicates", "orphans", "unjournaled", "leaks", "disagreements")
SUITES = {
    "matrix": "Fault matrix (3 legs, fault on first/middle/last leg)",
    "crash": "SIGKILL, then `gps recover`",
    "sigint": "Ctrl-C",
    "journal": "Journal damage, execution lock, closed output",
    "stops": "Stops: SIGTERM/SIGHUP/SIGINT, closed pipe, full journal, late order, failing lookups, unwinds, 429s",
    "rate_limit": "429 storms",
    "secrets": "Canary secrets",
    "hostile": "Hostile venue replies",
    "bad_input": "Bad input (hypothesis examples)",
}
VENUES = ("dryrun", "deribit", "aevo")


def _sum(rows: list[dict]) -> dict:
    return {f: sum(r[f] for r in rows) for f in FIGURES}


def totals_table(rows: list[dict]) -> str:
    out = ["| suite | venue | scenarios | orders placed | duplicates | orphans | unjournaled | leaks | report ≠ venue |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for row in rows:
        groups[(row["suite"], row["venue"])].append(row)
    for suite in SUITES:
        for venue in VENUES:
            group = groups.get((suite, venue))
            if group:
                s = _sum(group)
                out.append(f"| {SUITES[suite]} | {venue} | {len(group)} | " + " | ".join(str(s[f]) for f in FIGURES) + " |")
    s = _sum(rows)
    out.append(f"| **all** | | **{len(rows)}** | " + " | ".join(f"**{s[f]}**" for f in FIGURES) + " |")
    return "\n".join(out)


def matrix_table(rows: list[dict]) -> str:
    """Fault x venue: scenarios, orders placed and what gps reported."""
    cells: dict[tuple[str, str], list[dict]] = defaultdict(list)
    faults: list[str] = []
    for row in rows:
        if row["suite"] != "matrix":
            continue
        venue, rest = row["scenario"].split("-", 1)
        fault = rest.rsplit("-", 1)[0] if not rest.endswith("-keep") else rest.rsplit("-", 2)[0] + " (keep)"
        if fault not in faults:
            faults.append(fault)
        cells[(fault, venue)].append(row)
    out = ["| fault | " + " | ".join(VENUES) + " |", "|---|" + "---|" * len(VENUES)]
    for fault in faults:
        line = []
        for venue in VENUES:
            group = cells.get((fault, venue), [])
            if not group:
                line.append("-")
                continue
            s = _sum(group)
            bad = s["duplicates"] + s["orphans"] + s["unjournaled"] + s["disagreements"]
            outcomes = sorted({r["outcome"].split(",")[0] for r in group})
            line.append(f"{len(group)} runs, {s['placed']} orders, {'/'.join(outcomes)}, {bad} faults found")
        out.append(f"| {fault} | " + " | ".join(line) + " |")
    return "\n".join(out)


def main(argv: list[str]) -> int:
    rows = json.loads(Path(argv[1]).read_text())
    print("### Totals\n")
    print(totals_table(rows))
    print("\n### The fault matrix\n")
    print(matrix_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
