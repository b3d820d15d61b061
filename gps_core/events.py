"""The journal's event vocabulary, the shape each event must have, and the one replay.

Every line of a journal is one event: a JSON object with ``ts`` (ISO 8601, UTC), ``event``
(one of :class:`Event`) and ``execution_id``, plus the fields listed per event below.
:class:`Event` is a ``str`` enum, so journals written before it existed still match.

:func:`problem` says why a record cannot be used (a reader skips it and warns);
:func:`replay` rebuilds every order of an execution from its usable events.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, Sequence

from .codec import request_from_json, snapshot_from_json
from .model import OrderRequest, OrderSnapshot
from .orders import OrderState, TrackedOrder


class Event(str, Enum):
    """Every event name a journal may hold. Fields are those of the matching ``journal.write`` call."""

    EXECUTION_STARTED = "execution_started"  #: mode, strategy, options (timeout, on_partial, ...), pid, closes?
    PLAN = "plan"  #: the plan as ``report.plan_to_json`` gives it
    ORDER_INTENT = "order_intent"  #: role, leg, order (the full request); fsynced before the order leaves
    ORDER_PRESEND = "order_presend"  #: client_order_id, venue_order_id, venue_data (ids a venue computes)
    ORDER_UPDATE = "order_update"  #: client_order_id, state, snapshot (what the venue said)
    ORDER_REJECTED = "order_rejected"  #: client_order_id, state, reason
    ORDER_UNKNOWN = "order_unknown"  #: client_order_id, state, reason: the outcome is not known
    ORDER_NOT_PLACED = "order_not_placed"  #: client_order_id, attempt, reason: the venue said nothing was done
    ORDER_RETRY = "order_retry"  #: client_order_id, valid_until: a new attempt after a confirmed not-placed
    ORDER_DENIED = "order_denied"  #: client_order_id, reason: gps did not send it
    ORDER_SETTLED = "order_settled"  #: client_order_id, state, reason: settled by ``gps recover``
    CANCEL_REQUESTED = "cancel_requested"  #: client_order_id
    CANCEL_UNCONFIRMED = "cancel_unconfirmed"  #: client_order_id, state (unknown), reason
    INTERRUPTED = "interrupted"  #: note
    KEPT = "kept"  #: orders: [{client_order_id, filled}]
    UNWIND_IMPOSSIBLE = "unwind_impossible"  #: client_order_id, reason
    EXECUTION_FINISHED = "execution_finished"  #: all_filled, report
    EXECUTION_RECOVERED = "execution_recovered"  #: closed by ``gps recover``: complete, legs, report, ...

    def __str__(self) -> str:
        return self.value


#: Events that concern one order and must name it.
ORDER_EVENTS = frozenset({
    Event.ORDER_PRESEND, Event.ORDER_UPDATE, Event.ORDER_REJECTED, Event.ORDER_UNKNOWN, Event.ORDER_NOT_PLACED,
    Event.ORDER_DENIED, Event.ORDER_SETTLED, Event.ORDER_RETRY, Event.CANCEL_REQUESTED, Event.CANCEL_UNCONFIRMED,
    Event.UNWIND_IMPOSSIBLE,
})
#: Events that close an execution.
CLOSING_EVENTS = frozenset({Event.EXECUTION_FINISHED, Event.EXECUTION_RECOVERED})
_STATE_EVENTS = frozenset({Event.ORDER_REJECTED, Event.ORDER_UNKNOWN, Event.ORDER_DENIED, Event.ORDER_SETTLED,
                           Event.CANCEL_UNCONFIRMED})
_REPORT_LISTS = ("legs", "unwinds", "kept", "unsettled")


def problem(record: Any) -> str | None:
    """Why ``record`` cannot be used as an event, or ``None`` if it can.

    Checks what the readers rely on: an object with a known-shaped ``ts`` and ``event``,
    a string ``client_order_id`` on order events, an ``order`` that decodes on
    ``order_intent``, a ``snapshot`` and ``state`` that decode on ``order_update``, and
    objects where the start, plan and report are expected. Unknown event names are
    accepted (a newer gps may write them) and ignored by :func:`replay`.
    """
    if not isinstance(record, dict):
        return f"not an event object ({type(record).__name__})"
    kind = record.get("event")
    if not isinstance(kind, str):
        return "no event name"
    ts = record.get("ts")
    if not isinstance(ts, str):
        return f"{kind}: no timestamp"
    try:
        datetime.fromisoformat(ts)
    except ValueError:
        return f"{kind}: bad timestamp {ts[:40]!r}"
    try:
        kind = Event(kind)
    except ValueError:
        return None
    if kind in ORDER_EVENTS and not isinstance(record.get("client_order_id"), str):
        return f"{kind}: no client_order_id"
    try:
        if kind is Event.ORDER_INTENT:
            if not isinstance(record.get("order"), dict):
                return f"{kind}: no order"
            request = request_from_json(record["order"])
            if not isinstance(request.client_order_id, str) or not isinstance(request.venue, str):
                return f"{kind}: the order has no client order id or venue"
            if not isinstance(record.get("leg", 0), int) or not isinstance(record.get("role", "leg"), str):
                return f"{kind}: bad leg or role"
        elif kind is Event.ORDER_UPDATE:
            if not isinstance(record.get("snapshot"), dict):
                return f"{kind}: no snapshot"
            snapshot_from_json(record["snapshot"])
            OrderState(record.get("state"))
        elif kind in _STATE_EVENTS and "state" in record:
            OrderState(record["state"])
        elif kind is Event.ORDER_RETRY and record.get("valid_until") is not None:
            datetime.fromisoformat(record["valid_until"])
        elif kind is Event.ORDER_PRESEND:
            if not isinstance(record.get("venue_data") or {}, dict):
                return f"{kind}: venue_data is not an object"
            if not isinstance(record.get("venue_order_id") or "", str):
                return f"{kind}: venue_order_id is not a string"
        elif kind is Event.EXECUTION_STARTED:
            for name in ("strategy", "options"):
                if not isinstance(record.get(name) or {}, dict):
                    return f"{kind}: {name} is not an object"
            if not isinstance(record.get("mode", "live"), str):
                return f"{kind}: mode is not a string"
        elif kind is Event.PLAN:
            legs = record.get("legs")
            if not isinstance(legs, list) or not all(isinstance(leg, dict) for leg in legs):
                return f"{kind}: legs is not a list of objects"
        elif kind in CLOSING_EVENTS and "report" in record:
            report = record["report"]
            if not isinstance(report, dict) or not all(isinstance(report.get(k, []), list) for k in _REPORT_LISTS):
                return f"{kind}: report is not a report object"
    except Exception as exc:  # noqa: BLE001 - any decoding failure makes the record unusable, never a crash
        return f"{kind}: {type(exc).__name__}: {str(exc)[:80]}"
    return None


def first(events: Sequence[dict], kind: Event) -> dict | None:
    """The first event of ``kind``, or ``None``."""
    return next((e for e in events if e.get("event") == kind), None)


def last(events: Sequence[dict], kind: Event) -> dict | None:
    """The last event of ``kind``, or ``None``."""
    return next((e for e in reversed(events) if e.get("event") == kind), None)


def closing_report(events: Sequence[dict]) -> dict | None:
    """The execution's final report: from recovery if it closed it, else from its own finish."""
    for kind in (Event.EXECUTION_RECOVERED, Event.EXECUTION_FINISHED):
        event = last(events, kind)
        if event and isinstance(event.get("report"), dict) and "legs" in event["report"]:
            return event["report"]
    return None


def execution_mode(events: Sequence[dict]) -> str:
    """``live``, ``paper`` or ``dry-run``, as recorded when the execution started (``live`` if unknown)."""
    started = first(events, Event.EXECUTION_STARTED) or {}
    mode = started.get("mode")
    return mode if isinstance(mode, str) else "live"


@dataclass
class JournaledOrder:
    """One order as the journal knows it: its request and its last recorded state."""

    request: OrderRequest
    role: str
    leg: int
    state: OrderState
    snapshot: OrderSnapshot | None = None
    sent_at: datetime | None = None

    def tracked(self) -> TrackedOrder:
        order = TrackedOrder(request=self.request, leg_index=self.leg, role=self.role, state=self.state)
        order.sent_at = self.sent_at
        if self.snapshot:
            order.filled = self.snapshot.filled_quantity
            order.average_price = self.snapshot.average_price
            order.fee = self.snapshot.fee
            order.fee_estimated = self.snapshot.fee_estimated
        return order


def replay(events: Sequence[dict]) -> dict[str, JournaledOrder]:
    """Rebuild every order of an execution from its journal events, in the order they were written.

    Events are expected to have passed :func:`problem`; one that still does not apply
    (an update for an order never journaled, a second intent for the same id) is ignored,
    and the first intent of a client order id wins: a journal never makes an order twice.
    """
    orders: dict[str, JournaledOrder] = {}
    for event in events:
        kind, cid = event.get("event"), event.get("client_order_id")
        try:
            if kind == Event.ORDER_INTENT:
                request = request_from_json(event["order"])
                if request.client_order_id not in orders:
                    orders[request.client_order_id] = JournaledOrder(
                        request, event.get("role", "leg"), event.get("leg", 0), OrderState.SUBMITTED,
                        sent_at=datetime.fromisoformat(event["ts"]))
            elif isinstance(cid, str) and cid in orders:
                _apply(orders[cid], kind, event)
        except Exception:  # noqa: BLE001
            continue  # problem() lets through only what applies; this is the belt to its braces
    return orders


def _apply(order: JournaledOrder, kind: str, event: dict) -> None:
    if kind == Event.ORDER_PRESEND:
        order.request = order.request.with_updates(
            venue_order_id=event.get("venue_order_id") or order.request.venue_order_id,
            venue_data={**order.request.venue_data, **(event.get("venue_data") or {})})
    elif kind == Event.ORDER_UPDATE:
        snapshot = snapshot_from_json(event["snapshot"])
        state = OrderState(event["state"])
        order.snapshot, order.state = snapshot, state
        order.request = order.request.with_updates(venue_order_id=snapshot.venue_order_id or order.request.venue_order_id)
    elif kind == Event.CANCEL_UNCONFIRMED:
        if "state" in event:  # older journals wrote no state: the order stays pending_cancel
            order.state = OrderState(event["state"])
    elif kind in _STATE_EVENTS:
        order.state = OrderState(event.get("state", OrderState.REJECTED.value))
    elif kind == Event.ORDER_RETRY and event.get("valid_until"):
        order.request = order.request.with_updates(valid_until=datetime.fromisoformat(event["valid_until"]))
    elif kind == Event.CANCEL_REQUESTED and order.state is not OrderState.FILLED:
        order.state = OrderState.PENDING_CANCEL
