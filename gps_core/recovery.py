"""Crash recovery: settle what a dead process left behind, with the venues, and close its executions.

An order is *unsettled* when its last journaled state is not terminal: sent with no reply
(``submitted``), ``unknown``, still working, or with a cancel that was never confirmed.
``gps recover`` asks each venue about every such order by its client order id (or the id
recorded before sending), journals what it learns, and reports what is still live.
An order the venue does not know is declared never placed only when it can no longer
arrive: its ``valid_until`` has passed, the venue is a paper venue, or it was sent longer
ago than ``settle_after`` seconds.

An execution whose driving process still holds its lock (see
:class:`gps_core.journal.ExecutionLock`) is running: recovery leaves it alone and names its
PID. Recovery holds the lock of every execution it works on. A journal that cannot be
written never stops a cancel: the cancel is sent and the failure reported.

Every interrupted execution whose orders are all settled is closed (``execution_recovered``);
one whose strategy is incomplete with filled legs leaves an open position, reported per
venue and instrument as an exposure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

from .codec import request_to_json, snapshot_to_json
from .errors import OrderNotFound, OrderNotOpen
from .events import CLOSING_EVENTS, Event, JournaledOrder, execution_mode, first, last, replay
from .journal import (ExecutionLock, ExecutionRunning, Journal, UnwritableJournal, iter_journals, lock_holder,
                      read_events)
from .rebuild import NotRebuildable, deadline, rebuild
from .model import OrderRequest, OrderSnapshot, TimeInForce, utcnow
from .orders import TERMINAL, OrderState, TrackedOrder, state_from_snapshot
from .service import Context, venue_for

Progress = Callable[[str], None]


@dataclass
class Settlement:
    execution_id: str
    order: JournaledOrder
    before: OrderState
    after: OrderState
    snapshot: OrderSnapshot | None
    note: str
    filled: Decimal | None = None  # when there is no snapshot (an order the engine drove)

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
            "filled": _filled(self),
            "before": self.before.value,
            "after": self.after.value,
            "live": self.live,
            "note": self.note,
        }


def _filled(settlement: Settlement) -> str | None:
    if settlement.snapshot is not None:
        return f"{settlement.snapshot.filled_quantity.normalize():f}"
    if settlement.filled is not None:
        return "0" if settlement.filled == 0 else f"{settlement.filled.normalize():f}"
    return None


@dataclass
class Recovery:
    """What one ``gps recover`` did and found.

    ``exposures``: per execution, venue and instrument, the signed filled quantity an
    incomplete strategy left open (buys +, sells -). ``unknown``: orders whose state is
    still not settled. ``running``: executions skipped because a live process drives them.
    ``journal_errors``: what was done but could not be journaled.
    """

    settlements: list[Settlement] = field(default_factory=list)
    closed: list[dict] = field(default_factory=list)
    running: list[dict] = field(default_factory=list)
    exposures: list[dict] = field(default_factory=list)
    journal_errors: list[str] = field(default_factory=list)

    @property
    def live(self) -> list[str]:
        return [s.order.request.client_order_id for s in self.settlements if s.live]

    @property
    def unknown(self) -> list[dict]:
        return [s.to_json() for s in self.settlements if s.after not in TERMINAL and not s.live]

    @property
    def clean(self) -> bool:
        """Every execution it closed completed, and nothing live, unknown, exposed or unjournaled is left: exit 0."""
        incomplete = any(not e["complete"] and e.get("orders", 1) for e in self.closed)  # 0 orders: nothing sent
        return not (self.live or self.unknown or self.exposures or self.journal_errors or incomplete)

    def to_json(self) -> dict:
        return {
            "orders": [s.to_json() for s in self.settlements],
            "live": self.live,
            "unknown": self.unknown,
            "executions": self.closed,
            "exposures": self.exposures,
            "running": self.running,
            "journal_errors": self.journal_errors,
        }


def is_closed(events: list[dict]) -> bool:
    return any(e.get("event") in CLOSING_EVENTS for e in events)


def unsettled_orders(home: Path) -> list[tuple[Path, JournaledOrder]]:
    """Every journaled order, across executions, whose last recorded state is not terminal.

    Orders of an execution closed by recovery count only if recovery left them live; those
    of a finished one only if its report listed them as unsettled.
    """
    found = []
    for path in iter_journals(home):
        events = read_events(path)
        finished = last(events, Event.EXECUTION_FINISHED)
        if finished and not (finished.get("report") or {}).get("unsettled"):
            if last(events, Event.EXECUTION_RECOVERED) is None or not _left_live(events):
                continue
        for order in replay(events).values():
            if order.state not in TERMINAL:
                found.append((path, order))
    return found


def _left_live(events: list[dict]) -> bool:
    return any(o.state not in TERMINAL for o in replay(events).values())


def interrupted_executions(home: Path) -> list[Path]:
    """Journals of executions that never finished (killed, crashed, or still running) and were not recovered."""
    return [path for path in iter_journals(home) if not is_closed(read_events(path))]


def running_executions(home: Path) -> list[tuple[Path, int]]:
    """Executions a live process is driving: ``(journal, pid)`` (pid 0 if it could not be read)."""
    found = []
    for path in interrupted_executions(home):
        pid = lock_holder(path)
        if pid is not None:
            found.append((path, pid))
    return found


def recover(ctx: Context, *, settle_after: float = 60.0, cancel_working: bool = False,
            progress: Progress | None = None) -> Recovery:
    """Settle every unsettled order of every execution no live process drives, then close them.

    Never raises for one order or one execution: failures are reported in the result.
    """
    say = progress or (lambda message: None)
    outcome = Recovery()
    by_path: dict[Path, list[JournaledOrder]] = {}
    for path, order in unsettled_orders(ctx.home):
        by_path.setdefault(path, []).append(order)
    for path in interrupted_executions(ctx.home):
        by_path.setdefault(path, [])
    caches: dict[str, dict[str, Any]] = {}
    for path in sorted(by_path):
        try:
            lock = ExecutionLock.acquire(path)
        except ExecutionRunning as running:
            outcome.running.append({"execution_id": path.stem, "pid": running.pid})
            say(str(running))
            continue
        with lock:
            _recover_execution(ctx, path, by_path[path], outcome, caches, settle_after, cancel_working, say)
    return outcome


def _recover_execution(ctx: Context, path: Path, orders: list[JournaledOrder], outcome: Recovery,
                       caches: dict, settle_after: float, cancel_working: bool, say: Progress) -> None:
    events = read_events(path)  # re-read under the lock: the process may have finished meanwhile
    if is_closed(events) and not _left_live(events):
        finished = last(events, Event.EXECUTION_FINISHED)
        if not (finished and (finished.get("report") or {}).get("unsettled")):
            return
    mode = execution_mode(events)
    journal = _open_journal(ctx.home, path, outcome)
    try:
        # 1. Ask the venues about every order whose state is not settled (journaling what they say).
        current = replay(events)
        for order in orders:
            order = current.get(order.request.client_order_id, order)
            if order.state in TERMINAL:
                continue
            try:
                venue = venue_for(ctx, order.request.venue, mode, caches.setdefault(mode, {}))
            except Exception as exc:  # noqa: BLE001 - a missing plugin or credentials: report, go on
                outcome.settlements.append(Settlement(path.stem, order, order.state, order.state, None,
                                                      f"venue unavailable: {exc}"))
                continue
            outcome.settlements.append(
                _settle_one(journal, path.stem, venue, order, settle_after, cancel_working, outcome.journal_errors))
        # 2. Finish what the dead process was doing: watch to its deadline, cancel, unwind or keep.
        events = read_events(path)
        try:
            finished = _resume(ctx, path, events, mode, journal, caches, cancel_working, outcome, say)
        except NotRebuildable as exc:
            say(f"execution {path.stem}: {exc}; settling its orders only")
            finished = False
        if not finished and not is_closed(events):
            _close(journal, path, outcome)
    finally:
        if journal is not None:
            journal.close()


def _resume(ctx: Context, path: Path, events: list[dict], mode: str, journal, caches: dict, cancel_working: bool,
            outcome: Recovery, say: Progress) -> bool:
    """Drive the execution to its end with the engine; journal ``execution_recovered``. False if it cannot."""
    from .engine import Engine
    from .report import result_to_json

    cache = caches.setdefault(mode, {})

    def find_instrument(venue_name: str, key):
        return venue_for(ctx, venue_name, mode, cache).find_instrument(key)

    rebuilt = rebuild(path.stem, events, find_instrument)
    result = rebuilt.result
    before = {o.client_order_id: o.state for o in result.legs + result.unwinds}
    known_unwinds = {o.client_order_id for o in result.unwinds}
    try:
        venues = {name: venue_for(ctx, name, mode, cache) for name in rebuilt.venues}
    except Exception as exc:  # noqa: BLE001
        raise NotRebuildable(f"venue unavailable: {exc}") from None
    _adopt_unjournaled_unwinds(result, rebuilt.options, venues, journal, outcome, say)
    end = deadline(rebuilt.started_at, rebuilt.options)
    left = 0.0 if cancel_working or end is None else max(0.0, (end - utcnow()).total_seconds())
    working = [o for o in result.legs if o.is_working]
    if working and left > 0:
        say(f"execution {path.stem}: watching {len(working)} working order(s) until its deadline "
            f"({left:.0f}s left; --cancel-working cancels at once)")
    engine = Engine(venues, journal if journal is not None else UnwritableJournal(path), rebuilt.options,
                    progress=say)
    result = engine.resume(result, left)
    report = result_to_json(result, mode, str(path))
    plan = first(events, Event.PLAN) or {}
    planned_cost = (plan.get("totals") or {}).get("expected_cost_usd")
    if planned_cost is not None:
        report["totals"]["planned_cost_usd"] = planned_cost  # the recorded plan's own figure
    report["recovered"] = True
    exposure = _exposures_of(path.stem, result)
    summary = {"legs": len(result.legs), "legs_filled": sum(o.state is OrderState.FILLED for o in result.legs),
               "orders": sum(o.client_order_id in before and before[o.client_order_id] is not OrderState.INITIALIZED
                             for o in result.legs) + len(result.unwinds),
               "complete": result.all_filled, "exposures": exposure,
               "filled_orders": [{"client_order_id": o.client_order_id, "role": o.role, "venue": o.request.venue,
                                  "instrument": o.request.instrument.key.name, "side": o.request.side.value,
                                  "filled": f"{o.filled.normalize():f}"}
                                 for o in result.legs + result.unwinds if o.filled > 0]}
    outcome.journal_errors.extend(f"{path.stem}: {failure}" for failure in result.journal_failures)
    _write(journal, outcome.journal_errors, Event.EXECUTION_RECOVERED, report=report, **summary)
    settled = {s.order.request.client_order_id for s in outcome.settlements if s.execution_id == path.stem}
    for order in result.legs + result.unwinds:
        cid = order.client_order_id
        was = before.get(cid)
        if cid in settled:
            _update_settlement(outcome, path.stem, order)
        elif was is not None and was is not order.state and was is not OrderState.INITIALIZED:
            outcome.settlements.append(_settlement(path.stem, order, was, "finished by recover"))
        elif cid not in known_unwinds and order.role == "unwind":
            outcome.settlements.append(_settlement(path.stem, order, OrderState.INITIALIZED, "unwind sent by recover"))
    outcome.closed.append({"execution_id": path.stem, **summary, "report": report})
    outcome.exposures.extend(exposure)
    return True


def _adopt_unjournaled_unwinds(result, options, venues: dict, journal, outcome: Recovery, say: Progress) -> None:
    """Find unwinds the dead process sent but could not journal (a full disk), by their client order ids.

    Unwind ids are ``gps-<execution>-U<leg>-<n>``, n = 1, 2, ...: each filled leg's next ids
    are looked up until the venue does not know one, and what it knows joins the execution
    (and the journal, if it can be written), so recovery never sends an id twice. A lookup
    that fails raises :class:`NotRebuildable`: recovery then only settles and reports.
    """
    if result.all_filled:
        return
    known = {o.client_order_id for o in result.unwinds}
    for leg in [o for o in result.legs if o.filled > 0]:
        for attempt in range(1, options.unwind_attempts + 1):
            cid = f"gps-{result.execution_id}-U{leg.leg_index + 1}-{attempt}"
            if cid in known:
                continue
            request = OrderRequest(client_order_id=cid, instrument=leg.request.instrument,
                                   side=leg.request.side.opposite, quantity=leg.filled,
                                   limit_price=leg.request.limit_price, time_in_force=TimeInForce.IOC,
                                   reduce_only=True)
            try:
                snapshot = venues[leg.request.venue].order_status(request)
            except OrderNotFound:
                break
            except Exception as exc:  # noqa: BLE001
                raise NotRebuildable(f"cannot tell whether unwind {cid} was sent: {exc}") from None
            request.quantity = snapshot.quantity
            unwind = TrackedOrder(request=request, leg_index=leg.leg_index, role="unwind", state=OrderState.SUBMITTED)
            unwind.apply(snapshot)
            result.unwinds.append(unwind)
            say(f"found unwind {cid} at the venue, missing from the journal ({unwind.state.value})")
            _write(journal, outcome.journal_errors, Event.ORDER_INTENT, role="unwind", leg=leg.leg_index,
                   order=request_to_json(request), source="recover: found at the venue")
            _write(journal, outcome.journal_errors, Event.ORDER_UPDATE, client_order_id=cid, state=unwind.state.value,
                   snapshot=snapshot_to_json(snapshot), source="recover")


def _settlement(execution_id: str, order, before: OrderState, note: str) -> Settlement:
    journaled = JournaledOrder(order.request, order.role, order.leg_index, order.state)
    return Settlement(execution_id, journaled, before, order.state, None, note, filled=order.filled)


def _update_settlement(outcome: Recovery, execution_id: str, order) -> None:
    for i, s in enumerate(outcome.settlements):
        if s.execution_id == execution_id and s.order.request.client_order_id == order.client_order_id:
            if s.after is not order.state or (s.snapshot and s.snapshot.filled_quantity != order.filled):
                note = s.note if s.after is order.state else f"{s.note}; then {order.state.value} by recover"
                outcome.settlements[i] = Settlement(execution_id, s.order, s.before, order.state, None, note,
                                                    filled=order.filled)


def _exposures_of(execution_id: str, result) -> list[dict]:
    """The open position an incomplete strategy leaves: net filled per venue and instrument, legs and unwinds."""
    if result.all_filled:
        return []
    net: dict[tuple[str, str], Decimal] = {}
    for o in result.legs + result.unwinds:
        if o.filled > 0:
            key = (o.request.venue, o.request.instrument.key.name)
            net[key] = net.get(key, Decimal(0)) + o.request.side.sign * o.filled
    return [{"execution_id": execution_id, "venue": venue, "instrument": instrument,
             "position": f"{quantity.normalize():f}"}
            for (venue, instrument), quantity in sorted(net.items()) if quantity != 0]


def _open_journal(home: Path, path: Path, outcome: Recovery) -> Journal | None:
    try:
        return Journal(home, path.stem)
    except OSError as exc:
        outcome.journal_errors.append(f"{path.stem}: cannot open the journal: {exc.strerror or exc}")
        return None


def _write(journal: Journal | None, errors: list[str], event: Event, **data: Any) -> bool:
    """Journal one event; on failure note what could not be journaled and carry on."""
    if journal is None:
        errors.append(f"{event} {data.get('client_order_id', '')}: journal not open".replace("  ", " "))
        return False
    try:
        journal.write(event, **data)
        return True
    except OSError as exc:
        errors.append(f"{journal.execution_id}: {event} {data.get('client_order_id', '')}: "
                      f"{exc.strerror or exc}".replace("  ", " "))
        return False


def _settle_one(journal: Journal | None, execution_id: str, venue, order: JournaledOrder, settle_after: float,
                cancel_working: bool, errors: list[str]) -> Settlement:
    request, before = order.request, order.state
    cid = request.client_order_id
    try:
        snapshot = venue.order_status(request)
    except OrderNotFound:
        sent = order.sent_at or utcnow()
        expired = request.valid_until is not None and utcnow() >= request.valid_until
        if expired or venue.info.paper or utcnow() - sent >= timedelta(seconds=settle_after):
            _write(journal, errors, Event.ORDER_SETTLED, client_order_id=cid, state=OrderState.REJECTED.value,
                   reason="not found at the venue by client order id: never placed")
            return Settlement(execution_id, order, before, OrderState.REJECTED, None, "never placed")
        return Settlement(execution_id, order, before, before, None,
                          f"not found yet; sent under {settle_after:.0f}s ago, try again later")
    except Exception as exc:  # noqa: BLE001 - report and move on to the next order
        return Settlement(execution_id, order, before, before, None, f"lookup failed: {exc}")
    note = "found at the venue"
    if cancel_working and snapshot.is_working:
        _write(journal, errors, Event.CANCEL_REQUESTED, client_order_id=cid)  # sent even if this failed
        try:
            snapshot = venue.cancel(request)
            note = "cancelled"
        except OrderNotOpen:
            snapshot, note = _reread(venue, request, snapshot), "not open any more (filled or gone)"
        except Exception as exc:  # noqa: BLE001 - fall back to the venue's view
            snapshot, note = _reread(venue, request, snapshot), f"cancel failed ({exc}); status re-read"
    after = state_from_snapshot(snapshot)
    _write(journal, errors, Event.ORDER_UPDATE, client_order_id=cid, state=after.value,
           snapshot=snapshot_to_json(snapshot), source="recover")
    return Settlement(execution_id, order, before, after, snapshot, note)


def _reread(venue, request, fallback: OrderSnapshot) -> OrderSnapshot:
    try:
        return venue.order_status(request)
    except Exception:  # noqa: BLE001
        return fallback


def _close(journal: Journal | None, path: Path, outcome: Recovery) -> None:
    """Close an interrupted execution whose orders are all settled, saying what it left behind."""
    events = read_events(path)
    orders = list(replay(events).values())
    if any(order.state not in TERMINAL for order in orders):
        return
    plan = first(events, Event.PLAN) or {}
    filled = [{"client_order_id": o.request.client_order_id, "role": o.role, "venue": o.request.venue,
               "instrument": o.request.instrument.key.name, "side": o.request.side.value,
               "filled": f"{o.snapshot.filled_quantity.normalize():f}"}
              for o in orders if o.snapshot is not None and o.snapshot.filled_quantity > 0]
    legs = len(plan.get("legs", []))
    legs_filled = sum(1 for o in orders if o.role == "leg" and o.state is OrderState.FILLED)
    complete = legs > 0 and legs_filled == legs
    exposure = [] if complete else exposures(path.stem, orders)
    summary = {"legs": legs, "legs_filled": legs_filled, "filled_orders": filled, "complete": complete,
               "exposures": exposure, "orders": len(orders)}
    _write(journal, outcome.journal_errors, Event.EXECUTION_RECOVERED, **summary)
    outcome.closed.append({"execution_id": path.stem, **summary})
    outcome.exposures.extend(exposure)


def exposures(execution_id: str, orders: list[JournaledOrder]) -> list[dict]:
    """Net filled quantity per venue and instrument over ``orders`` (legs and unwinds), non-zero only."""
    net: dict[tuple[str, str], Decimal] = {}
    for o in orders:
        if o.snapshot is None or o.snapshot.filled_quantity <= 0:
            continue
        key = (o.request.venue, o.request.instrument.key.name)
        net[key] = net.get(key, Decimal(0)) + o.request.side.sign * o.snapshot.filled_quantity
    return [{"execution_id": execution_id, "venue": venue, "instrument": instrument,
             "position": f"{quantity.normalize():f}"}
            for (venue, instrument), quantity in sorted(net.items()) if quantity != 0]
