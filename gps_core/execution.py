"""The execution use case: from a strategy to a journaled, finished execution, without a terminal.

Two ways in: :func:`run` starts one (``gps execute``), :func:`resume` finishes one a dead
process left (``gps recover``). Both end through the engine's same tail (cancel, settle,
unwind or keep) and both journal how the execution closed.

:func:`preflight` refuses to start while an earlier execution is unsettled, interrupted or
running; :func:`prepare` selects venues, fetches quotes, plans and authenticates;
:func:`run` asks for confirmation (through the caller's :class:`Interaction`), takes GPS_HOME's
one-execution-at-a-time lock and re-checks :func:`preflight` under it (:func:`take_turn`), takes the
execution lock, journals ``execution_started`` (with the options and this PID) and
``plan``, runs the engine and journals ``execution_finished``. ``gps execute`` drives it;
scripts can too.

Errors: :class:`~gps_core.errors.BadInput` (refused before anything was sent, exit 2),
:class:`~gps_core.errors.RoutingError`, :class:`~gps_core.errors.AuthenticationError`.
Once an order may have left, nothing here raises for a journal failure: the execution
runs to its end and :attr:`Outcome.journal_errors` says what could not be journaled.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Callable, Protocol

from .engine import (Engine, ExecutionOptions, ExecutionResult, IntentNotJournaled, refuse_unsendable, run_concurrently,
                     unwind_client_order_id)
from .combo import choose_combos
from .combo_exposure import count_filled_legs, per_leg_exposure
from .config import ensure_dir
from .errors import BadInput, GpsError
from .events import Event, first
from .journal import ExecutionLock, Journal, journal_dir, new_execution_id
from .model import Side, TimeInForce, utcnow
from .orders import OrderState
from .shutdown import Shutdown
from .report import plan_to_json, result_to_json
from .positions import closes_of
from .routing import DEFAULT_MAX_SLIPPAGE, Plan, check_max_loss, plan_strategy
from .service import Context, price_strategy
from .strategy import Strategy


class Interaction(Protocol):
    """What the use case needs from whoever drives it (the CLI, a script)."""

    def progress(self, message: str) -> None:
        """A progress line; best effort, must not raise."""

    def show_plan(self, plan: dict) -> None:
        """The plan about to be executed (``report.plan_to_json``); best effort."""

    def confirm(self, venues: list[str]) -> bool:
        """Whether to send live orders to ``venues``; raise BadInput if it cannot be asked."""


@dataclass
class ExecutionRequest:
    """What to execute and how. ``venue``: ``auto``, one name, or a comma-separated list."""

    strategy: Strategy
    venue: str = "auto"
    max_slippage: Decimal = DEFAULT_MAX_SLIPPAGE
    max_loss: Decimal | None = None
    #: route the whole strategy to one venue (``--one-venue``)
    one_venue: bool = False
    #: percent; refuse a leg this far from its card premium (``--max-premium-drift``)
    max_premium_drift: Decimal | None = None
    timeout: float = 30.0
    on_partial: str = "unwind"
    time_in_force: str = "gtc"
    sequential: bool = False
    dry_run: bool = False
    yes: bool = False
    force: bool = False
    allow_unsettled: bool = False
    #: per leg, the one venue it must go to (``gps close``: the venue that holds it); ``None``: routed
    leg_venues: tuple[str, ...] | None = None
    #: the execution this one closes (journaled in ``execution_started.closes``)
    closes: str | None = None
    #: send every leg reduce-only where the venue supports it (``Capability.REDUCE_ONLY``)
    reduce_only: bool = False
    combo: str = "auto"  # auto, always or never (see gps_core.combo)
    #: ``gps close``: per leg ``{"venue", "instrument", "side", "quantity", "held"}`` (held signed);
    #: the plan then shows what each leg closes and what is left instead of a payoff
    closing: tuple[dict, ...] | None = None
    #: run under the one-execution-at-a-time lock, before anything is sent; raises
    #: :class:`BadInput` to refuse (``gps close``: what the execution holds is recomputed there)
    recheck: Callable[[], None] | None = None
    #: plan warnings the caller adds (``gps close``: the shorts it leaves UNCOVERED)
    warnings: tuple[str, ...] = ()

    def options(self) -> ExecutionOptions:
        return ExecutionOptions(timeout=self.timeout, on_partial=self.on_partial, sequential=self.sequential,
                                time_in_force=TimeInForce(self.time_in_force), reduce_only=self.reduce_only)

    def options_json(self, plan: Plan) -> dict:
        """The options as journaled in ``execution_started`` (``gps recover`` reads them back)."""
        return {"venue": self.venue, "timeout": self.timeout, "on_partial": self.on_partial,
                "tif": self.time_in_force, "sequential": self.sequential, "max_slippage": str(plan.max_slippage),
                "combo": self.combo}


@dataclass
class Prepared:
    request: ExecutionRequest
    venues: dict[str, object]
    plan: Plan
    plan_json: dict
    live_venues: list[str]
    mode: str  # live, paper or dry-run


@dataclass
class Outcome:
    """A finished execution: the engine's result, its report, and what could not be journaled."""

    execution_id: str
    result: ExecutionResult
    report: dict
    journal_errors: list[str] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        """All legs filled, nothing unsettled, interrupted or unjournaled (exit 0)."""
        return self.result.complete and not self.journal_errors


def preflight(ctx: Context, *, allow_unsettled: bool = False, closing: bool = False) -> None:
    """Refuse (BadInput, exit 2) while an earlier execution is running, interrupted or has unsettled orders.

    ``allow_unsettled`` skips these checks. ``closing`` (``gps close``): a running execution is
    refused whatever ``allow_unsettled`` says — it may still unwind a leg the close would
    sell, and that unwind, refused reduce-only, would leave a naked leg; ``allow_unsettled``
    then only skips the unsettled and interrupted executions no process drives.
    """
    from .recovery import interrupted_executions, running_executions, unsettled_orders

    if closing:
        for path, pid in running_executions(ctx.home):
            raise BadInput(f"execution {path.stem} is running in process {pid or '?'}; "
                           "wait for it to finish before closing (a close never runs alongside an execution)")
    if allow_unsettled:
        return
    for path, pid in running_executions(ctx.home):
        raise BadInput(f"execution {path.stem} is running in process {pid or '?'}; wait for it to finish, "
                       "or pass --allow-unsettled to run alongside it")
    unsettled = unsettled_orders(ctx.home)
    if unsettled:
        ids = ", ".join(sorted({order.request.client_order_id for _, order in unsettled})[:5])
        raise BadInput(f"{len(unsettled)} order(s) of earlier executions are not settled ({ids}); "
                       "run `gps recover` first, or pass --allow-unsettled")
    interrupted = interrupted_executions(ctx.home)
    from .journal import is_damaged, read_events

    damaged = [path for path in interrupted if is_damaged(path, read_events(path))]
    if damaged:
        raise BadInput(f"the journal {damaged[-1]} is damaged (no readable execution_started); check the venues "
                       "(`gps positions`), move it out of the journal folder, or pass --allow-unsettled")
    if interrupted:
        raise BadInput(f"execution {interrupted[-1].stem} did not finish (killed or crashed); "
                       "run `gps recover` first, or pass --allow-unsettled")


def _market_time(venues, quotes):
    """:func:`gps_core.paper.paper_market_time`, without importing the paper venue for a live run."""
    if not venues or any(not venue.info.paper for venue in venues):
        return None
    from .paper import paper_market_time

    return paper_market_time(venues, quotes)


def prepare(ctx: Context, request: ExecutionRequest, ui: Interaction) -> Prepared:
    """Venues, quotes, plan and authentication; nothing is sent. Raises BadInput/RoutingError/AuthenticationError."""
    strategy = request.strategy
    # A live run logs in alongside the quotes: no login round trip after them.
    pricing = price_strategy(ctx, strategy, request.venue, dry_run=request.dry_run, progress=ui.progress,
                             log_in=not request.dry_run)
    venues = pricing.venues
    if request.leg_venues is not None:  # pinned legs: only the named venue's quote may route each
        pricing.quotes = {i: [q for q in quotes if q.venue == request.leg_venues[i]]
                          for i, quotes in pricing.quotes.items()}
    if strategy.no_trade and not request.force:
        reason = strategy.no_trade_reason or "no reason given"
        if pricing.live:
            raise BadInput(f"the decision log says no trade ({reason}); pass --force to execute anyway")
        ui.progress(f"warning: the decision log says no trade ({reason})")
    # With combos possible, --max-loss is checked against the plan chosen (combo or legged), below.
    combos_possible = not request.reduce_only and request.combo != "never"
    plan = plan_strategy(strategy, pricing.quotes, max_slippage=request.max_slippage,
                         max_loss=None if combos_possible else request.max_loss,
                         market=pricing.market, now=_market_time(venues, pricing.quotes),
                         one_venue=request.one_venue, max_premium_drift=request.max_premium_drift,
                         closing=request.closing is not None)
    by_name = {v.name: v for v in venues}
    plan_live = [by_name[name] for name in plan.venues if not by_name[name].info.paper]
    run_concurrently(ctx.authenticate, plan_live)
    # Combos may need creating (a private call on a live venue), hence after authentication.
    if not request.reduce_only:  # a close sends each leg reduce-only; combo closes are not supported
        plan = choose_combos(plan, by_name, request.combo, create=bool(plan_live), max_loss=request.max_loss,
                             progress=ui.progress)
    check_max_loss(plan, request.max_loss)
    # Ids a venue cannot take, or an IOC it does not support: refused before the plan is shown,
    # confirmed or journaled (every execution id has the same length: a fresh one stands in).
    refuse_unsendable(plan, by_name, request.options(), new_execution_id(), error=BadInput)
    plan_json = plan_to_json(plan)
    if request.closing is not None:
        # A close only reduces what is held: its trade's payoff, read as a new position, would
        # show risks (an "unbounded" short) the close removes. Say what it closes instead.
        plan_json["closing"] = list(request.closing)
        plan_json.pop("payoff", None)
        plan_json["warnings"] = list(plan_json.get("warnings") or []) + list(request.warnings)
        if request.sequential:
            ui.progress("closing the short legs first (buy-backs), then the long ones: a close that stops "
                        "part way never leaves a short uncovered")
    ui.show_plan(plan_json)
    mode = "live" if plan_live else ("dry-run" if request.dry_run else "paper")
    return Prepared(request, by_name, plan, plan_json, [v.name for v in plan_live], mode)


def run(ctx: Context, prepared: Prepared, ui: Interaction,
        engine_factory: Callable[..., Engine] = Engine) -> Outcome:
    """Confirm, lock, journal and execute a prepared plan. See the module docstring for errors."""
    request, plan = prepared.request, prepared.plan
    if prepared.live_venues and not request.yes and not ui.confirm(prepared.live_venues):
        raise BadInput("not confirmed; nothing was sent")
    turn = take_turn(ctx, allow_unsettled=request.allow_unsettled, closing=request.closes is not None)
    try:
        if request.recheck is not None:
            request.recheck()
        return _run_locked(ctx, prepared, ui, engine_factory)
    finally:
        if turn is not None:
            turn.release()


def take_turn(ctx: Context, *, allow_unsettled: bool = False, closing: bool = False) -> ExecutionLock | None:
    """Take GPS_HOME's one-execution-at-a-time lock, at the moment of deciding to send.

    The lock (``<journal dir>/executing.lock``) is taken without waiting and :func:`preflight`
    runs again under it, so there is no window between the check and the take: of two
    executions started together, or one that waited at the confirmation prompt, only one
    sends. Raises :class:`~gps_core.errors.BadInput` (exit 2, nothing sent) naming the PID of
    the execution that holds it. ``allow_unsettled`` (``--allow-unsettled``) runs alongside:
    returns ``None`` without locking, except for a close (``closing``), which never runs
    alongside an execution (see :func:`preflight`).
    """
    from .journal import ExecutionRunning

    if allow_unsettled and not closing:
        return None
    try:
        lock = ExecutionLock.acquire(ensure_dir(journal_dir(ctx.home)) / "executing", "executing")
    except ExecutionRunning as running:
        hint = "wait for it to finish" + ("" if closing else ", or pass --allow-unsettled to run alongside it")
        raise BadInput(f"another execution is running in process {running.pid or '?'}; nothing was sent "
                       f"({hint})") from None
    except OSError as exc:
        raise JournalUnwritable(f"cannot create the journal under {journal_dir(ctx.home)}: "
                                f"{exc.strerror or exc}; nothing was sent") from None
    try:
        preflight(ctx, allow_unsettled=allow_unsettled, closing=closing)
    except BaseException:
        lock.release()
        raise
    return lock


def _run_locked(ctx: Context, prepared: Prepared, ui: Interaction, engine_factory) -> Outcome:
    request, plan = prepared.request, prepared.plan
    execution_id = new_execution_id()
    try:
        lock = ExecutionLock.acquire(ensure_dir(journal_dir(ctx.home)) / f"{execution_id}.jsonl", execution_id)
    except OSError as exc:
        raise JournalUnwritable(f"cannot create the journal under {journal_dir(ctx.home)}: "
                                f"{exc.strerror or exc}; nothing was sent") from None
    closed = False  # the journal is closed (or gone): its lock file can go too
    try:
        with Shutdown():
            try:
                journal = Journal(ctx.home, execution_id)
            except OSError as exc:
                raise JournalUnwritable(f"cannot create the journal: {exc}; nothing was sent") from None
            with journal:
                try:  # nothing has been sent yet: a journal that cannot record the start refuses the execution
                    closes = {"closes": request.closes} if request.closes else {}
                    journal.write(Event.EXECUTION_STARTED, mode=prepared.mode, strategy=request.strategy.to_json(),
                                  options=request.options_json(plan), pid=os.getpid(), **closes)
                    journal.write(Event.PLAN, **prepared.plan_json)
                except OSError as exc:
                    closed = True  # nothing can have been sent: a start that is not on disk is no execution
                    journal.close()
                    try:
                        journal.path.unlink()
                    except OSError:
                        closed = False
                    raise JournalUnwritable(f"cannot write the journal {journal.path}: {exc.strerror or exc}; "
                                            "nothing was sent") from None
                ui.progress(f"execution {execution_id}: placing {plan.order_count} order(s)")
                try:
                    engine = engine_factory(prepared.venues, journal, request.options(), progress=ui.progress)
                    result = engine.execute(plan)
                except IntentNotJournaled as exc:  # the engine lets it through only when nothing was sent
                    done = _close_unsent(journal, str(exc))
                    closed = "could not be closed" not in done
                    raise JournalUnwritable(f"nothing was sent: the journal could not be written ({exc})"
                                            + done) from None
                except Exception as exc:  # the engine lets an exception through only when nothing was sent
                    # Journal the end (nothing_sent), so the next execution is not told to `gps recover`.
                    done = _close_unsent(journal, str(exc))
                    closed = "could not be closed" not in done
                    raise
                report = result_to_json(result, prepared.mode, str(journal.path))
                if request.closes:
                    _close_aftermath(ctx, report, request.closes)
                try:
                    journal.write(Event.EXECUTION_FINISHED, all_filled=result.all_filled, report=report)
                    closed = not result.unsettled  # unsettled orders: recover takes the lock later
                except OSError as exc:
                    report.setdefault("journal_failures", []).append(f"execution_finished: {exc.strerror or exc}")
                if journal.removed():  # deleted mid-run: the events reached no file; this report is the record
                    closed = False
                    report.setdefault("journal_failures", []).append(
                        f"the journal {journal.path} was deleted while the execution ran: none of its events is "
                        "on disk; this report is the only record")
    finally:
        lock.release(remove=closed)
    errors = list(report.get("journal_failures") or [])
    return Outcome(execution_id, result, report, errors)


def _close_unsent(journal: Journal, reason: str) -> str:
    """Close an execution that sent nothing, so the next ``gps execute`` does not ask for ``gps recover``.

    Journals ``execution_finished`` (``nothing_sent``); when even that cannot be written, the
    journal (it records no order that left) is removed. Returns what was done, for the error line.
    """
    try:
        journal.write(Event.EXECUTION_FINISHED, all_filled=False, nothing_sent=reason)
        return ""
    except OSError:
        pass
    journal.close()
    try:
        journal.path.unlink()
    except OSError as exc:
        return f"; its journal {journal.path} could not be closed or removed ({exc.strerror or exc}): " \
               "`gps recover` will close it (it sends nothing)"
    return "; its journal, which records no order sent, was removed"


class JournalUnwritable(GpsError):
    """The journal cannot record the start of an execution, so nothing is sent (exit 1)."""


# --- finishing an interrupted execution (gps recover) --------------------------------------


@dataclass
class Resumed:
    """An interrupted execution driven to its end by :func:`resume`.

    ``before``: each order's state as journaled; ``adopted``: unwinds found at the venue that
    the journal did not have; ``summary``: what ``execution_recovered`` recorded besides the
    report (legs, legs_filled, orders, complete, exposures, filled_orders).
    """

    result: ExecutionResult
    report: dict
    summary: dict
    before: dict
    adopted: list[str]
    journal_failures: list[str]


def resume(ctx: Context, path, events: list[dict], journal, *, mode: str, cancel_working: bool = False,
           progress: Callable[[str], None] | None = None, venue_cache: dict | None = None) -> Resumed:
    """Finish what the dead process of an execution was doing, and journal ``execution_recovered``.

    Rebuilds the execution from ``events`` (:mod:`gps_core.rebuild`), adopts unwinds the
    dead process sent without journaling them, then runs :meth:`Engine.resume`: working orders
    are watched until the recorded deadline (start + ``--timeout``; at once with
    ``cancel_working``), cancelled, and the recorded ``--on-partial`` is applied. ``journal``
    may be ``None`` (it could not be opened): every event then counts as a journal failure and
    the cancels and unwinds are still sent. Raises (nothing sent) :class:`~gps_core.rebuild.NotRebuildable`
    when the journal lacks what the engine needs, :class:`~gps_core.rebuild.ResumeBlocked` when a
    venue cannot be asked now.
    """
    from .journal import UnwritableJournal
    from .rebuild import ResumeBlocked, deadline, rebuild
    from .service import venue_for

    say = progress or (lambda message: None)
    cache = venue_cache if venue_cache is not None else {}
    rebuilt = rebuild(path.stem, events, lambda name, key: venue_for(ctx, name, mode, cache).find_instrument(key))
    result = rebuilt.result
    before = {o.client_order_id: o.state for o in result.legs + result.unwinds}
    try:
        venues = {name: venue_for(ctx, name, mode, cache) for name in rebuilt.venues}
    except Exception as exc:  # noqa: BLE001
        raise ResumeBlocked(f"venue unavailable: {exc}") from None
    sink = journal if journal is not None else UnwritableJournal(path)
    failures: list[str] = []
    adopted = _adopt_unjournaled_unwinds(result, rebuilt.options, venues, sink, failures, say)
    end = deadline(rebuilt.started_at, rebuilt.options)
    left = 0.0 if cancel_working or end is None else max(0.0, (end - utcnow()).total_seconds())
    working = [o for o in result.legs if o.is_working]
    if working and left > 0:
        say(f"execution {path.stem}: watching {len(working)} working order(s) until its deadline "
            f"({left:.0f}s left; --cancel-working cancels at once)")
    engine = Engine(venues, sink, rebuilt.options, progress=say)
    engine.already_closed = _closed_by_closes(ctx, path.stem, result)
    if engine.already_closed:
        say(f"execution {path.stem}: its closes already offset part of its legs; those parts are not unwound again")
    with Shutdown():
        result = engine.resume(result, left)
    failures.extend(result.journal_failures)
    report = result_to_json(result, mode, str(path))
    planned_cost = ((first(events, Event.PLAN) or {}).get("totals") or {}).get("expected_cost_usd")
    if planned_cost is not None:
        report["totals"]["planned_cost_usd"] = planned_cost  # the recorded plan's own figure
    report["recovered"] = True
    target = closes_of(events)
    if target:
        _close_aftermath(ctx, report, target)
    report["journal_failures"] = list(failures)
    summary = {
        "legs": len(result.plan.legs),  # a combo order trades several legs: count the plan's
        **dict(zip(("legs_filled", "legs_part_filled"), count_filled_legs(
            ((p.index, p.instrument.symbol, p.leg.quantity) for p in result.plan.legs),
            ((o.role, o.leg_index, o.request.instrument, o.filled) for o in result.legs)))),
        "orders": sum(before.get(o.client_order_id) not in (None, OrderState.INITIALIZED) for o in result.legs)
        + len(result.unwinds),
        "complete": result.all_filled,
        "exposures": exposures(path.stem, result) if not target else
        [{"execution_id": target, "venue": h["venue"], "instrument": h["instrument"],
          "position": h["quantity"] if h["side"] == "buy" else f"-{h['quantity']}"}
         for h in (report.get("still_held") or []) if not result.all_filled],
        "filled_orders": [{"client_order_id": o.client_order_id, "role": o.role, "venue": o.request.venue,
                           "instrument": o.request.instrument.display_name, "side": o.request.side.value,
                           "filled": f"{o.filled.normalize():f}"}
                          for o in result.legs + result.unwinds if o.filled > 0],
    }
    try:
        sink.write(Event.EXECUTION_RECOVERED, report=report, **summary)
    except OSError as exc:
        failures.append(f"execution_recovered: {exc.strerror or exc}")
    return Resumed(result, report, summary, before, adopted, failures)


def _closed_by_closes(ctx: Context, execution_id: str, result: ExecutionResult) -> dict[int, Decimal]:
    """Per filled leg of ``execution_id``: how much of it its closes (``gps close``) already offset.

    From the journals of the executions that name it in ``closes``: their fills per venue and
    instrument, on the side opposite a leg, are shared out over the legs on that instrument (in
    leg order, each up to what it still holds). An unwind of those parts would sell (or buy)
    what the execution no longer holds: another execution's position.
    """
    from .journal import iter_journals, read_events
    from .positions import execution_holdings

    closes: dict = {}
    for path in iter_journals(ctx.home):
        events = read_events(path)
        if closes_of(events) == execution_id:
            execution_holdings(events, owner=execution_id, into=closes)
    left = {(h.venue, h.symbol): h.quantity for h in closes.values()}
    taken: dict[int, Decimal] = {}
    for leg in result.legs:
        if leg.role == "combo" or leg.filled <= 0:
            continue
        key = (leg.request.venue, leg.request.instrument.symbol)
        offset = left.get(key, Decimal(0)) * leg.request.side.sign  # negative: closed against this leg's side
        if offset >= 0:
            continue
        part = min(-offset, leg.filled)
        taken[leg.leg_index] = taken.get(leg.leg_index, Decimal(0)) + part
        left[key] += part * leg.request.side.sign
    return taken


def _close_aftermath(ctx: Context, report: dict, target: str) -> None:
    """Name, in a close's report, the execution it closes and what that one still holds (``still_held``).

    What it still holds is its journals' arithmetic capped by each venue's own position (a
    venue that cannot be asked leaves the arithmetic).

    A close that did not complete keeps the legs it closed; the position a trader holds then
    is what ``target`` held less what the close filled, not the close's own fills.
    """
    from .closing import venue_position_reader
    from .journal import find_journal, read_events
    from .events import execution_mode
    from .positions import still_held

    paper = [v.name for v in ctx.host.venues() if v.info.paper]
    report["closes"] = target
    try:
        mode = execution_mode(read_events(find_journal(ctx.home, target)))
    except Exception:  # noqa: BLE001 - the journal arithmetic alone then
        mode = None
    reader = venue_position_reader(ctx, mode) if mode else None
    report["still_held"] = still_held(ctx.home, paper, target, reader)
    from .closing import uncovered_held

    report["uncovered"] = uncovered_held(report["still_held"])


def exposures(execution_id: str, result: ExecutionResult) -> list[dict]:
    """The position an incomplete strategy leaves: net filled per venue and instrument, legs and unwinds.

    ``[]`` when the strategy completed. ``position`` is signed contracts (buys +, sells -). A combo
    order counts on each of its legs (``|ratio| x filled``), never as the combo.
    """
    if result.all_filled:
        return []
    names = {p.instrument.symbol: p.leg.instrument.name for p in result.plan.legs}
    net: dict[tuple[str, str], Decimal] = {}
    for o in result.legs + result.unwinds:
        if o.filled > 0:
            for row in per_leg_exposure(o.request.instrument, o.request.side, o.filled, names):
                key = (o.request.venue, row["instrument"])
                net[key] = net.get(key, Decimal(0)) + Side(row["side"]).sign * row["quantity"]
    return [{"execution_id": execution_id, "venue": venue, "instrument": instrument,
             "position": f"{quantity.normalize():f}"}
            for (venue, instrument), quantity in sorted(net.items()) if quantity != 0]


def _adopt_unjournaled_unwinds(result: ExecutionResult, options, venues: dict, journal, failures: list[str],
                               say: Callable[[str], None]) -> list[str]:
    """Find unwinds the dead process sent but could not journal (a full disk), by their client order ids.

    Unwind ids are ``gps-<execution>-U<leg>-<n>``, n = 1, 2, ...: each filled leg's next ids
    are looked up until the venue does not know one, and what it knows joins the execution
    (and the journal, if it can be written), so no id is ever sent twice. A lookup that fails
    raises :class:`~gps_core.rebuild.ResumeBlocked`. Returns the adopted client order ids.
    """
    from .codec import request_to_json, snapshot_to_json
    from .errors import OrderNotFound
    from .model import OrderRequest
    from .orders import TrackedOrder
    from .rebuild import ResumeBlocked

    adopted: list[str] = []
    if result.all_filled:
        return adopted
    known = {o.client_order_id for o in result.unwinds}
    for leg in [o for o in result.legs if o.filled > 0]:
        for attempt in range(1, options.unwind_attempts + 1):
            cid = unwind_client_order_id(result.execution_id, leg.leg_index, attempt)
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
                raise ResumeBlocked(f"cannot tell whether unwind {cid} was sent: {exc}") from None
            request = request.with_updates(quantity=snapshot.quantity)
            unwind = TrackedOrder(request=request, leg_index=leg.leg_index, role="unwind", state=OrderState.SUBMITTED)
            unwind.apply(snapshot)
            result.unwinds.append(unwind)
            adopted.append(cid)
            say(f"found unwind {cid} at the venue, missing from the journal ({unwind.state.value})")
            for event, data in ((Event.ORDER_INTENT, {"role": "unwind", "leg": leg.leg_index,
                                                      "order": request_to_json(request),
                                                      "source": "recover: found at the venue"}),
                                (Event.ORDER_UPDATE, {"client_order_id": cid, "state": unwind.state.value,
                                                      "snapshot": snapshot_to_json(snapshot), "source": "recover"})):
                try:
                    journal.write(event, **data)
                except OSError as exc:
                    failures.append(f"{event} {cid}: {exc.strerror or exc}")
    return adopted
