"""An in-memory venue for engine tests: a book of record plus scripted misbehaviour per instrument."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from decimal import Decimal as D

from gps_core.errors import AuthenticationError, OrderNotFound, OrderNotOpen, OrderRejected, OutcomeUnknown, RateLimited
from gps_core.model import Capability, OrderSnapshot, VenueInfo, VenueOrderStatus

from builders import book


@dataclass
class Behaviour:
    reject: bool = False
    fill_fraction: D = D(1)  # how much fills on placement
    lose_reply: bool = False  # accept, then raise OutcomeUnknown
    auth_error_after: bool = False  # accept, then raise AuthenticationError (a proxy's 403)
    lost_before_accept: bool = False  # raise OutcomeUnknown, nothing stored
    rate_limits: int = 0  # raise RateLimited this many times first
    fill_on_cancel: bool = False  # the cancel loses the race to a fill
    fill_after_polls: int | None = None  # resting order fills completely after N status polls
    lookups_fail_until_unwind: bool = False  # status lookups time out until an unwind order was placed


@dataclass
class StoredOrder:
    request: object
    filled: D
    status: VenueOrderStatus
    polls: int = 0


class ScriptedVenue:
    def __init__(self, name="scripted", paper=True, behaviours=None, capabilities=frozenset()):
        self.name = name
        # GTC, IOC and reduce-only, as every bundled venue: the engine's unwinds need the last two
        self.info = VenueInfo(name=name, paper=paper,
                              capabilities=frozenset({Capability.GTC, Capability.IOC, Capability.REDUCE_ONLY}) | capabilities)
        self.behaviours: dict[str, Behaviour] = behaviours or {}
        self.orders: dict[str, StoredOrder] = {}
        self.place_calls: list[str] = []
        self.cancel_calls: list[str] = []
        self._lock = threading.Lock()

    def behaviour(self, request) -> Behaviour:
        return self.behaviours.get(request.instrument.symbol, Behaviour())

    def snapshot(self, stored: StoredOrder) -> OrderSnapshot:
        r = stored.request
        return OrderSnapshot(r.client_order_id, f"v-{r.client_order_id}", stored.status, r.quantity, stored.filled,
                             r.limit_price if stored.filled else None)

    def place(self, request):
        with self._lock:
            self.place_calls.append(request.client_order_id)
            b = self.behaviour(request)
            if b.rate_limits > 0:
                b.rate_limits -= 1
                raise RateLimited(f"{self.name}: private/buy: HTTP 429 slow down", retry_after=0.01)  # as plugins word it
            if b.reject:
                raise OrderRejected("not enough funds")
            if b.lost_before_accept:
                raise OutcomeUnknown("connection dropped before the venue read it")
            if request.client_order_id in self.orders:
                raise AssertionError(f"DUPLICATE order {request.client_order_id}")
            filled = (request.quantity * b.fill_fraction).quantize(request.instrument.quantity_step)
            status = VenueOrderStatus.FILLED if filled == request.quantity else VenueOrderStatus.OPEN
            if request.time_in_force.value == "ioc" and status is VenueOrderStatus.OPEN:
                status = VenueOrderStatus.CANCELLED
            stored = StoredOrder(request, filled, status)
            self.orders[request.client_order_id] = stored
            if b.lose_reply:
                raise OutcomeUnknown("read timeout")
            if b.auth_error_after:
                raise AuthenticationError("HTTP 403: forbidden")
            return self.snapshot(stored)

    def order_status(self, request):
        with self._lock:
            stored = self.orders.get(request.client_order_id)
            if stored is None:
                raise OrderNotFound("no such order")
            b = self.behaviour(request)
            if b.lookups_fail_until_unwind and not any("-U" in cid for cid in self.place_calls):
                raise OutcomeUnknown("read timeout")
            stored.polls += 1
            if b.fill_after_polls is not None and stored.polls >= b.fill_after_polls and stored.status is VenueOrderStatus.OPEN:
                stored.filled, stored.status = request.quantity, VenueOrderStatus.FILLED
            return self.snapshot(stored)

    def cancel(self, request):
        with self._lock:
            self.cancel_calls.append(request.client_order_id)
            stored = self.orders.get(request.client_order_id)
            if self.behaviour(request).lookups_fail_until_unwind and not any("-U" in c for c in self.place_calls):
                raise OutcomeUnknown("read timeout")
            if stored is None:
                raise OrderNotFound("no such order")
            if self.behaviour(request).fill_on_cancel and stored.status is VenueOrderStatus.OPEN:
                stored.filled, stored.status = request.quantity, VenueOrderStatus.FILLED
            if stored.status is not VenueOrderStatus.OPEN:
                raise OrderNotOpen("order is not open")
            stored.status = VenueOrderStatus.CANCELLED
            return self.snapshot(stored)

    def order_book(self, instrument, depth=10):
        return book(instrument, bids=[("95", "100")], asks=[("100", "100")])

    def working(self):
        return [cid for cid, o in self.orders.items() if o.status is VenueOrderStatus.OPEN]
