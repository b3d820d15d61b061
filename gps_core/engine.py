"""The execution engine: place the planned legs, watch them, cancel, unwind, and journal it all.

Rules it keeps (see ``docs/reliability.md``):

* an order's intent is journaled (fsynced) before the order leaves;
* ``gps_place`` is called once per attempt; a new attempt happens only after the venue said
  nothing was done (rate limit, unreachable) *and* a lookup by client order id found nothing;
* an unknown outcome is settled by looking the order up, never by sending it again;
* when the strategy cannot complete, working orders are cancelled at once, and filled
  quantity is unwound with offsetting reduce-only orders or kept and reported (policy);
* a filled order is never reported as cancelled, an order whose state is unknown never as
  cancelled or rejected: it is chased (looked up, cancelled by client order id, waited out to
  its ``valid_until``) and otherwise reported as possibly working;
* every way a run can end early (Ctrl-C, SIGTERM, SIGHUP, an exception once an order left, a
  journal that cannot be written) takes the same stop path: cancel what works, settle
  unknowns, unwind or keep, report.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Callable, Iterable, Mapping, TypeVar

from .codec import request_to_json, snapshot_to_json
from .fire import Fired, fire_all, prepare_all
from .errors import (
    ConfigurationError,
    NetworkError,
    OrderNotFound,
    OrderNotOpen,
    InvalidOrder,
    OrderRejected,
    RateLimited,
    ReduceOnlyRefused,
    VenueUnavailable,
)
from .combo_exposure import per_leg_exposure
from .journal import Journal
from .model import Capability, ClientIdKind, OrderRequest, OrderSnapshot, Side, TimeInForce, utcnow
from .money import format_decimal, round_to_step
from .orders import OrderState, TrackedOrder
from .routing import Plan, PlannedLeg
from .shutdown import shielded, stop_requested

if TYPE_CHECKING:
    from .plugins import Venue

log = logging.getLogger(__name__)
T = TypeVar("T")
NOT_PLACED = (RateLimited, NetworkError, VenueUnavailable)
#: Placement attempts of one order, at most, however short the venue's retry-after.
MAX_ATTEMPTS = 50

_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _orders(count: int, kind: str = "") -> str:
    """``1 working order``, ``2 working orders``."""
    return f"{count} {kind + ' ' if kind else ''}order{'' if count == 1 else 's'}"


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
        with shielded():  # even on a stop: an order being sent must be seen before anything else happens
            wait(futures)
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


def unwind_client_order_id(execution_id: str, leg_index: int, attempt: int) -> str:
    """The client order id of unwind ``attempt`` (from 1) of leg ``leg_index`` (from 0): ``gps-<id>-U<leg>-<n>``."""
    return f"gps-{execution_id}-U{leg_index + 1}-{attempt}"


def refuse_unsendable(plan: "Plan", venues: Mapping[str, object], options: "ExecutionOptions", execution_id: str,
                      *, error: type[Exception] = ConfigurationError) -> None:
    """Refuse a plan whose orders a venue it routes to cannot take, before anything is journaled or sent.

    Two checks, per venue of the plan (``venues``: name to an object with ``.info``, a
    :class:`~gps_core.model.VenueInfo`): every client order id it would be sent fits its
    ``client_id_max_length`` (the legs', the combos' and, with ``on_partial="unwind"``, the
    unwinds' that may follow, counted with the plan's last leg and ``options.unwind_attempts``;
    an id is never shortened, or the order could no longer be found by it); and an IOC
    ``options.time_in_force`` needs the venue's ``Capability.IOC``. Every execution id has the
    same length, so a fresh one (:func:`~gps_core.journal.new_execution_id`) checks a plan
    before its execution exists. Raises ``error`` (one line, "nothing was sent").
    """
    last_leg = max(p.index for p in plan.legs)
    sent: dict[str, list[str]] = {}
    for planned in plan.legged:
        sent.setdefault(planned.venue, []).append(f"gps-{execution_id}-L{planned.index + 1}-1")
    for combo in plan.combos:
        sent.setdefault(combo.venue, []).append(f"gps-{execution_id}-C{combo.leg_indices[0] + 1}-1")
    for name, ids in sent.items():
        info = venues[name].info
        if options.time_in_force == TimeInForce.IOC and not info.supports(Capability.IOC):
            raise error(f"{info.name} takes no IOC orders (capability ioc); use --tif gtc: nothing was sent")
        if options.on_partial == "unwind":
            ids.append(unwind_client_order_id(execution_id, last_leg, options.unwind_attempts))
        longest = max(ids, key=len)
        if len(longest) > info.client_id_max_length:
            raise error(
                f"{info.name} takes client order ids of at most {info.client_id_max_length} characters; this "
                f"execution's are up to {len(longest)} ({longest}): nothing was sent")


class IntentNotJournaled(OSError):
    """An order's intent could not be journaled, so that order was not sent (``str``: which and why)."""

    def __str__(self) -> str:
        return str(self.strerror)


@dataclass
class ExecutionOptions:
    """How an execution behaves. Times are seconds; slippages are fractions (``0.05`` = 5 %).

    ``unwind_attempts`` IOC reduce-only orders at most are sent per filled leg to unwind it;
    attempt ``n`` is priced ``unwind_slippage + (n - 1) * unwind_slippage_step`` through the
    best price, never beyond ``unwind_slippage_cap``. ``settle_timeout`` bounds how long an
    order whose state is unknown (or whose cancel is unconfirmed) is chased on the way out.
    """

    timeout: float = 30.0
    on_partial: str = "unwind"  # "unwind" or "keep"
    sequential: bool = False
    time_in_force: TimeInForce = TimeInForce.GTC
    poll_initial: float = 0.05
    poll_max: float = 1.0
    unknown_grace: float = 5.0
    unwind_slippage: Decimal = Decimal("0.05")
    unwind_slippage_step: Decimal = Decimal("0.05")
    unwind_slippage_cap: Decimal = Decimal("0.25")
    unwind_attempts: int = 4
    unwind_timeout: float = 10.0
    max_place_attempts: int = 3
    max_rate_limit_wait: float = 10.0
    settle_timeout: float = 15.0
    #: legs are sent reduce-only on venues that support it (``gps close``)
    reduce_only: bool = False


#: After an order's ``valid_until``, how long before "not found" is final (the venue's clock may lag).
VALID_UNTIL_MARGIN = 1.0


@dataclass
class ExecutionResult:
    """What happened: every order gps sent, and whether the strategy completed.

    ``stop_reason``: why the run was cut short (``SIGTERM``, ``SIGINT``, ``error: OSError: ...``),
    ``None`` when it ran its course. ``journal_failures``: events that could not be journaled
    (the orders were still sent or cancelled). ``residuals``: what is still held after the
    unwind, one ``{venue, instrument, venue_symbol, side, quantity, unknown_orders, unknown_quantity}``
    per leg (``side`` is the held side; ``unknown_quantity``: how much more a leg order of unknown
    state may have filled).
    """

    execution_id: str
    plan: Plan
    legs: list[TrackedOrder]
    unwinds: list[TrackedOrder] = field(default_factory=list)
    kept: list[TrackedOrder] = field(default_factory=list)
    interrupted: bool = False
    started_at: datetime = field(default_factory=utcnow)
    finished_at: datetime | None = None
    stop_reason: str | None = None
    journal_failures: list[str] = field(default_factory=list)
    residuals: list[dict] = field(default_factory=list)

    @property
    def all_filled(self) -> bool:
        """Every leg filled and none of it unwound: the whole strategy is held.

        A leg of unknown state can turn out filled after another leg was already unwound;
        every leg then reads ``filled`` while the position is not the strategy, so an unwind
        that filled makes this false (and :meth:`Engine._finish` unwinds the late leg too).
        """
        return all(order.state is OrderState.FILLED for order in self.legs) and \
            not any(u.filled > 0 for u in self.unwinds)

    @property
    def unsettled(self) -> list[TrackedOrder]:
        return [o for o in self.legs + self.unwinds if not o.is_terminal]

    @property
    def complete(self) -> bool:
        """Every leg filled (none unwound), nothing unsettled, nothing lost from the journal: exit 0.

        A stop (signal, Ctrl-C) that arrived once every leg had filled changes nothing: the
        strategy is held as planned, so the execution is still complete.
        """
        return self.all_filled and not self.unsettled and not self.journal_failures

    @property
    def legging_window(self) -> float | None:
        """Seconds from the first order sent to the last acknowledged; zero when one combo order trades every leg."""
        if len(self.legs) == 1 and self.legs[0].role == "combo" and self.legs[0].sent_at:
            return 0.0
        sent = [o.sent_at for o in self.legs if o.sent_at]
        acked = [o.acked_at for o in self.legs if o.acked_at]
        if not sent or not acked:
            return None
        return (max(acked) - min(sent)).total_seconds()


class Engine:
    """Runs one plan (:meth:`execute`) or finishes an interrupted one (:meth:`resume`).

    Venues are looked up by name in ``venues``: each a :class:`gps_core.plugins.Venue`, the one
    facade over a venue plugin's hooks (a dry run's venues are simulations behind the same
    facade, see :mod:`gps_core.simulated`), so an order goes engine -> ``Venue.place`` ->
    the plugin's ``gps_place``. ``progress`` gets one-line messages; it is best-effort (an
    exception from it, such as a closed pipe, is swallowed).
    """

    def __init__(
        self,
        venues: Mapping[str, "Venue"],
        journal: Journal,
        options: ExecutionOptions | None = None,
        progress: Callable[[str], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.venues = venues
        self.journal = journal
        self.options = options or ExecutionOptions()
        self._progress = progress or (lambda message: None)
        self.sleep = sleep
        self.journal_failures: list[str] = []
        # leg -> (what the venue held on the leg's side, why, the refused unwind's client order id):
        # legs whose reduce-only unwind the venue refused
        self._unwind_caps: dict[int, tuple[Decimal, str, str]] = {}
        # leg -> the venue's position on the leg's own instrument, asked after a reduce-only refusal
        # (keyed by the planned leg's index: a combo's legs each have their own)
        self._venue_positions: dict[int, Decimal] = {}
        # leg -> why the venue refused an unwind gps built (its price or size), not a matter of position
        self._unwind_invalid: dict[int, str] = {}
        #: leg -> contracts of its fill that closes of this execution (``gps close``) already sold or
        #: bought back; never unwound again (``gps recover`` sets it from the close journals)
        self.already_closed: dict[int, Decimal] = {}
        self._stopping = False  # on the way out: waits are never cut short any more
        self._said: set[tuple[str, tuple[str, ...]]] = set()  # progress lines already shown
        self._fired: dict[str, Fired] = {}  # client order id -> prepared and written, reply not yet read

    def _progress_once(self, message: str, orders: list[TrackedOrder]) -> None:
        """:meth:`progress`, unless the same words were said about the same orders already."""
        said = (message, tuple(sorted(o.client_order_id for o in orders)))
        if said in self._said:
            return
        self._said.add(said)
        self.progress(message)

    def progress(self, message: str) -> None:
        """Best-effort progress: output errors (closed pipe, unwritable terminal) never stop an execution."""
        try:
            self._progress(message)
        except Exception:  # noqa: BLE001
            log.debug("progress output failed", exc_info=True)

    # --- the whole run -----------------------------------------------------------------

    def execute(self, plan: Plan) -> ExecutionResult:
        """Place every leg, watch until all fill or ``timeout``, then finish (see :meth:`resume`).

        Ctrl-C, a :class:`~gps_core.shutdown.StopRequested` signal, or any exception once an
        order has left lead to the same orderly stop; only an exception before anything was
        sent propagates.
        """
        orders = [self._new_leg_order(p) for p in plan.legged] + [self._new_combo_order(c) for c in plan.combos]
        self._refuse_ids_too_long(plan)
        result = ExecutionResult(self.journal.execution_id, plan, sorted(orders, key=lambda o: o.leg_index))
        result.journal_failures = self.journal_failures
        try:
            if self.options.sequential:
                self._run_sequential(result)
            else:
                self._run_concurrent(result)
        except BaseException as exc:  # noqa: BLE001 - every way out goes through the same stop
            if not self._absorb(result, exc):
                raise
        self._finish(result)
        return result

    def resume(self, result: ExecutionResult, timeout: float) -> ExecutionResult:
        """Drive an execution whose orders were already sent to its end, as :meth:`execute`'s tail does.

        ``result.legs`` (and ``result.unwinds``) may be in any state: orders still
        ``initialized`` were never sent and become ``denied``; ``submitted``/``unknown`` ones
        are settled by client order id (waiting out their ``valid_until``, cancelling by
        client order id where the venue allows); working ones are watched until ``timeout``
        seconds from now (``0``: cancelled at once), then cancelled; if the strategy did not
        complete, ``options.on_partial`` is applied to the filled legs (unwind or keep).
        Journals to ``self.journal``; returns ``result``, updated, with ``finished_at`` set.
        """
        result.journal_failures = self.journal_failures
        try:
            self._settle_all(result.legs + result.unwinds)
            if timeout > 0 and not result.all_filled:
                self._monitor(result.legs, time.monotonic() + timeout, stop_on_failure=True)
        except BaseException as exc:  # noqa: BLE001
            if not self._absorb(result, exc):
                raise
        self._finish(result)
        return result

    def _refuse_ids_too_long(self, plan: Plan) -> None:
        """Refuse, before anything is sent, ids this execution's venues cannot take whole (see :func:`refuse_unsendable`)."""
        refuse_unsendable(plan, self.venues, self.options, self.journal.execution_id, error=ConfigurationError)

    def _run_concurrent(self, result: ExecutionResult) -> None:
        self._submit_all(result.legs)
        deadline = time.monotonic() + self.options.timeout
        self._monitor(result.legs, deadline, stop_on_failure=True)

    def _run_sequential(self, result: ExecutionResult) -> None:
        deadline = time.monotonic() + self.options.timeout
        for order in result.legs:
            self._submit(order)
            self._monitor([order], deadline, stop_on_failure=True)
            if order.state is OrderState.FILLED:
                crash_point("between_legs", order)
            else:
                break

    # --- the way out (shared by execute, resume and every stop) ------------------------

    def _absorb(self, result: ExecutionResult, exc: BaseException) -> bool:
        """Take a stop (signal, Ctrl-C, or an exception once an order left) onto the stop path."""
        if isinstance(exc, KeyboardInterrupt):
            reason = getattr(exc, "signal_name", None) or "Ctrl-C"
        elif isinstance(exc, Exception):
            if all(o.state is OrderState.INITIALIZED for o in result.legs) and not result.unwinds:
                return False  # nothing left: the caller's error handling is enough
            reason = f"error: {type(exc).__name__}: {exc}"
            log.debug("execution stopped by an exception", exc_info=True)
        else:
            return False
        result.interrupted = True
        result.stop_reason = result.stop_reason or reason
        self._stopping = True
        self._write("interrupted", note=f"{reason}: cancelling working orders")
        self.progress(f"stopping ({reason}): cancelling working orders (a second signal quits at once)")
        return True

    def _finish(self, result: ExecutionResult) -> None:
        """Settle unknowns, cancel what works, unwind or keep; every step runs even if one fails."""
        self._stopping = True
        for order in result.legs:
            if order.state is OrderState.INITIALIZED:
                reason = "not sent: the execution stopped before it" if result.interrupted else \
                    "not sent: an earlier leg did not fill"
                order.transition(OrderState.DENIED, reason)
                order.reason = reason
                self._write("order_denied", client_order_id=order.client_order_id, reason=reason)
        steps = (
            lambda: self._settle_all(result.legs + result.unwinds),
            lambda: self._cancel_all(result.legs),
            lambda: self._unwind_or_keep(result),
            lambda: self._cancel_all(result.legs + result.unwinds),  # safety net after a cut step
            # a leg of unknown state that the safety net found filled after the unwind is unwound too
            lambda: self._unwind_late_fills(result),
            lambda: self._refresh_estimated_fees(result),
        )
        for step in steps:
            for _ in range(2):  # a step cut short by a stop or an error runs once more: it is idempotent
                try:
                    step()
                    break
                except BaseException as exc:  # noqa: BLE001
                    if not self._absorb(result, exc):
                        raise
        result.residuals = self._residuals(result)
        result.finished_at = utcnow()

    def _refresh_estimated_fees(self, result: ExecutionResult) -> None:
        """Ask once more about filled orders whose fee is only an estimate: the venue may list it now."""
        estimated = [o for o in result.legs + result.unwinds if o.fee_estimated and o.filled > 0]
        if estimated:
            self._refresh_all(estimated)

    # --- journal -----------------------------------------------------------------------

    def _write(self, event: str, *, sync: bool = True, **data) -> None:
        """Journal an event; once orders are out, a journal that cannot be written never stops the run.

        The failure is remembered in :attr:`journal_failures` (and so in the report).
        """
        try:
            with shielded():
                self.journal.write(event, sync=sync, **data)
        except (OSError, ValueError) as exc:  # ValueError: the journal file was closed under us
            what = data.get("client_order_id")
            self.journal_failures.append(f"{event}{f' {what}' if what else ''}: {exc}")
            log.debug("journal write failed", exc_info=True)

    # --- orders ------------------------------------------------------------------------

    def _new_leg_order(self, planned: PlannedLeg) -> TrackedOrder:
        request = OrderRequest(
            client_order_id=f"gps-{self.journal.execution_id}-L{planned.index + 1}-1",
            instrument=planned.instrument,
            side=planned.side,
            quantity=planned.quantity,
            limit_price=planned.limit_price,
            time_in_force=self.options.time_in_force,
            reduce_only=self.options.reduce_only and self.venues[planned.venue].info.supports(Capability.REDUCE_ONLY),
        )
        return TrackedOrder(request=request, leg_index=planned.index)

    def _new_combo_order(self, combo) -> TrackedOrder:
        """One order for a :class:`~gps_core.routing.PlannedCombo` (``C<first leg>``; role ``combo``)."""
        first = combo.leg_indices[0]
        request = OrderRequest(
            client_order_id=f"gps-{self.journal.execution_id}-C{first + 1}-1",
            instrument=combo.instrument,
            side=combo.side,
            quantity=combo.quantity,
            limit_price=combo.limit_price,
            time_in_force=self.options.time_in_force,
        )
        return TrackedOrder(request=request, leg_index=first, role="combo")

    def _submit_all(self, orders: list[TrackedOrder], *, required: bool = True) -> None:
        """Journal every order's intent (one fsync for all), then send them all at once.

        ``required``: a journal failure stops the send (legs). Unwinds pass ``False``: an
        unwind is sent even when the journal cannot record it (the failure is reported).
        """
        if required:  # nothing is sent, and no order counts as sent, until every intent is on disk
            for order in orders:
                self._journal_intent(order, sync=False, mark=False)
            try:
                self.journal.sync()
            except OSError as exc:
                raise IntentNotJournaled(exc.errno, f"sync before sending: {exc.strerror or exc}") from None
            with shielded():
                for order in orders:
                    order.transition(OrderState.SUBMITTED, "sent")
        else:
            for order in orders:
                self._journal_intent(order, sync=False, required=False)
            try:
                self.journal.sync()
            except OSError as exc:
                self.journal_failures.append(f"sync before sending {len(orders)} order(s): {exc}")
        if required:
            try:
                self._fire_prepared(orders)
            except BaseException:  # a stop held during the writes: read what left before stopping
                run_concurrently(self._send, [o for o in orders if o.client_order_id in self._fired])
                raise
        run_concurrently(self._send, orders)

    def _fire_prepared(self, orders: list[TrackedOrder]) -> None:
        """Prepare the orders of venues that can (``gps_prepare_place``) and write them back-to-back.

        Their replies are read by :meth:`_send` (see :mod:`gps_core.fire`); the other orders
        go through ``gps_place`` there as before.
        """
        items = [(o.client_order_id, o.request, prepare) for o in orders
                 if (prepare := getattr(self.venues[o.request.venue], "prepare_place", None)) is not None]
        if not items:
            return
        by_id = {o.client_order_id: o for o in orders}

        def before_write(client_order_id: str) -> None:
            order = by_id[client_order_id]
            order.sent_at = utcnow()
            crash_point("before_send", order)

        with shielded():  # a stop waits until every prepared order is written (or abandoned)
            self._fired.update(fire_all(prepare_all(items), before_write))

    def _journal_intent(self, order: TrackedOrder, *, sync: bool = True, required: bool = True,
                        mark: bool = True) -> None:
        """Journal ``order_intent``; ``required``: raise :class:`IntentNotJournaled` (nothing sent) if it fails."""
        self._fresh_valid_until(order)
        order.request = request = order.request.with_updates(
            before_send=lambda recorded: self._journal_before_send(order, recorded))
        data = dict(role=order.role, leg=order.leg_index, order=request_to_json(request))
        if required:
            try:
                with shielded():
                    self.journal.write("order_intent", sync=sync, **data)
            except OSError as exc:
                raise IntentNotJournaled(exc.errno, f"order_intent {order.client_order_id}: "
                                                    f"{exc.strerror or exc}") from None
        else:
            self._write("order_intent", sync=sync, **data)
        if mark:
            order.transition(OrderState.SUBMITTED, "sent")

    def _fresh_valid_until(self, order: TrackedOrder) -> None:
        """A new ``valid_until`` for the order's next attempt, on venues that take one."""
        if self.venues[order.request.venue].info.supports(Capability.VALID_UNTIL):
            order.request = order.request.with_updates(valid_until=utcnow() + timedelta(seconds=self.options.unknown_grace))

    def _submit(self, order: TrackedOrder) -> None:
        """Journal, send once, and settle the outcome (accepted, rejected or looked up)."""
        self._journal_intent(order)
        self._send(order)

    def _send(self, order: TrackedOrder) -> None:
        """Send a journaled order once, and settle the outcome (accepted, rejected or looked up)."""
        venue = self.venues[order.request.venue]
        fired: Fired | None = self._fired.pop(order.client_order_id, None)  # written by _fire_prepared
        waited, attempt, refusals = 0.0, 0, 0
        while True:
            attempt += 1
            request = order.request
            order.sent_at = order.sent_at or utcnow()
            if fired is None:
                crash_point("before_send", order)
            try:
                with shielded():  # a stop signal waits for the reply: the order is then known
                    if fired is not None:
                        first, fired = fired, None
                        snapshot = first.outcome(venue.info.name)
                    else:
                        snapshot = venue.place(request)
                    crash_point("after_send", order)
                    order.acked_at = utcnow()
                    self._apply(order, snapshot)
                return
            except OrderRejected as exc:  # the venue refused it outright
                # (An AuthenticationError is not a verdict on the order: a 401/403 may come from
                # a proxy after the venue took it, so it is looked up below like any unknown.)
                reason = exc.message
                if order.role == "unwind" and request.reduce_only and self._reduce_only_refused(order, exc):
                    reason = f"reduce-only refused by the venue ({exc.message}); {self._unwind_caps[order.leg_index][1]}"
                elif order.role == "unwind" and isinstance(exc, InvalidOrder):
                    # The venue judged the order gps built (its price or size against the instrument's
                    # rules), not the position: say so, never as if the venue held something else.
                    reason = (f"gps's unwind was invalid at the venue ({exc.message}): its price or size broke "
                              f"{request.instrument.symbol}'s rules as gps knew them")
                    self._unwind_invalid[order.leg_index] = reason
                self._mark(order, OrderState.REJECTED, reason, "order_rejected")
                return
            except NOT_PLACED as exc:
                self._write("order_not_placed", client_order_id=order.client_order_id, attempt=attempt,
                            reason=str(exc))
                # A rate limit is ridden out for up to max_rate_limit_wait seconds in total, honouring
                # retry-after; an unreachable venue gets max_place_attempts tries.
                refusals += not isinstance(exc, RateLimited)
                delay = getattr(exc, "retry_after", None) or min(0.2 * 2 ** (attempt - 1), 2.0)
                if (refusals >= self.options.max_place_attempts or attempt >= MAX_ATTEMPTS
                        or waited + delay > self.options.max_rate_limit_wait):
                    self._settle_unknown(order, not_placed=True, why=str(exc))
                    return
                said = str(exc)  # the plugin's message may already name the venue ("deribit: ...")
                said = said if said.startswith(f"{venue.info.name}:") else f"{venue.info.name}: {said}"
                self.progress(f"{said}; retrying in {delay:.1f}s")
                if self._pause(delay):
                    self._settle_unknown(order, not_placed=True, why=f"{exc}; stopped before retrying")
                    return
                waited += delay
                try:
                    found, waited = self._lookup_patiently(order, waited)
                except Exception as lookup_error:  # noqa: BLE001 - cannot confirm: never send again blindly
                    self._settle_unknown(order, not_placed=True, why=f"{exc}; lookup failed: {lookup_error}")
                    return
                if found is not None:
                    self._apply(order, found)
                    return
                # Confirmed not placed: the retry is a new attempt, with its own valid_until.
                self._fresh_valid_until(order)
                valid_until = order.request.valid_until
                self._write("order_retry", client_order_id=order.client_order_id, attempt=attempt + 1,
                            valid_until=valid_until.isoformat() if valid_until else None)
                continue
            except Exception as exc:  # noqa: BLE001 - the outcome is unknown, never "rejected"
                self._mark(order, OrderState.UNKNOWN, str(exc), "order_unknown")
                self._settle_unknown(order)
                return

    def _reduce_only_refused(self, unwind: TrackedOrder, refusal: OrderRejected) -> bool:
        """After a refused reduce-only unwind: cap what may still be sent for its leg from the venue's position.

        Asks ``gps_positions`` (venues that have it) for what is held on the instrument now, and
        records it for the report. An unwind is never re-sent without reduce-only: an order that
        does not only reduce what the venue says is held could open a new position (the leg's
        fill may have been closed outside gps meanwhile). So the leg's later unwinds are capped
        at what is held on the leg's side; when that is nothing, or the venue cannot say, nothing
        more is sent for the leg and the report says what is held.

        Returns whether the refusal was about reduce-only: :class:`ReduceOnlyRefused`, or a
        generic refusal (Deribit's 11029) where the position shows too little to reduce.
        """
        request = unwind.request
        held, problem = self._venue_position(request.venue, request.instrument)
        on_leg_side = max(held * -request.side.sign, Decimal(0)) if held is not None else Decimal(0)
        if not isinstance(refusal, ReduceOnlyRefused) and (held is None or on_leg_side >= request.quantity):
            return False  # not a reduce-only matter (or cannot tell): unwinding goes on, reduce-only
        if held is not None:
            self._venue_positions[unwind.leg_index] = held
        if held is None:
            why = f"{problem}: nothing more is sent for this leg"
        elif on_leg_side == 0:
            why = (f"the venue reports a position of {format_decimal(held)} {request.instrument.symbol}, nothing to "
                   "reduce: nothing more is sent for this leg (an order without reduce-only could open a new position)")
        else:
            why = (f"the venue reports a position of {format_decimal(held)} {request.instrument.symbol}: at most "
                   f"{format_decimal(on_leg_side)} more is unwound, reduce-only")
        self._unwind_caps[unwind.leg_index] = (on_leg_side, why, unwind.client_order_id)
        return True

    def _venue_position(self, venue_name: str, instrument) -> tuple[Decimal | None, str]:
        """The signed quantity of ``instrument`` the venue reports held (``gps_positions``), and ``""``;
        ``None`` and why not when the venue cannot say."""
        venue = self.venues[venue_name]
        if not getattr(venue, "has_positions", False):
            return None, "it cannot report positions"
        try:
            positions = venue.positions(instrument.key.underlying)
        except Exception as exc:  # noqa: BLE001 - no answer: the caller sends nothing more
            self.progress(f"positions of {venue_name} unavailable: {exc}")
            return None, f"its positions could not be read ({exc})"
        return sum((p.quantity for p in positions if p.symbol == instrument.symbol), Decimal(0)), ""

    def _journal_before_send(self, order: TrackedOrder, recorded: OrderRequest) -> None:
        """Journal (fsynced) what the plugin recorded before sending, and track the order as recorded."""
        self.journal.write("order_presend", client_order_id=recorded.client_order_id,
                           venue_order_id=recorded.venue_order_id, venue_data=recorded.venue_data)
        order.request = recorded

    def _mark(self, order: TrackedOrder, state: OrderState, reason: str, event: str) -> None:
        with shielded():
            order.reason = reason
            order.transition(state, reason)
        self._write(event, client_order_id=order.client_order_id, state=state.value, reason=reason)

    def _apply(self, order: TrackedOrder, snapshot: OrderSnapshot) -> None:
        with shielded():
            changed = order.apply(snapshot) or order.state is OrderState.SUBMITTED
        if changed:
            self._write("order_update", client_order_id=order.client_order_id, state=order.state.value,
                        snapshot=snapshot_to_json(snapshot))

    def _pause(self, seconds: float) -> bool:
        """Sleep; return ``True`` early if a stop was requested (off the way out, on a worker thread).

        The main thread gets the stop as an exception; a worker stops retrying and hands the
        order to the stop path.
        """
        if seconds <= 0:
            return False
        if self.sleep is not time.sleep:
            self.sleep(seconds)
            return False
        end = time.monotonic() + seconds
        on_main = threading.current_thread() is threading.main_thread()
        while True:
            if not on_main and not self._stopping and stop_requested():
                return True
            left = end - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(left, 0.1))

    def _lookup_patiently(self, order: TrackedOrder, waited: float) -> tuple[OrderSnapshot | None, float]:
        """:meth:`_lookup`, waiting out rate limits within the rate-limit budget; returns the new wait total."""
        while True:
            try:
                return self._lookup(order), waited
            except RateLimited as exc:
                delay = exc.retry_after or 0.2
                if waited + delay > self.options.max_rate_limit_wait:
                    raise
                self._pause(delay)
                waited += delay

    def _lookup(self, order: TrackedOrder) -> OrderSnapshot | None:
        """The venue's view of the order, ``None`` if it has none; raises if the lookup fails."""
        try:
            return self.venues[order.request.venue].order_status(order.request)
        except OrderNotFound:
            return None

    def _settle_unknown(self, order: TrackedOrder, *, not_placed: bool = False, why: str = "",
                        grace: float | None = None, cancel: bool = False) -> None:
        """Look the order up by client order id until found, or until it provably never arrived.

        An order the venue confirmed it never took (``not_placed``), one sent with a
        ``valid_until`` that has passed (by :data:`VALID_UNTIL_MARGIN`), or one on a paper
        venue becomes rejected once a lookup finds nothing; any other stays ``unknown``
        (possibly working) for ``gps recover``. Lookups go on for ``grace`` seconds (default
        ``unknown_grace``), and always until just past ``valid_until`` when it is within
        ``settle_timeout``. With ``cancel`` (on the way out), a venue that can cancel by client
        order id is asked to, at each round, so an order that lands late is cancelled at once.
        """
        venue = self.venues[order.request.venue]
        info = venue.info
        request = order.request
        window = self.options.unknown_grace if grace is None else grace
        if request.valid_until is not None and not not_placed:
            to_expiry = (request.valid_until - utcnow()).total_seconds() + VALID_UNTIL_MARGIN
            window = max(window, min(to_expiry, self.options.settle_timeout))
        elif cancel and not not_placed and not info.paper:
            # No valid_until: nothing bounds when a request in flight may still land. On the way
            # out it gets at least the grace period before it is reported as possibly working.
            window = max(window, self.options.unknown_grace)
        deadline = time.monotonic() + window
        # On the way out, cancel it at each round if the venue can without a reply: by client
        # order id, or by a venue order id computed before sending (Aevo).
        cancel_by_id = cancel and (info.supports(Capability.CANCEL_BY_CLIENT_ID) or (
            info.client_id_kind is ClientIdKind.DERIVED and request.venue_order_id is not None))
        delay, conclusive = 0.1, False
        while True:
            if cancel_by_id:
                try:
                    self._apply(order, venue.cancel(request))
                except (OrderNotFound, OrderNotOpen):
                    pass
                except Exception as exc:  # noqa: BLE001 - the lookup below decides
                    self.progress(f"cancel of {order.client_order_id} by client order id failed: {exc}")
                if order.is_terminal:
                    return
            try:
                found = self._lookup(order)
            except Exception as exc:  # noqa: BLE001
                found, conclusive = None, False
                self.progress(f"lookup of {order.client_order_id} failed: {exc}")
            else:
                expired = request.valid_until is not None and \
                    utcnow() >= request.valid_until + timedelta(seconds=VALID_UNTIL_MARGIN)
                conclusive = found is None and (not_placed or expired or info.paper)
            if found is not None:
                if order.state is OrderState.SUBMITTED:
                    order.acked_at = utcnow()
                self._apply(order, found)
                return
            if conclusive or time.monotonic() >= deadline:
                break
            if self._pause(min(delay, max(0.0, deadline - time.monotonic()))):
                break
            delay = min(delay * 2, 1.0)
        if conclusive:
            reason = f"not placed: {why}" if not_placed else "never reached the venue (not found by client order id)"
            if order.state is OrderState.SUBMITTED:
                order.transition(OrderState.UNKNOWN, why)
            self._mark(order, OrderState.REJECTED, reason, "order_rejected")
        elif order.state is OrderState.SUBMITTED:
            self._mark(order, OrderState.UNKNOWN, why or "not found yet", "order_unknown")
        elif self._stopping and not (order.reason or "").startswith("state unknown"):
            cause = why or order.reason
            order.reason = f"state unknown ({cause}): the order may be working or filled at the venue" if cause \
                else "state unknown: the order may be working or filled at the venue"

    def _settle_all(self, orders: list[TrackedOrder]) -> None:
        """Settle every order whose outcome is not known (sent, no answer), at once."""
        targets = [o for o in orders if o.state in (OrderState.SUBMITTED, OrderState.UNKNOWN)]
        if not targets:
            return
        self._progress_once(f"settling {_orders(len(targets))} of unknown state", targets)
        for order in targets:
            if order.state is OrderState.SUBMITTED:
                self._mark(order, OrderState.UNKNOWN, "outcome unknown: the send was cut short", "order_unknown")
        run_concurrently(lambda o: self._settle_unknown(o, cancel=True, grace=0.0), targets)

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

    def _refresh(self, order: TrackedOrder) -> bool:
        """Look the order up and take in the answer; return whether the lookup worked."""
        try:
            found = self._lookup(order)
        except Exception as exc:  # noqa: BLE001 - keep watching; the next poll may work
            self.progress(f"status of {order.client_order_id} failed: {exc}")
            return False
        if found is not None:
            if order.state is OrderState.UNKNOWN and order.acked_at is None:
                order.acked_at = utcnow()
            self._apply(order, found)
        return True

    # --- cancelling --------------------------------------------------------------------

    def _cancel_all(self, orders: Iterable[TrackedOrder]) -> None:
        targets = [o for o in orders if o.is_working or o.state is OrderState.UNKNOWN]
        if not targets:
            return
        working = [o for o in targets if o.is_working]
        unknown = [o for o in targets if not o.is_working]
        if working:
            self._progress_once(f"cancelling {_orders(len(working), 'working')}", working)
        if unknown:
            self._progress_once(f"settling {_orders(len(unknown))} of unknown state", unknown)
        run_concurrently(self._cancel, targets)

    def _cancel(self, order: TrackedOrder) -> None:
        """Cancel, then confirm with lookups (bounded by ``settle_timeout``), re-sending the cancel if needed.

        A cancel that is never confirmed leaves the order ``unknown`` (possibly working or
        filled), never silently pending.
        """
        venue = self.venues[order.request.venue]
        if order.state is OrderState.UNKNOWN:
            self._settle_unknown(order, grace=0.0, cancel=True)
            if not order.is_working:
                return
        deadline = time.monotonic() + self.options.settle_timeout
        delay, send = 0.2, True
        while True:
            if send:
                with shielded():
                    if order.state is not OrderState.PENDING_CANCEL:
                        order.transition(OrderState.PENDING_CANCEL, "cancel sent")
                self._write("cancel_requested", client_order_id=order.client_order_id)
                try:
                    self._apply(order, venue.cancel(order.request))
                except (OrderNotOpen, OrderNotFound):
                    pass  # filled or gone in the meantime: the status below says which
                except Exception as exc:  # noqa: BLE001
                    self.progress(f"cancel of {order.client_order_id} failed: {exc}; checking its status")
            if not order.is_working:
                return
            looked_up = self._refresh(order)
            if not order.is_working:
                return
            if time.monotonic() >= deadline:
                break
            self._pause(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, 2.0)
            send = looked_up  # the venue still says open: the cancel did not land, send it again
        with shielded():
            order.reason = "cancel not confirmed: the venue did not answer; the order may be working or filled"
            order.transition(OrderState.UNKNOWN, order.reason)
        self._write("cancel_unconfirmed", client_order_id=order.client_order_id, state=OrderState.UNKNOWN.value,
                    reason=order.reason)

    # --- partial executions ------------------------------------------------------------

    def _exposure(self, result: ExecutionResult, leg: TrackedOrder) -> Decimal:
        """What ``leg`` filled and its unwinds on the same instrument have not yet offset, in contracts.

        A combo unwound leg by leg (:meth:`_combo_leg_holdings`) is counted per leg, not here.
        """
        unwound = sum((u.filled for u in result.unwinds if u.leg_index == leg.leg_index
                       and u.request.instrument.symbol == leg.request.instrument.symbol), Decimal(0))
        return leg.filled - unwound

    def _combo_leg_holdings(self, result: ExecutionResult, combo: TrackedOrder) -> list[tuple[PlannedLeg, Side, Decimal, list[TrackedOrder]]]:
        """Per leg of a filled ``combo`` order: ``(planned leg, held side, held quantity, its own unwinds)``.

        Held = ``|ratio| x`` what the combo holds in combo units (its fill less its unwinds on the
        combo book) less what that leg's own unwinds (sent on the leg's book) filled.
        """
        by_symbol = {p.instrument.symbol: p for p in result.plan.legs}
        combo_units = self._exposure(result, combo)
        rows = []
        for leg in combo.request.instrument.combo_legs:
            planned = by_symbol[leg.symbol]
            mine = [u for u in result.unwinds if u.leg_index == planned.index and u.request.instrument.symbol == leg.symbol]
            side = Side.BUY if leg.ratio * combo.request.side.sign > 0 else Side.SELL
            held = abs(leg.ratio) * combo_units - sum((u.filled for u in mine), Decimal(0))
            rows.append((planned, side, held, mine))
        return rows

    def _unwind_or_keep(self, result: ExecutionResult) -> None:
        """Apply ``on_partial`` to the filled legs of a strategy that did not complete.

        ``unwind``: up to ``unwind_attempts`` rounds of IOC reduce-only orders for what is
        still held, each priced wider (up to ``unwind_slippage_cap``), until flat. A leg with
        an unwind whose state is unknown is not unwound further (it may have filled).
        """
        if result.all_filled:
            return
        filled = [o for o in result.legs if o.filled > 0]
        if not filled:
            return
        if self.options.on_partial == "keep":
            result.kept = filled
            self._write("kept", orders=[{"client_order_id": o.client_order_id, "filled": o.filled} for o in filled])
            return
        for _ in range(self.options.unwind_attempts):
            todo = []
            for leg in filled:
                if leg.role == "combo":
                    # Never on the combo book: a combo holds no position of its own, and Deribit documents
                    # reduce-only for an instrument's position, not for combo books. Each leg is unwound
                    # reduce-only on its own book, by the legged unwind's rules.
                    todo.extend(self._combo_leg_unwinds(result, leg))
                    continue
                mine = [u for u in result.unwinds if u.leg_index == leg.leg_index
                        and u.request.instrument.symbol == leg.request.instrument.symbol]
                if len(mine) >= self.options.unwind_attempts or any(not u.is_terminal for u in mine):
                    continue
                exposure = self._exposure(result, leg) - self.already_closed.get(leg.leg_index, Decimal(0))
                if leg.leg_index in self._unwind_caps:
                    # The venue refused reduce-only: never more than it held then, less what the
                    # unwinds sent since have filled.
                    held, _, refused = self._unwind_caps[leg.leg_index]
                    ids = [u.client_order_id for u in mine]
                    since = mine[ids.index(refused) + 1:] if refused in ids else []
                    exposure = min(exposure, held - sum((u.filled for u in since), Decimal(0)))
                quantity = round_to_step(exposure, leg.request.instrument.quantity_step, up=False)
                if quantity > 0:
                    todo.append((leg, quantity, len(mine) + 1))
            orders = [u for u in (self._unwind_order(leg, quantity, attempt) for leg, quantity, attempt in todo)
                      if u is not None]
            if not orders:
                return
            result.unwinds.extend(orders)
            self.progress(f"unwinding {len(orders)} filled leg(s)" if orders[0].client_order_id.endswith("-1")
                          else f"unwinding the rest of {len(orders)} leg(s), priced wider")
            self._submit_all(orders, required=False)
            self._monitor(orders, time.monotonic() + self.options.unwind_timeout, stop_on_failure=False)
            self._cancel_all(orders)

    def _unwind_late_fills(self, result: ExecutionResult) -> None:
        """Under ``unwind``: unwind what a leg filled after the unwind had run (it would be naked)."""
        if self.options.on_partial != "unwind" or not result.unwinds or result.all_filled:
            return
        if any(self._exposure(result, leg) > 0 and not any(u.leg_index == leg.leg_index for u in result.unwinds)
               for leg in result.legs):
            self.progress("a leg filled after the unwind started: unwinding it too")
            self._unwind_or_keep(result)
            self._cancel_all(result.legs + result.unwinds)

    def _combo_leg_unwinds(self, result: ExecutionResult, combo: TrackedOrder) -> list[tuple[TrackedOrder, Decimal, int]]:
        """``(held leg, quantity, attempt)`` per leg of ``combo`` still held and not being unwound.

        The held leg is a stand-in order on the leg's own instrument (its side, ``leg_index`` of the
        planned leg) so :meth:`_unwind_order` prices and names its unwind like a legged one's.
        """
        todo = []
        for planned, side, held, mine in self._combo_leg_holdings(result, combo):
            if len(mine) >= self.options.unwind_attempts or any(not u.is_terminal for u in mine):
                continue
            if planned.index in self._unwind_caps:
                # The venue refused a reduce-only unwind of this leg: never more than it held then,
                # less what the leg's unwinds sent since have filled.
                cap, _, refused = self._unwind_caps[planned.index]
                ids = [u.client_order_id for u in mine]
                since = mine[ids.index(refused) + 1:] if refused in ids else []
                held = min(held, cap - sum((u.filled for u in since), Decimal(0)))
            quantity = round_to_step(held, planned.instrument.quantity_step, up=False)
            if quantity <= 0:
                continue
            stand_in = OrderRequest(client_order_id=combo.client_order_id, instrument=planned.instrument, side=side,
                                    quantity=quantity, limit_price=planned.limit_price,
                                    time_in_force=TimeInForce.IOC)
            attempt = len([u for u in result.unwinds if u.leg_index == planned.index]) + 1
            todo.append((TrackedOrder(request=stand_in, leg_index=planned.index, role="leg"), quantity, attempt))
        return todo

    def _unwind_order(self, order: TrackedOrder, quantity: Decimal, attempt: int) -> TrackedOrder | None:
        """An offsetting reduce-only IOC order for ``quantity`` of ``order``, priced to trade now.

        Reduce-only on a venue that has it (:attr:`Capability.REDUCE_ONLY`): after a refusal the
        quantity is capped by the venue's position (:meth:`_reduce_only_refused`), never sent
        without it. On a venue without reduce-only it is a plain order capped at the position the
        venue reports on the leg's side (``gps_positions``); when the venue cannot say, nothing
        is sent and the leg is reported held. On a venue without IOC it is a GTC order, cancelled
        once ``unwind_timeout`` has passed. ``None`` when no unwind can be sent (journaled as
        ``unwind_impossible`` with the reason).

        Attempt ``n`` crosses the best price by ``unwind_slippage + (n - 1) * unwind_slippage_step``,
        at most ``unwind_slippage_cap``.
        """
        request = order.request
        instrument = request.instrument
        side = request.side.opposite
        info = self.venues[request.venue].info
        reduce_only = info.supports(Capability.REDUCE_ONLY)
        if not reduce_only:
            # Without reduce-only an offsetting order could open a position (the fill may have been
            # closed outside gps): it is capped at what the venue reports held, or not sent at all.
            held, problem = self._venue_position(request.venue, instrument)
            on_leg_side = max(held * -side.sign, Decimal(0)) if held is not None else Decimal(0)
            capped = round_to_step(min(quantity, on_leg_side), instrument.quantity_step, up=False)
            if capped <= 0:
                why = problem or (f"it reports a position of {format_decimal(held)} {instrument.symbol}, "
                                  "nothing to reduce")
                reason = f"{info.name} takes no reduce-only orders and {why}: nothing is sent for this leg"
                self._write("unwind_impossible", client_order_id=order.client_order_id, reason=reason)
                order.reason = f"unwind impossible: {reason}"
                return None
            quantity = capped
            self._progress_once(f"{info.name} takes no reduce-only orders: unwinds are plain orders for at most "
                                "the position it reports", [])
        time_in_force = TimeInForce.IOC if info.supports(Capability.IOC) else TimeInForce.GTC
        if time_in_force is TimeInForce.GTC:
            self._progress_once(f"{info.name} takes no IOC orders: unwinds are GTC orders, cancelled after "
                                f"{self.options.unwind_timeout:g}s", [])
        try:
            if instrument.is_combo:
                # Never on a combo book, and never priced by a combo's tick: a leg's own rules only.
                raise ValueError(f"{instrument.symbol} is a combo, not the leg's own instrument")
            book = self.venues[request.venue].order_book(instrument, 10)
            levels = book.side_to_take(side)
            if not levels or quantity < instrument.min_quantity:
                raise ValueError("no book to unwind against" if not levels else f"{format_decimal(quantity)} is below the minimum size")
        except Exception as exc:  # noqa: BLE001
            self._write("unwind_impossible", client_order_id=order.client_order_id, reason=str(exc))
            order.reason = f"unwind impossible: {exc}"
            return None
        options = self.options
        slip = min(options.unwind_slippage + (attempt - 1) * options.unwind_slippage_step, options.unwind_slippage_cap)
        best = levels[0].price
        price = instrument.round_price(best * (1 + slip) if side.sign > 0 else best * (1 - slip), side)
        price = max(price, instrument.tick_at(price))
        unwind = OrderRequest(
            client_order_id=unwind_client_order_id(self.journal.execution_id, order.leg_index, attempt),
            instrument=instrument,
            side=side,
            quantity=quantity,
            limit_price=price,
            time_in_force=time_in_force,
            reduce_only=reduce_only,
        )
        return TrackedOrder(request=unwind, leg_index=order.leg_index, role="unwind")

    def _residuals(self, result: ExecutionResult) -> list[dict]:
        """What the trader still holds from an incomplete strategy under ``unwind`` (empty when flat)."""
        if result.all_filled or self.options.on_partial == "keep":
            return []
        rows = []
        for leg in result.legs:
            held = self._exposure(result, leg)
            unsure = [o.client_order_id for o in [leg] + [u for u in result.unwinds if u.leg_index == leg.leg_index]
                      if not o.is_terminal]
            if held > 0 or unsure:
                request = leg.request
                maybe = leg.remaining if not leg.is_terminal else Decimal(0)
                # A combo order's exposure is named per leg: never the combo id as if it were one position.
                names = {p.instrument.symbol: p.leg.instrument.name for p in result.plan.legs}
                held_rows = per_leg_exposure(request.instrument, request.side, held, names)
                maybe_rows = per_leg_exposure(request.instrument, request.side, maybe, names)
                if leg.role == "combo":
                    for (planned, side, leg_held, mine), held_row in zip(self._combo_leg_holdings(result, leg), held_rows):
                        held_row.update(side=side.value, quantity=leg_held, leg_index=planned.index)
                        unsure_leg = [u.client_order_id for u in mine if not u.is_terminal]
                        if leg_held <= 0 and not unsure and not unsure_leg:
                            held_row["flat"] = True
                    held_rows = [r for r in held_rows if not r.pop("flat", False)]
                    maybe_rows = [m for m in maybe_rows if any(m["venue_symbol"] == r["venue_symbol"] for r in held_rows)]
                for held_row, maybe_row in zip(held_rows, maybe_rows):
                    # A combo's row is its own leg's: its caps, notes and venue position, never the first leg's.
                    index = held_row.pop("leg_index", leg.leg_index)
                    row = {"venue": request.venue, **held_row, "unknown_orders": unsure,
                           "unknown_quantity": maybe_row["quantity"]}
                    if request.instrument.is_combo:
                        row["combo"] = request.instrument.symbol
                    if index in self._unwind_caps:
                        row["note"] = f"the venue refused a reduce-only unwind; {self._unwind_caps[index][1]}"
                    elif index in self._unwind_invalid:
                        row["note"] = self._unwind_invalid[index]
                    if index in self._venue_positions:
                        row["venue_position"] = self._venue_positions[index]
                    rows.append(row)
        return rows
