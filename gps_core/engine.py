"""The execution engine: place the planned legs, watch them, cancel, unwind, and journal it all.

Rules it keeps (see ``docs/reliability.md``):

* an order's intent is journaled (fsynced) before the order leaves;
* ``gps_place`` is called once per attempt; a new attempt happens only after the venue said
  nothing was done (rate limit, unreachable) *and* a lookup by client order id found nothing;
* an unknown outcome is settled by looking the order up, never by sending it again;
* when the strategy cannot complete, working orders are cancelled at once, and filled
  quantity is unwound with offsetting reduce-only orders or kept and reported (policy);
* a filled order is never reported as cancelled; Ctrl-C cancels what is working first.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Callable, Iterable, Mapping, Protocol, TypeVar

from .codec import request_to_json, snapshot_to_json
from .errors import (
    AuthenticationError,
    NetworkError,
    OrderNotFound,
    OrderNotOpen,
    OrderRejected,
    RateLimited,
    VenueUnavailable,
)
from .journal import Journal
from .model import Capability, OrderBook, OrderRequest, OrderSnapshot, TimeInForce, VenueInfo, utcnow
from .money import round_to_step
from .orders import OrderState, TrackedOrder
from .routing import Plan, PlannedLeg

T = TypeVar("T")
NOT_PLACED = (RateLimited, NetworkError, VenueUnavailable)
#: Placement attempts of one order, at most, however short the venue's retry-after.
MAX_ATTEMPTS = 50

_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def run_concurrently(function: Callable[[T], None], items: list[T]) -> None:
    """Call ``function`` on every item at once: the first on this thread, the rest on a shared pool.

    The pool lives for the process, so no thread is started on the critical path of an order.
    """
    global _POOL
    if not items:
        return
    futures = []
    if len(items) > 1:
        with _POOL_LOCK:
            if _POOL is None:
                _POOL = ThreadPoolExecutor(max_workers=32, thread_name_prefix="gps")
        futures = [_POOL.submit(function, item) for item in items[1:]]
    try:
        function(items[0])
    finally:
        wait(futures)  # even on Ctrl-C: an order being sent must be seen before anything else happens
    for future in futures:
        future.result()


CRASH_ENV = "GPS_CRASH_AT"


def crash_point(name: str, order: "TrackedOrder | None" = None) -> None:
    """Crash drills: ``GPS_CRASH_AT=NAME[@L2]`` kills this process with SIGKILL at that point.

    Points: ``before_send`` (intent journaled, nothing sent), ``after_send`` (the venue
    answered, the answer not yet journaled), ``between_legs`` (``--sequential``: a leg
    filled, the next not journaled) and ``monitoring``. ``@L2`` narrows it to leg 2.
    """
    wanted = os.environ.get(CRASH_ENV)
    if not wanted:
        return
    point, _, leg = wanted.partition("@")
    if point != name or (leg and (order is None or f"-{leg}-" not in order.client_order_id)):
        return
    os.kill(os.getpid(), getattr(signal, "SIGKILL", signal.SIGTERM))


class VenuePort(Protocol):
    """What the engine needs of a venue (``gps_core.plugins.Venue`` or a simulated one)."""

    info: VenueInfo

    def place(self, order: OrderRequest) -> OrderSnapshot: ...
    def order_status(self, order: OrderRequest) -> OrderSnapshot: ...
    def cancel(self, order: OrderRequest) -> OrderSnapshot: ...
    def order_book(self, instrument, depth: int = 10) -> OrderBook: ...


@dataclass
class ExecutionOptions:
    """How an execution behaves. Times are seconds."""

    timeout: float = 30.0
    on_partial: str = "unwind"  # "unwind" or "keep"
    sequential: bool = False
    time_in_force: TimeInForce = TimeInForce.GTC
    poll_initial: float = 0.05
    poll_max: float = 1.0
    unknown_grace: float = 5.0
    unwind_slippage: Decimal = Decimal("0.05")
    unwind_timeout: float = 10.0
    max_place_attempts: int = 3
    max_rate_limit_wait: float = 10.0


@dataclass
class ExecutionResult:
    """What happened: every order gps sent, and whether the strategy completed."""

    execution_id: str
    plan: Plan
    legs: list[TrackedOrder]
    unwinds: list[TrackedOrder] = field(default_factory=list)
    kept: list[TrackedOrder] = field(default_factory=list)
    interrupted: bool = False
    started_at: datetime = field(default_factory=utcnow)
    finished_at: datetime | None = None

    @property
    def all_filled(self) -> bool:
        return all(order.state is OrderState.FILLED for order in self.legs)

    @property
    def unsettled(self) -> list[TrackedOrder]:
        return [o for o in self.legs + self.unwinds if not o.is_terminal]

    @property
    def legging_window(self) -> float | None:
        """Seconds from the first order sent to the last acknowledged."""
        sent = [o.sent_at for o in self.legs if o.sent_at]
        acked = [o.acked_at for o in self.legs if o.acked_at]
        if not sent or not acked:
            return None
        return (max(acked) - min(sent)).total_seconds()


class Engine:
    """Runs one plan. Venues are looked up by name in ``venues``."""

    def __init__(
        self,
        venues: Mapping[str, VenuePort],
        journal: Journal,
        options: ExecutionOptions | None = None,
        progress: Callable[[str], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.venues = venues
        self.journal = journal
        self.options = options or ExecutionOptions()
        self.progress = progress or (lambda message: None)
        self.sleep = sleep

    # --- the whole run -----------------------------------------------------------------

    def execute(self, plan: Plan) -> ExecutionResult:
        result = ExecutionResult(self.journal.execution_id, plan, [self._new_leg_order(p) for p in plan.legs])
        try:
            if self.options.sequential:
                self._run_sequential(result)
            else:
                self._run_concurrent(result)
        except KeyboardInterrupt:
            result.interrupted = True
            self.journal.write("interrupted", note="Ctrl-C: cancelling working orders")
            self.progress("interrupted: cancelling working orders (Ctrl-C again to quit at once)")
            for order in result.legs:
                if order.state is OrderState.SUBMITTED:  # its send was cut short: find out
                    self._mark(order, OrderState.UNKNOWN, "interrupted while sending", "order_unknown")
            self._cancel_all(result.legs)
        if not result.all_filled:
            self._handle_partial(result)
        result.finished_at = utcnow()
        return result

    def _run_concurrent(self, result: ExecutionResult) -> None:
        self._submit_all(result.legs)
        deadline = time.monotonic() + self.options.timeout
        self._monitor(result.legs, deadline, stop_on_failure=True)
        self._cancel_all(result.legs)

    def _run_sequential(self, result: ExecutionResult) -> None:
        deadline = time.monotonic() + self.options.timeout
        for order in result.legs:
            self._submit(order)
            self._monitor([order], deadline, stop_on_failure=True)
            if order.state is OrderState.FILLED:
                crash_point("between_legs", order)
            else:
                self._cancel_all([order])
                for rest in result.legs:
                    if rest.state is OrderState.INITIALIZED:
                        rest.transition(OrderState.DENIED, "not sent: an earlier leg did not fill")
                        rest.reason = "not sent: an earlier leg did not fill"
                        self.journal.write("order_denied", client_order_id=rest.client_order_id, reason=rest.reason)
                break

    # --- orders ------------------------------------------------------------------------

    def _new_leg_order(self, planned: PlannedLeg) -> TrackedOrder:
        request = OrderRequest(
            client_order_id=f"gps-{self.journal.execution_id}-L{planned.index + 1}-1",
            instrument=planned.instrument,
            side=planned.side,
            quantity=planned.quantity,
            limit_price=planned.limit_price,
            time_in_force=self.options.time_in_force,
        )
        return TrackedOrder(request=request, leg_index=planned.index)

    def _submit_all(self, orders: list[TrackedOrder]) -> None:
        """Journal every order's intent (one fsync for all), then send them all at once."""
        for order in orders:
            self._journal_intent(order, sync=False)
        self.journal.sync()
        run_concurrently(self._send, orders)

    def _journal_intent(self, order: TrackedOrder, *, sync: bool = True) -> None:
        request = order.request
        if self.venues[request.venue].info.supports(Capability.VALID_UNTIL):
            request.valid_until = utcnow() + timedelta(seconds=self.options.unknown_grace)
        request.before_send = self._journal_before_send
        self.journal.write("order_intent", sync=sync, role=order.role, leg=order.leg_index,
                           order=request_to_json(request))
        order.transition(OrderState.SUBMITTED, "sent")

    def _submit(self, order: TrackedOrder) -> None:
        """Journal, send once, and settle the outcome (accepted, rejected or looked up)."""
        self._journal_intent(order)
        self._send(order)

    def _send(self, order: TrackedOrder) -> None:
        """Send a journaled order once, and settle the outcome (accepted, rejected or looked up)."""
        venue = self.venues[order.request.venue]
        request = order.request
        waited, attempt, refusals = 0.0, 0, 0
        while True:
            attempt += 1
            order.sent_at = order.sent_at or utcnow()
            crash_point("before_send", order)
            try:
                snapshot = venue.place(request)
                crash_point("after_send", order)
            except (OrderRejected, AuthenticationError) as exc:  # the venue refused it outright
                self._mark(order, OrderState.REJECTED, exc.message, "order_rejected")
                return
            except NOT_PLACED as exc:
                self.journal.write("order_not_placed", client_order_id=order.client_order_id, attempt=attempt,
                                   reason=str(exc))
                # A rate limit is ridden out for up to max_rate_limit_wait seconds in total, honouring
                # retry-after; an unreachable venue gets max_place_attempts tries.
                refusals += not isinstance(exc, RateLimited)
                delay = getattr(exc, "retry_after", None) or min(0.2 * 2 ** (attempt - 1), 2.0)
                if (refusals >= self.options.max_place_attempts or attempt >= MAX_ATTEMPTS
                        or waited + delay > self.options.max_rate_limit_wait):
                    self._settle_unknown(order, not_placed=True, why=str(exc))
                    return
                self.progress(f"{venue.info.name}: {exc}; retrying in {delay:.1f}s")
                self.sleep(delay)
                waited += delay
                try:
                    found, waited = self._lookup_patiently(order, waited)
                except Exception as lookup_error:  # noqa: BLE001 - cannot confirm: never send again blindly
                    self._settle_unknown(order, not_placed=True, why=f"{exc}; lookup failed: {lookup_error}")
                    return
                if found is not None:
                    self._apply(order, found)
                    return
                continue
            except Exception as exc:  # noqa: BLE001 - the outcome is unknown, never "rejected"
                self._mark(order, OrderState.UNKNOWN, str(exc), "order_unknown")
                self._settle_unknown(order)
                return
            order.acked_at = utcnow()
            self._apply(order, snapshot)
            return

    def _journal_before_send(self, request: OrderRequest) -> None:
        self.journal.write("order_presend", client_order_id=request.client_order_id,
                           venue_order_id=request.venue_order_id, venue_data=request.venue_data)

    def _mark(self, order: TrackedOrder, state: OrderState, reason: str, event: str) -> None:
        order.reason = reason
        order.transition(state, reason)
        self.journal.write(event, client_order_id=order.client_order_id, state=state.value, reason=reason)

    def _apply(self, order: TrackedOrder, snapshot: OrderSnapshot) -> None:
        if order.apply(snapshot) or order.state is OrderState.SUBMITTED:
            self.journal.write("order_update", client_order_id=order.client_order_id, state=order.state.value,
                               snapshot=snapshot_to_json(snapshot))

    def _lookup_patiently(self, order: TrackedOrder, waited: float) -> tuple[OrderSnapshot | None, float]:
        """:meth:`_lookup`, waiting out rate limits within the rate-limit budget; returns the new wait total."""
        while True:
            try:
                return self._lookup(order), waited
            except RateLimited as exc:
                delay = exc.retry_after or 0.2
                if waited + delay > self.options.max_rate_limit_wait:
                    raise
                self.sleep(delay)
                waited += delay

    def _lookup(self, order: TrackedOrder) -> OrderSnapshot | None:
        """The venue's view of the order, ``None`` if it has none; raises if the lookup fails."""
        try:
            return self.venues[order.request.venue].order_status(order.request)
        except OrderNotFound:
            return None

    def _settle_unknown(self, order: TrackedOrder, *, not_placed: bool = False, why: str = "",
                        grace: float | None = None) -> None:
        """Look the order up by client order id until found or the grace period ends.

        Only an order the venue confirmed it never took (``not_placed``), or one sent with a
        ``valid_until`` that has passed, or on a paper venue, becomes rejected after the
        lookups find nothing; any other stays unknown for ``gps recover``. A paper venue
        answers in-process, so its first "not found" is final.
        """
        info = self.venues[order.request.venue].info
        deadline = time.monotonic() + (self.options.unknown_grace if grace is None else grace)
        delay, all_not_found = 0.1, True
        while True:
            try:
                found = self._lookup(order)
            except Exception as exc:  # noqa: BLE001
                found, all_not_found = None, False
                self.progress(f"lookup of {order.client_order_id} failed: {exc}")
            if found is not None:
                if order.state is OrderState.SUBMITTED:
                    order.acked_at = utcnow()
                self._apply(order, found)
                return
            if time.monotonic() >= deadline or (info.paper and all_not_found):
                break
            self.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, 1.0)
        expired = order.request.valid_until is not None and utcnow() >= order.request.valid_until
        if all_not_found and (not_placed or expired or info.paper):
            reason = f"not placed: {why}" if not_placed else "never reached the venue (not found by client order id)"
            if order.state is OrderState.SUBMITTED:
                order.transition(OrderState.UNKNOWN, why)
            self._mark(order, OrderState.REJECTED, reason, "order_rejected")
        elif order.state is OrderState.SUBMITTED:
            self._mark(order, OrderState.UNKNOWN, why or "not found yet", "order_unknown")

    # --- watching ----------------------------------------------------------------------

    def _monitor(self, orders: list[TrackedOrder], deadline: float, *, stop_on_failure: bool) -> None:
        interval, last_report = self.options.poll_initial, 0.0
        while True:
            pending = [o for o in orders if o.is_working or o.state is OrderState.UNKNOWN]
            if not pending:
                return
            if stop_on_failure and any(o.is_terminal and o.state is not OrderState.FILLED for o in orders):
                return
            left = deadline - time.monotonic()
            if left <= 0:
                return
            crash_point("monitoring")
            if time.monotonic() - last_report >= 1.0:
                done = sum(o.state is OrderState.FILLED for o in orders)
                self.progress(f"waiting for fills: {done}/{len(orders)} filled, {left:.0f}s left")
                last_report = time.monotonic()
            self.sleep(min(interval, left))
            interval = min(interval * 2, self.options.poll_max)
            self._refresh_all(pending)

    def _refresh_all(self, orders: list[TrackedOrder]) -> None:
        run_concurrently(self._refresh, orders)

    def _refresh(self, order: TrackedOrder) -> None:
        try:
            found = self._lookup(order)
        except Exception as exc:  # noqa: BLE001 - keep watching; the next poll may work
            self.progress(f"status of {order.client_order_id} failed: {exc}")
            return
        if found is not None:
            if order.state is OrderState.UNKNOWN and order.acked_at is None:
                order.acked_at = utcnow()
            self._apply(order, found)

    # --- cancelling --------------------------------------------------------------------

    def _cancel_all(self, orders: Iterable[TrackedOrder]) -> None:
        targets = [o for o in orders if o.is_working or o.state is OrderState.UNKNOWN]
        if not targets:
            return
        self.progress(f"cancelling {len(targets)} working order(s)")
        run_concurrently(self._cancel, targets)

    def _cancel(self, order: TrackedOrder) -> None:
        venue = self.venues[order.request.venue]
        if order.state is OrderState.UNKNOWN:
            # It had its grace period when it became unknown: one more lookup before cancelling.
            self._settle_unknown(order, grace=0.0)
            if not order.is_working:
                return
        order.transition(OrderState.PENDING_CANCEL, "cancel sent")
        self.journal.write("cancel_requested", client_order_id=order.client_order_id)
        try:
            self._apply(order, venue.cancel(order.request))
        except (OrderNotOpen, OrderNotFound):
            pass  # filled or gone in the meantime: the status below says which
        except Exception as exc:  # noqa: BLE001
            self.progress(f"cancel of {order.client_order_id} failed: {exc}; checking its status")
        for _ in range(3):
            if order.state is not OrderState.PENDING_CANCEL:
                return
            self._refresh(order)
            if order.state is OrderState.PENDING_CANCEL:
                self.sleep(0.2)
        if order.state is OrderState.PENDING_CANCEL:
            self.journal.write("cancel_unconfirmed", client_order_id=order.client_order_id)

    # --- partial executions ------------------------------------------------------------

    def _handle_partial(self, result: ExecutionResult) -> None:
        filled = [o for o in result.legs if o.filled > 0]
        if not filled:
            return
        if self.options.on_partial == "keep":
            result.kept = filled
            self.journal.write("kept", orders=[{"client_order_id": o.client_order_id, "filled": o.filled} for o in filled])
            return
        unwinds = [u for u in (self._unwind_order(o) for o in filled) if u is not None]
        result.unwinds = unwinds
        if not unwinds:
            return
        self.progress(f"unwinding {len(unwinds)} filled leg(s)")
        self._submit_all(unwinds)
        self._monitor(unwinds, time.monotonic() + self.options.unwind_timeout, stop_on_failure=False)
        self._cancel_all(unwinds)

    def _unwind_order(self, order: TrackedOrder) -> TrackedOrder | None:
        """An offsetting reduce-only IOC order for what ``order`` filled, priced to trade now."""
        request = order.request
        instrument = request.instrument
        quantity = round_to_step(order.filled, instrument.quantity_step, up=False)
        side = request.side.opposite
        try:
            book = self.venues[request.venue].order_book(instrument, 10)
            levels = book.side_to_take(side)
            if not levels or quantity < instrument.min_quantity:
                raise ValueError("no book to unwind against" if not levels else f"{quantity} is below the minimum size")
        except Exception as exc:  # noqa: BLE001
            self.journal.write("unwind_impossible", client_order_id=order.client_order_id, reason=str(exc))
            order.reason = f"unwind impossible: {exc}"
            return None
        slip = self.options.unwind_slippage
        best = levels[0].price
        price = instrument.round_price(best * (1 + slip) if side.sign > 0 else best * (1 - slip), side)
        price = max(price, instrument.tick_at(price))
        unwind = OrderRequest(
            client_order_id=f"gps-{self.journal.execution_id}-U{order.leg_index + 1}-1",
            instrument=instrument,
            side=side,
            quantity=quantity,
            limit_price=price,
            time_in_force=TimeInForce.IOC,
            reduce_only=True,
        )
        return TrackedOrder(request=unwind, leg_index=order.leg_index, role="unwind")
