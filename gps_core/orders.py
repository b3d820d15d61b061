"""The order state machine.

States and the allowed transitions are a table, after NautilusTrader's: an order moves
only along an edge listed here, including the real-world ones (a fill reported after a
cancel, a cancel that loses the race to a fill, an unknown outcome later found either
way). ``UNKNOWN`` is a first-class state: an order whose placement reply was lost is
looked up by its client order id, never assumed rejected.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import Enum

from .errors import GpsError
from .model import OrderRequest, OrderSnapshot, VenueOrderStatus, utcnow
from .money import ZERO, Money


class OrderState(str, Enum):
    INITIALIZED = "initialized"  #: created and journaled, not sent
    DENIED = "denied"  #: refused by gps itself before sending
    SUBMITTED = "submitted"  #: sent, no reply yet
    ACCEPTED = "accepted"  #: working at the venue, nothing filled
    PARTIALLY_FILLED = "partially_filled"  #: working, partly filled
    FILLED = "filled"
    PENDING_CANCEL = "pending_cancel"  #: cancel sent, no reply yet
    CANCELLED = "cancelled"  #: may carry a partial fill (older journals wrote "canceled")
    REJECTED = "rejected"  #: the venue refused it, or it was confirmed never to have arrived
    EXPIRED = "expired"
    UNKNOWN = "unknown"  #: outcome not known; must be settled by lookup

    @classmethod
    def _missing_(cls, value: object) -> "OrderState | None":
        # older journals spelled it "canceled"; output uses one spelling, the venues' "cancelled"
        return cls.CANCELLED if value == "canceled" else None


S = OrderState
TERMINAL = frozenset({S.DENIED, S.FILLED, S.CANCELLED, S.REJECTED, S.EXPIRED})
WORKING = frozenset({S.ACCEPTED, S.PARTIALLY_FILLED, S.PENDING_CANCEL})
_AFTER_SEND = {S.ACCEPTED, S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.EXPIRED, S.REJECTED, S.UNKNOWN}

TRANSITIONS: dict[OrderState, frozenset[OrderState]] = {
    S.INITIALIZED: frozenset({S.SUBMITTED, S.DENIED}),
    S.SUBMITTED: frozenset(_AFTER_SEND),
    S.UNKNOWN: frozenset(_AFTER_SEND | {S.PENDING_CANCEL}),
    S.ACCEPTED: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.PENDING_CANCEL, S.CANCELLED, S.EXPIRED, S.UNKNOWN}),
    S.PARTIALLY_FILLED: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.PENDING_CANCEL, S.CANCELLED, S.EXPIRED, S.UNKNOWN}),
    # ACCEPTED/PARTIALLY_FILLED: the cancel failed; FILLED: the cancel lost the race to a fill.
    S.PENDING_CANCEL: frozenset({S.CANCELLED, S.FILLED, S.ACCEPTED, S.PARTIALLY_FILLED, S.EXPIRED, S.UNKNOWN}),
    # Real world: a venue may report a fill that happened just before the cancel took effect.
    S.CANCELLED: frozenset({S.FILLED}),
    S.FILLED: frozenset(),
    S.REJECTED: frozenset(),
    S.EXPIRED: frozenset(),
    S.DENIED: frozenset(),
}


class InvalidTransition(GpsError):
    """An order was asked to move along an edge the state machine does not have."""


def state_from_snapshot(snapshot: OrderSnapshot) -> OrderState:
    status = snapshot.status
    if status is VenueOrderStatus.OPEN:
        return S.PARTIALLY_FILLED if snapshot.filled_quantity > 0 else S.ACCEPTED
    return {
        VenueOrderStatus.FILLED: S.FILLED,
        VenueOrderStatus.CANCELLED: S.CANCELLED,
        VenueOrderStatus.REJECTED: S.REJECTED,
        VenueOrderStatus.EXPIRED: S.EXPIRED,
    }[status]


@dataclass
class TrackedOrder:
    """An order as gps tracks it: the request, its state, its fills and its history."""

    request: OrderRequest
    leg_index: int
    role: str = "leg"  # "leg" or "unwind"
    state: OrderState = OrderState.INITIALIZED
    filled: Decimal = ZERO
    average_price: Decimal | None = None
    fee: Money | None = None
    fee_estimated: bool = False
    price_estimated: bool = False  # average_price is a stand-in (the limit), not the venue's figure
    reason: str | None = None
    sent_at: datetime | None = None
    acked_at: datetime | None = None
    leg_fills: tuple = ()  # a combo order's per-leg trades (model.LegFill), as last reported
    history: list[tuple[datetime, OrderState, str]] = field(default_factory=list)

    @property
    def client_order_id(self) -> str:
        return self.request.client_order_id

    @property
    def is_terminal(self) -> bool:
        return self.state in TERMINAL

    @property
    def is_working(self) -> bool:
        return self.state in WORKING

    @property
    def remaining(self) -> Decimal:
        return self.request.quantity - self.filled

    def transition(self, new: OrderState, note: str = "") -> bool:
        """Move to ``new``; return whether the state changed. Raise on an impossible edge."""
        if new is self.state and new is not S.PARTIALLY_FILLED:
            return False
        if new not in TRANSITIONS[self.state]:
            raise InvalidTransition(f"order {self.client_order_id}: {self.state.value} -> {new.value} is not allowed")
        self.state = new
        self.history.append((utcnow(), new, note))
        return True

    def apply(self, snapshot: OrderSnapshot) -> bool:
        """Take in what the venue says; return whether anything changed.

        A snapshot that would move the order backwards (less filled than already seen, or
        cancelled after filled) is ignored: the venue's older view lost a race with a newer one.
        """
        if snapshot.filled_quantity < self.filled:
            return False
        if snapshot.quantity != self.request.quantity:
            self.reason = f"venue reports size {snapshot.quantity}, ordered {self.request.quantity}"
        new = state_from_snapshot(snapshot)
        if self.state is S.PENDING_CANCEL and new is S.ACCEPTED:
            new = S.PENDING_CANCEL  # the cancel has not been processed yet
        changed = snapshot.filled_quantity != self.filled
        keep_price = (snapshot.price_estimated and not self.price_estimated and self.average_price is not None
                      and snapshot.filled_quantity == self.filled)  # a stand-in never replaces the venue's average
        self.filled = snapshot.filled_quantity
        if snapshot.filled_quantity > 0 and snapshot.average_price is not None and not keep_price:
            changed = changed or (snapshot.average_price, snapshot.price_estimated) != (
                self.average_price, self.price_estimated)
            self.average_price, self.price_estimated = snapshot.average_price, snapshot.price_estimated
        if snapshot.fee is not None:
            changed = changed or (snapshot.fee, snapshot.fee_estimated) != (self.fee, self.fee_estimated)
            self.fee, self.fee_estimated = snapshot.fee, snapshot.fee_estimated
        if snapshot.leg_fills:
            self.leg_fills = snapshot.leg_fills
        if snapshot.venue_order_id and not self.request.venue_order_id:
            self.request = self.request.with_updates(venue_order_id=snapshot.venue_order_id)
        if snapshot.reason:
            self.reason = snapshot.reason
        if new is self.state and new is not S.PARTIALLY_FILLED:
            return changed
        if new not in TRANSITIONS[self.state]:
            return changed
        self.transition(new, "venue")
        return True
