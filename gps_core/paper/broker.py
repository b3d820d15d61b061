"""The paper matching engine: limit orders filled against an order book, kept in the paper store.

:class:`PaperBroker` fills limit orders against an :class:`~gps_core.model.OrderBook` (the
dry-run venue's offline market, or a real venue's public book in ``gps execute --dry-run``)
and keeps every order in its :class:`~gps_core.paper.store.PaperStore`, so a later process
(``gps status``, ``gps cancel``, ``gps recover``) sees the same orders. The store is the
idempotency record: a second order with the same client order id is refused. Faults of a
:class:`~gps_core.paper.faults.FaultPlan` fire at the steps they name.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Callable, Iterator

from ..errors import (
    InvalidOrder,
    OrderNotFound,
    OrderNotOpen,
    OrderRejected,
    OutcomeUnknown,
    RateLimited,
    ReduceOnlyRefused,
)
from ..model import OrderBook, OrderRequest, OrderSnapshot, Position, Side, TimeInForce, VenueOrderStatus, utcnow
from ..money import ZERO, format_decimal, is_multiple, round_to_step
from .faults import RATE_LIMIT_RETRY_AFTER, FaultPlan
from .orders import PaperFill, PaperOrder, plain
from .store import PaperStore, StoreState


class PaperBroker:
    """A paper matching engine and persistent order store for one venue.

    :param store_path: the JSON file holding the orders (created on first write; its
        directory must exist or be creatable).
    :param venue: the venue's name, used in order ids and messages.
    :param faults: an optional :class:`FaultPlan`.
    :param sleep: how injected latency waits (tests pass a recorder).
    :param clock: the market's present, at which expiry is judged (default: the real
        clock; the dry-run venue passes its market's clock, so a market dated in the past
        trades what had not expired on that date).

    Every call is one transaction of the :class:`~gps_core.paper.store.PaperStore` (a thread
    lock and an ``fcntl`` lock; the file replaced atomically), so concurrent threads and
    processes always see whole states. Thread-safe.
    """

    def __init__(self, store_path: Path, venue: str, faults: FaultPlan | None = None,
                 *, sleep: Callable[[float], None] = time.sleep, clock: Callable[[], datetime] = utcnow):
        self.store = PaperStore(store_path, venue)
        self.store_path = self.store.path
        self.venue = venue
        self.faults = faults or FaultPlan()
        self._sleep = sleep
        self._clock = clock

    def __repr__(self) -> str:
        return f"PaperBroker({self.venue!r}, {str(self.store_path)!r}, faults={str(self.faults)!r})"

    # --- public API ---------------------------------------------------------------------

    def place(self, order: OrderRequest, book: OrderBook, *, leg_prices: dict | None = None) -> OrderSnapshot:
        """Match ``order`` against ``book`` and store it.

        :raises OrderRejected: a duplicate client order id, an ``InvalidOrder`` (size, tick,
            post-only crossing, reduce-only increasing the position) or an injected reject;
            nothing is stored.
        :raises RateLimited: an injected rate limit; nothing is stored.
        :raises OutcomeUnknown: an injected lost request (nothing stored) or lost reply (the
            order *is* stored and can be found by its client order id).

        ``leg_prices``: for a combo order, each leg's reference price (symbol -> price), so its
        fills are held per leg (see :class:`PaperOrder`).
        """
        symbol = order.instrument.symbol
        with self._transaction() as (state, fire):
            latency = self._latency(fire, symbol)
            outcome = self._place_locked(order, book, state, fire, leg_prices)
        return self._finish(latency, outcome)

    def status(self, order: OrderRequest) -> OrderSnapshot:
        """The stored order, by ``venue_order_id`` if set, else by client order id.

        :raises OrderNotFound: no such order.
        """
        with self._transaction() as (state, fire):
            latency = self._latency(fire, order.instrument.symbol)
            try:
                stored = state.find(order)
            except OrderNotFound as exc:
                outcome: object = exc
            else:
                self._maybe_fill_later(stored, fire)
                outcome = stored.snapshot()
        return self._finish(latency, outcome)

    def cancel(self, order: OrderRequest) -> OrderSnapshot:
        """Cancel a working order; a partial fill stays on the cancelled order.

        :raises OrderNotOpen: the order is filled or cancelled already (also when an injected
            ``cancel_race`` fills it first).
        :raises OrderNotFound: no such order.
        """
        with self._transaction() as (state, fire):
            latency = self._latency(fire, order.instrument.symbol)
            outcome = self._cancel_locked(order, state, fire)
        return self._finish(latency, outcome)

    def orders(self) -> list[PaperOrder]:
        """Every stored order, oldest first."""
        with self._transaction(write=False) as (state, _):
            return list(state.orders.values())

    def positions(self) -> list[Position]:
        """The net position per symbol from every stored fill (the book of record), flat ones left out.

        ``average_price`` is the average cost of what is held: fills that add to the position
        average in, fills that reduce it leave it, a fill that flips it starts it afresh at its
        price. No mark, no P&L: the venue adds those from its market. A combo order's fills are
        held per leg (ratio times the fill, at the leg prices of :meth:`PaperOrder.leg_fills`).
        What was settled at expiry (:mod:`gps_core.paper.settlement`) is no longer held.
        """
        with self._transaction(write=False) as (state, _):
            return state.held(self.venue)

    def transact(self, step: Callable[[StoreState], object]) -> object:
        """Run ``step(state)`` as one transaction under the store's locks and save what it changed.

        For store extensions such as settlement at expiry (:mod:`gps_core.paper.settlement`):
        another process's transaction waits for it, so a step that checks before it writes is
        idempotent. Returns what ``step`` returns.
        """
        with self._transaction() as (state, _):
            return step(state)

    def fill(self, client_order_id: str) -> OrderSnapshot:
        """Fill what is left of a working order at its limit, as if someone traded against it.

        For test harnesses and drills (a resting order being hit).

        :raises OrderNotFound: no such order.
        :raises OrderNotOpen: the order is filled or cancelled already.
        """
        with self._transaction() as (state, _):
            stored = state.orders.get(client_order_id)
            if stored is None:
                raise OrderNotFound(f"no paper order {client_order_id!r}")
            if stored.status is not VenueOrderStatus.OPEN:
                raise OrderNotOpen(f"order {client_order_id} is {stored.status.value}", venue=self.venue)
            stored.fill_rest_as_maker()
            return stored.snapshot()

    def reset_fault_counters(self) -> None:
        """Forget how often each fault fired (a test harness arming a fresh plan)."""
        with self._transaction() as (state, _):
            state.counters.clear()

    # --- the steps, run under the lock ---------------------------------------------------

    def _place_locked(self, order: OrderRequest, book: OrderBook, state: StoreState, fire,
                      leg_prices: dict | None = None) -> object:
        symbol = order.instrument.symbol
        if fire("rate_limit", symbol):
            return RateLimited("paper venue: too many requests (injected rate limit)", retry_after=RATE_LIMIT_RETRY_AFTER,
                               venue=self.venue, code="rate_limit")
        if fire("unknown_before_accept", symbol):
            return OutcomeUnknown("paper venue: the request was lost (injected); the order was not placed",
                                  venue=self.venue)
        if order.client_order_id in state.orders:
            return OrderRejected(f"duplicate client order id {order.client_order_id!r}", venue=self.venue,
                                 code="duplicate_client_order_id")
        problem = self._invalid(order, book, state)
        if problem:
            return InvalidOrder(problem, venue=self.venue)
        problem = self._reduce_only_problem(order, state)
        if problem:
            return ReduceOnlyRefused(problem, venue=self.venue)
        if fire("reject", symbol):
            return OrderRejected(f"order {order.client_order_id} rejected (injected reject for {symbol})",
                                 venue=self.venue, code="injected_reject")

        cap = order.quantity
        if fire("never_fill", symbol):
            cap = ZERO
        else:
            fraction = fire("partial", symbol)
            if fraction is not None:
                cap = round_to_step(order.quantity * fraction, order.instrument.quantity_step, up=False)
        fills = self._walk(order, book, cap)

        now = utcnow()
        stored = PaperOrder(
            client_order_id=order.client_order_id,
            venue_order_id=f"{self.venue}-paper-{state.next_number:08d}",
            symbol=symbol,
            side=order.side,
            quantity=order.quantity,
            limit_price=order.limit_price,
            price_currency=order.instrument.price_currency,
            time_in_force=order.time_in_force,
            status=VenueOrderStatus.OPEN,
            created_at=now,
            updated_at=now,
            fees=order.instrument.fees,
            underlying_value=book.underlying_value(),
            post_only=order.post_only,
            reduce_only=order.reduce_only,
            fills=fills,
            combo_legs=tuple((leg.symbol, leg.ratio, Decimal((leg_prices or {}).get(leg.symbol, ZERO)))
                             for leg in order.instrument.combo_legs),
        )
        state.next_number += 1
        if stored.remaining == 0:
            stored.status = VenueOrderStatus.FILLED
        elif order.time_in_force is TimeInForce.IOC:
            stored.status = VenueOrderStatus.CANCELLED
            stored.reason = "immediate-or-cancel: the unfilled rest was cancelled"
        state.orders[stored.client_order_id] = stored
        if fire("unknown_after_accept", symbol):
            return OutcomeUnknown("paper venue: the reply was lost after the order was accepted (injected)",
                                  venue=self.venue)
        return stored.snapshot()

    def _invalid(self, order: OrderRequest, book: OrderBook, state: StoreState) -> str | None:
        instrument = order.instrument
        if book.instrument.symbol != instrument.symbol:
            return f"book is for {book.instrument.symbol}, order is for {instrument.symbol}"
        if not order.client_order_id:
            return "an order needs a client order id"
        if instrument.is_expired(self._clock()):
            return f"{instrument.symbol} has expired"
        if order.quantity < instrument.min_quantity:
            return f"quantity {format_decimal(order.quantity)} is below the minimum {format_decimal(instrument.min_quantity)}"
        if not is_multiple(order.quantity, instrument.quantity_step):
            return f"quantity {order.quantity} is not a multiple of {instrument.quantity_step}"
        tick = instrument.tick_at(order.limit_price)
        if order.limit_price <= 0 or not is_multiple(order.limit_price, tick):
            return f"limit price {order.limit_price} is not a positive multiple of the tick {tick}"
        if order.post_only and self._crossing(order, book):
            return "post-only order would take liquidity"
        return None

    @staticmethod
    def _reduce_only_problem(order: OrderRequest, state: StoreState) -> str | None:
        if not order.reduce_only:
            return None
        # a combo order reduces only if it reduces every leg it trades
        legs = [(leg.symbol, leg.ratio) for leg in order.instrument.combo_legs] or [(order.instrument.symbol, 1)]
        for symbol, ratio in legs:
            position, change = state.position(symbol), order.side.sign * ratio * order.quantity
            if position * change >= 0 or abs(change) > abs(position):
                return f"reduce-only {order.side.value} {order.quantity} would not reduce the position {position}" + \
                    (f" of {symbol}" if order.instrument.combo_legs else "")
        return None

    @staticmethod
    def _crossing(order: OrderRequest, book: OrderBook) -> list:
        if order.side is Side.BUY:
            return [level for level in book.asks if level.price <= order.limit_price]
        return [level for level in book.bids if level.price >= order.limit_price]

    def _walk(self, order: OrderRequest, book: OrderBook, cap: Decimal) -> list[PaperFill]:
        """Take the opposite side, best level first, within the limit and up to ``cap``."""
        fills, left = [], cap
        underlying_value = book.underlying_value()
        for level in self._crossing(order, book):
            if left <= 0:
                break
            take = min(level.quantity, left)
            if take <= 0:
                continue
            fee = order.instrument.fees.fee_per_contract(level.price, underlying_value) * take
            fills.append(PaperFill(level.price, take, plain(fee), "taker"))
            left -= take
        return fills

    def _maybe_fill_later(self, stored: PaperOrder, fire) -> None:
        if stored.status is not VenueOrderStatus.OPEN or not any(r.name == "fill_after" for r in self.faults.rules):
            return
        stored.status_checks += 1
        for key, rule in self.faults.keyed():
            if rule.name == "fill_after" and stored.status_checks >= int(rule.value):
                if fire("fill_after", stored.symbol, only=key):
                    stored.fill_rest_as_maker()
                    return

    def _cancel_locked(self, order: OrderRequest, state: StoreState, fire) -> object:
        try:
            stored = state.find(order)
        except OrderNotFound as exc:
            return exc
        if stored.status is not VenueOrderStatus.OPEN:
            return OrderNotOpen(f"order {stored.client_order_id} is {stored.status.value}", venue=self.venue)
        if fire("cancel_race", stored.symbol):
            stored.fill_rest_as_maker()
            return OrderNotOpen(f"order {stored.client_order_id} filled before the cancel arrived", venue=self.venue)
        stored.status = VenueOrderStatus.CANCELLED
        stored.reason = "cancelled"
        stored.updated_at = utcnow()
        return stored.snapshot()

    # --- faults -------------------------------------------------------------------------

    def _latency(self, fire, symbol: str) -> float:
        millis = ZERO
        for key, rule in self.faults.keyed():
            if rule.name == "latency" and fire("latency", symbol, only=key) is not None:
                millis += Decimal(rule.value)
        return float(millis) / 1000

    def _finish(self, latency: float, outcome: object) -> OrderSnapshot:
        if latency > 0:
            self._sleep(latency)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome  # type: ignore[return-value]

    # --- the store ----------------------------------------------------------------------

    @contextmanager
    def _transaction(self, *, write: bool = True) -> Iterator[tuple[StoreState, Callable]]:
        """A store transaction, with the fault plan's trigger counting into the store."""
        with self.store.transaction(write=write) as state:
            yield state, self.faults.trigger(state.counters)
