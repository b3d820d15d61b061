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
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

from .codec import snapshot_to_json
from .combo_exposure import count_filled_legs, per_leg_exposure
from .errors import OrderNotFound, OrderNotOpen
from .events import CLOSING_EVENTS, Event, JournaledOrder, execution_mode, first, last, replay
from .journal import ExecutionLock, ExecutionRunning, Journal, is_damaged, iter_journals, lock_holder, read_events
from .rebuild import NotRebuildable, ResumeBlocked
from .model import OrderSnapshot, Side, utcnow
from .orders import TERMINAL, OrderState, state_from_snapshot
from .service import Context, venue_for
from .settled_journals import SettledJournals

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
            "instrument": r.instrument.display_name,
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
    ``journal_errors``: what was done but could not be journaled. ``failures``: executions
    recovery could not finish (left open for the next run).
    """

    settlements: list[Settlement] = field(default_factory=list)
    closed: list[dict] = field(default_factory=list)
    running: list[dict] = field(default_factory=list)
    exposures: list[dict] = field(default_factory=list)
    journal_errors: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def live(self) -> list[str]:
        return [s.order.request.client_order_id for s in self.settlements if s.live]

    @property
    def unknown(self) -> list[dict]:
        return [s.to_json() for s in self.settlements if s.after not in TERMINAL and not s.live]

    @property
    def clean(self) -> bool:
        """Every execution it closed completed, and nothing live, unknown, exposed, unjournaled or
        left alone (still running) is left: exit 0."""
        incomplete = any(not e["complete"] and e.get("orders", 1) for e in self.closed)  # 0 orders: nothing sent
        return not (self.live or self.unknown or self.exposures or self.journal_errors or self.failures
                    or incomplete or self.running)

    def to_json(self) -> dict:
        return {
            "orders": [s.to_json() for s in self.settlements],
            "live": self.live,
            "unknown": self.unknown,
            "executions": self.closed,
            "exposures": self.exposures,
            "running": self.running,
            "journal_errors": self.journal_errors,
            "failures": self.failures,
        }


def is_closed(events: list[dict]) -> bool:
    return any(e.get("event") in CLOSING_EVENTS for e in events)


def unsettled_orders(home: Path) -> list[tuple[Path, JournaledOrder]]:
    """Every journaled order, across executions, whose last recorded state is not terminal.

    Orders of an execution closed by recovery count only if recovery left them live; those
    of a finished one only if its report listed them as unsettled.
    """
    found = []
    settled = SettledJournals(home)  # closed, settled and unchanged since: not read again
    for path in iter_journals(home):
        if settled.skip(path):
            continue
        before = settled.identity(path)
        events = read_events(path)
        orders = _unsettled_in(events)
        if not orders and is_closed(events) and not is_damaged(path, events):
            settled.remember(path, before)
        found += [(path, order) for order in orders]
    settled.save()
    return found


def _unsettled_in(events: list[dict]) -> list[JournaledOrder]:
    """The orders of one journal that count as unsettled (see :func:`unsettled_orders`)."""
    finished = last(events, Event.EXECUTION_FINISHED)
    if finished and not (finished.get("report") or {}).get("unsettled"):
        if last(events, Event.EXECUTION_RECOVERED) is None or not _left_live(events):
            return []
    return [order for order in replay(events).values() if order.state not in TERMINAL]


def _left_live(events: list[dict]) -> bool:
    return any(o.state not in TERMINAL for o in replay(events).values())


def interrupted_executions(home: Path) -> list[Path]:
    """Journals of executions that never finished (killed, crashed, or still running) and were not recovered."""
    settled = SettledJournals(home)  # a settled journal is closed: never interrupted
    return [path for path in iter_journals(home) if not settled.skip(path) and not is_closed(read_events(path))]


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
        done = False
        try:
            _recover_execution(ctx, path, by_path[path], outcome, caches, settle_after, cancel_working, say)
            events = read_events(path)
            done = is_closed(events) and not _left_live(events)
        finally:
            lock.release(remove=done)  # a closed execution keeps no lock file
    return outcome


def _recover_execution(ctx: Context, path: Path, orders: list[JournaledOrder], outcome: Recovery,
                       caches: dict, settle_after: float, cancel_working: bool, say: Progress) -> None:
    events = read_events(path)  # re-read under the lock: the process may have finished meanwhile
    if is_damaged(path, events):  # zeroed or overwritten: never "finished" from nothing, never closed
        outcome.failures.append(f"{path.stem}: the journal {path} is DAMAGED (no readable execution_started): "
                                "left as it is; check the venues (`gps positions`), then move it out of the journal "
                                "folder")
        return
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
        except ResumeBlocked as exc:
            outcome.failures.append(f"{path.stem}: not finished now ({exc}); it stays open: run `gps recover` again")
            return
        except Exception as exc:  # noqa: BLE001 - a bug or a venue gone mad: leave it open for the next run
            outcome.failures.append(f"{path.stem}: could not finish it ({type(exc).__name__}: {exc}); "
                                    "it stays open: run `gps recover` again, `gps status` shows its orders")
            return
        if not finished and not is_closed(events):
            _close(journal, path, outcome)
    finally:
        if journal is not None:
            journal.close()


def _resume(ctx: Context, path: Path, events: list[dict], mode: str, journal, caches: dict, cancel_working: bool,
            outcome: Recovery, say: Progress) -> bool:
    """Finish the execution through :func:`gps_core.execution.resume`, and account for what it did."""
    from .execution import resume

    resumed = resume(ctx, path, events, journal, mode=mode, cancel_working=cancel_working, progress=say,
                     venue_cache=caches.setdefault(mode, {}))
    result, before = resumed.result, resumed.before
    outcome.journal_errors.extend(f"{path.stem}: {failure}" for failure in resumed.journal_failures)
    settled = {s.order.request.client_order_id for s in outcome.settlements if s.execution_id == path.stem}
    for order in result.legs + result.unwinds:
        cid = order.client_order_id
        was = before.get(cid)
        if cid in settled:
            _update_settlement(outcome, path.stem, order)
        elif cid in resumed.adopted:
            outcome.settlements.append(_settlement(path.stem, order, OrderState.UNKNOWN,
                                                   "unjournaled unwind found at the venue"))
        elif was is None and order.role == "unwind":
            outcome.settlements.append(_settlement(path.stem, order, OrderState.INITIALIZED, "unwind sent by recover"))
        elif was is not None and was is not order.state and was is not OrderState.INITIALIZED:
            outcome.settlements.append(_settlement(path.stem, order, was, "finished by recover"))
    outcome.closed.append({"execution_id": path.stem, **resumed.summary, "report": resumed.report})
    outcome.exposures.extend(resumed.summary["exposures"])
    return True


def _settlement(execution_id: str, order, before: OrderState, note: str) -> Settlement:
    journaled = JournaledOrder(order.request, order.role, order.leg_index, order.state)
    return Settlement(execution_id, journaled, before, order.state, None, note, filled=order.filled)


def _update_settlement(outcome: Recovery, execution_id: str, order) -> None:
    for i, s in enumerate(outcome.settlements):
        if s.execution_id == execution_id and s.order.request.client_order_id == order.client_order_id:
            if s.after is not order.state or (s.snapshot and s.snapshot.filled_quantity != order.filled):
                note = s.note if s.after is order.state else _then(s.note, order.state)
                outcome.settlements[i] = Settlement(execution_id, s.order, s.before, order.state, None, note,
                                                    filled=order.filled)


def _then(note: str, state: OrderState) -> str:
    """A settlement's note once recover moved the order on: a fill is the venue's doing, never recover's."""
    if state is OrderState.FILLED:
        return "filled at the venue" if note == "found at the venue" else f"{note}; then filled at the venue"
    return f"{note}; then {state.value} by recover"


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
               "instrument": o.request.instrument.display_name, "side": o.request.side.value,
               "filled": f"{o.snapshot.filled_quantity.normalize():f}"}
              for o in orders if o.snapshot is not None and o.snapshot.filled_quantity > 0]
    legs = len(plan.get("legs", []))
    # A combo order's fill counts on every leg it trades.
    legs_filled, legs_part_filled = _count_filled_legs(plan, orders)
    complete = legs > 0 and legs_filled == legs
    exposure = [] if complete else exposures(path.stem, orders)
    summary = {"legs": legs, "legs_filled": legs_filled, "legs_part_filled": legs_part_filled,
               "filled_orders": filled, "complete": complete, "exposures": exposure, "orders": len(orders)}
    _write(journal, outcome.journal_errors, Event.EXECUTION_RECOVERED, **summary)
    outcome.closed.append({"execution_id": path.stem, **summary})
    outcome.exposures.extend(exposure)


def _count_filled_legs(plan: dict, orders: list[JournaledOrder]) -> tuple[int, int]:
    """``(legs filled in full, legs filled in part)`` from the journaled plan and orders."""
    try:
        planned = [(int(leg.get("leg", n + 1)) - 1, str(leg.get("venue_symbol") or leg.get("instrument")),
                    Decimal(leg["quantity"])) for n, leg in enumerate(plan.get("legs") or [])]
    except Exception:  # noqa: BLE001 - an old or damaged plan: count what filled in full, per order
        planned = []
    if not planned:
        full = sum(len(o.request.instrument.combo_legs) if o.role == "combo" else 1
                   for o in orders if o.role in ("leg", "combo") and o.state is OrderState.FILLED)
        return full, 0
    return count_filled_legs(planned, ((o.role, o.leg, o.request.instrument,
                                        o.snapshot.filled_quantity if o.snapshot is not None else Decimal(0))
                                       for o in orders))


def exposures(execution_id: str, orders: list[JournaledOrder]) -> list[dict]:
    """Net filled quantity per venue and instrument over ``orders`` (legs and unwinds), non-zero only.

    A combo order counts on each of its legs (``|ratio| x filled``, by its leg's side), never as the combo.
    """
    net: dict[tuple[str, str], Decimal] = {}
    for o in orders:
        if o.snapshot is None or o.snapshot.filled_quantity <= 0:
            continue
        for row in per_leg_exposure(o.request.instrument, o.request.side, o.snapshot.filled_quantity):
            key = (o.request.venue, row["instrument"])
            net[key] = net.get(key, Decimal(0)) + Side(row["side"]).sign * row["quantity"]
    return [{"execution_id": execution_id, "venue": venue, "instrument": instrument,
             "position": f"{quantity.normalize():f}"}
            for (venue, instrument), quantity in sorted(net.items()) if quantity != 0]
