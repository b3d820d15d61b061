"""Compare a venue's book of record with gps's journal and report, and count what went wrong.

The counts are the figures of docs/reliability.md: orders placed at the venue, duplicates
(a logical order placed more than once), orphans (working at the venue, not reported as
such), unjournaled (at the venue, no ``order_intent`` in the journal) and disagreements (the
report's fill or status differs from the venue's).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from .harness import VenueHarness, VenueOrder

#: Report statuses that say the order is, or may still be, working.
LIVE = {"accepted", "partially_filled", "pending_cancel", "unknown", "submitted"}
VENUE_STATUS = {"filled": "filled", "cancelled": "cancelled", "rejected": "rejected", "expired": "expired"}


def journal_events(home: Path) -> list[dict]:
    """Every complete event of every journal under ``home``."""
    events = []
    for path in sorted((home / "journal").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
            if line.endswith("\n"):
                events.append(json.loads(line))
    return events


def journaled_ids(events: list[dict]) -> list[str]:
    return [e["order"]["client_order_id"] for e in events if e["event"] == "order_intent"]


@dataclass
class Audit:
    """What the venue holds, set against what gps journaled and reported."""

    placed: int = 0
    duplicates: int = 0
    orphans: int = 0
    unjournaled: int = 0
    disagreements: list[str] = field(default_factory=list)
    venue_orders: list[VenueOrder] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.duplicates or self.orphans or self.unjournaled or self.disagreements)

    def explain(self) -> str:
        rows = [f"{o.client_order_id} {o.instrument} {o.side} {o.quantity} filled={o.filled} {o.status}"
                for o in self.venue_orders]
        return (f"placed={self.placed} duplicates={self.duplicates} orphans={self.orphans} "
                f"unjournaled={self.unjournaled} disagreements={self.disagreements}\nvenue: " + "\n       ".join(rows))


def audit(harness: VenueHarness, report: dict | None = None, live: set[str] = frozenset()) -> Audit:
    """Audit the venue against the journal and, if given, the final report.

    ``live``: client order ids gps declared still working (``gps recover``'s list); with a
    report, its ``unsettled`` list plays that part.
    """
    events = journal_events(harness.home)
    ids = journaled_ids(events)
    orders = harness.orders(ids)
    result = Audit(placed=len(orders), venue_orders=orders)
    per_order = Counter(o.client_order_id for o in orders if o.client_order_id)
    result.duplicates = sum(n - 1 for n in per_order.values() if n > 1)
    # A paper store refuses a second order with the same id, so a resend shows up as this refusal.
    result.duplicates += sum(1 for e in events if e["event"] == "order_rejected"
                             and "duplicate client order id" in (e.get("reason") or ""))
    journaled = set(ids)
    result.unjournaled = sum(1 for o in orders if o.client_order_id not in journaled)
    reported = {}
    if report is not None:
        reported = {o["client_order_id"]: o for o in report["legs"] + report["unwinds"]}
        live = set(report["unsettled"]) | {cid for cid, o in reported.items() if o["status"] in LIVE}
    result.orphans = sum(1 for o in orders if o.is_open and o.client_order_id not in live)
    if report is not None:
        result.disagreements = _disagreements(orders, reported)
    return result


def _disagreements(orders: list[VenueOrder], reported: dict[str, dict]) -> list[str]:
    problems = []
    at_venue = {o.client_order_id: o for o in orders if o.client_order_id}
    for cid, leg in reported.items():
        held = at_venue.get(cid)
        filled = Decimal(leg["filled"])
        if held is None:
            if filled != 0 or leg["status"] not in ("rejected", "unknown", "denied", "initialized"):
                problems.append(f"{cid}: reported {leg['status']} filled {filled}, the venue has no such order")
            continue
        if filled != held.filled:
            problems.append(f"{cid}: reported filled {filled}, the venue says {held.filled}")
        expected = VENUE_STATUS.get(leg["status"])
        if expected and expected != held.status:
            problems.append(f"{cid}: reported {leg['status']}, the venue says {held.status}")
        if leg["status"] in ("accepted", "partially_filled") and held.status != "open":
            problems.append(f"{cid}: reported working, the venue says {held.status}")
    missing = set(at_venue) - set(reported)
    problems += [f"{cid}: at the venue, missing from the report" for cid in sorted(missing)]
    return problems


def net_position(orders: list[VenueOrder]) -> dict[str, Decimal]:
    """Signed filled contracts per instrument across ``orders`` (buys +, sells -)."""
    net: dict[str, Decimal] = {}
    for o in orders:
        net[o.instrument] = net.get(o.instrument, Decimal(0)) + (o.filled if o.side == "buy" else -o.filled)
    return {k: v for k, v in net.items() if v}
