"""Crash recovery: find journaled orders whose fate is not settled, and settle them with the venues.

An order is *unsettled* when its last journaled state is not terminal: sent with no reply
(``submitted``), ``unknown``, still working, or with a cancel that was never confirmed.
``gps recover`` asks each venue about every such order by its client order id (or the id
recorded before sending), journals what it learns, and reports what is still live.
An order the venue does not know is declared never placed only when it can no longer
arrive: its ``valid_until`` has passed, the venue is a paper venue, or it was sent longer
ago than ``settle_after`` seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from .codec import snapshot_to_json
from .errors import OrderNotFound
from .journal import Journal, iter_journals, read_events
from .model import OrderSnapshot, utcnow
from .orders import TERMINAL, OrderState, state_from_snapshot
from .service import Context, JournaledOrder, execution_mode, replay, venue_for


@dataclass
class Settlement:
    execution_id: str
    order: JournaledOrder
    before: OrderState
    after: OrderState
    snapshot: OrderSnapshot | None
    note: str

    @property
    def live(self) -> bool:
        return self.after in (OrderState.ACCEPTED, OrderState.PARTIALLY_FILLED, OrderState.PENDING_CANCEL)

    def to_json(self) -> dict:
        r = self.order.request
        return {
            "execution_id": self.execution_id,
            "client_order_id": r.client_order_id,
            "venue": r.venue,
            "instrument": r.instrument.key.name,
            "side": r.side.value,
            "quantity": f"{r.quantity.normalize():f}",
            "filled": None if self.snapshot is None else f"{self.snapshot.filled_quantity.normalize():f}",
            "before": self.before.value,
            "after": self.after.value,
            "live": self.live,
            "note": self.note,
        }


def unsettled_orders(home: Path) -> list[tuple[Path, JournaledOrder]]:
    """Every journaled order, across executions, whose last recorded state is not terminal."""
    found = []
    for path in iter_journals(home):
        events = read_events(path)
        finished = next((e for e in events if e["event"] == "execution_finished"), None)
        if finished and not finished.get("report", {}).get("unsettled"):
            continue
        for order in replay(events).values():
            if order.state not in TERMINAL:
                found.append((path, order))
    return found


def _sent_at(events: list[dict], client_order_id: str) -> datetime | None:
    for event in events:
        if event["event"] == "order_intent" and event["order"]["client_order_id"] == client_order_id:
            return datetime.fromisoformat(event["ts"])
    return None


def recover(ctx: Context, *, settle_after: float = 60.0, cancel_working: bool = False) -> list[Settlement]:
    """Settle every unsettled order of every execution; journal what was learnt."""
    settlements: list[Settlement] = []
    caches: dict[str, dict[str, Any]] = {}
    by_path: dict[Path, list[JournaledOrder]] = {}
    for path, order in unsettled_orders(ctx.home):
        by_path.setdefault(path, []).append(order)
    for path, orders in by_path.items():
        events = read_events(path)
        mode = execution_mode(events)
        with Journal(ctx.home, path.stem) as journal:
            for order in orders:
                venue = venue_for(ctx, order.request.venue, mode, caches.setdefault(mode, {}))
                settlements.append(_settle_one(journal, venue, order, events, settle_after, cancel_working))
    return settlements


def _settle_one(journal: Journal, venue, order: JournaledOrder, events, settle_after: float,
                cancel_working: bool) -> Settlement:
    request, before = order.request, order.state
    cid = request.client_order_id
    try:
        snapshot = venue.order_status(request)
    except OrderNotFound:
        sent = _sent_at(events, cid) or utcnow()
        expired = request.valid_until is not None and utcnow() >= request.valid_until
        if expired or venue.info.paper or utcnow() - sent >= timedelta(seconds=settle_after):
            journal.write("order_settled", client_order_id=cid, state=OrderState.REJECTED.value,
                          reason="not found at the venue by client order id: never placed")
            return Settlement(journal.execution_id, order, before, OrderState.REJECTED, None, "never placed")
        return Settlement(journal.execution_id, order, before, before, None,
                          f"not found yet; sent under {settle_after:.0f}s ago, try again later")
    except Exception as exc:  # noqa: BLE001 - report and move on to the next order
        return Settlement(journal.execution_id, order, before, before, None, f"lookup failed: {exc}")
    note = "found at the venue"
    if cancel_working and snapshot.is_working:
        try:
            journal.write("cancel_requested", client_order_id=cid)
            snapshot = venue.cancel(request)
            note = "cancelled"
        except Exception:  # noqa: BLE001 - fall back to the venue's view
            snapshot = venue.order_status(request)
            note = "cancel failed; status re-read"
    after = state_from_snapshot(snapshot)
    journal.write("order_update", client_order_id=cid, state=after.value, snapshot=snapshot_to_json(snapshot),
                  source="recover")
    return Settlement(journal.execution_id, order, before, after, snapshot, note)



def interrupted_executions(home: Path) -> list[Path]:
    """Journals of executions that never finished (killed, crashed) and that recovery has not closed."""
    found = []
    for path in iter_journals(home):
        kinds = {e["event"] for e in read_events(path)}
        if "execution_finished" not in kinds and "execution_recovered" not in kinds:
            found.append(path)
    return found


def close_interrupted(home: Path) -> list[dict]:
    """Close every interrupted execution whose orders are all settled, saying what each left behind.

    A crash between legs leaves no unsettled order but a half-done strategy: each closed
    execution is journaled (``execution_recovered``) and returned with its filled orders, so
    the operator sees the open position. One with an unsettled order stays open.
    """
    closed = []
    for path in interrupted_executions(home):
        events = read_events(path)
        orders = replay(events).values()
        if any(order.state not in TERMINAL for order in orders):
            continue
        plan = next((e for e in events if e["event"] == "plan"), {})
        filled = [{"client_order_id": o.request.client_order_id, "role": o.role, "instrument": o.request.instrument.key.name,
                   "side": o.request.side.value, "filled": f"{o.snapshot.filled_quantity.normalize():f}"}
                  for o in orders if o.snapshot is not None and o.snapshot.filled_quantity > 0]
        legs_filled = sum(1 for o in orders if o.role == "leg" and o.state is OrderState.FILLED)
        summary = {"legs": len(plan.get("legs", [])), "legs_filled": legs_filled, "filled_orders": filled}
        summary["complete"] = summary["legs"] > 0 and legs_filled == summary["legs"]
        with Journal(home, path.stem) as journal:
            journal.write("execution_recovered", **summary)
        closed.append({"execution_id": path.stem, **summary})
    return closed
