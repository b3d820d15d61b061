"""The execution use case: from a strategy to a journaled, finished execution, without a terminal.

:func:`preflight` refuses to start while an earlier execution is unsettled, interrupted or
running; :func:`prepare` selects venues, fetches quotes, plans and authenticates;
:func:`run` asks for confirmation (through the caller's :class:`Interaction`), takes the
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

from .engine import Engine, ExecutionOptions, ExecutionResult, run_concurrently
from .config import ensure_dir
from .errors import BadInput, GpsError
from .events import Event
from .journal import ExecutionLock, Journal, journal_dir, new_execution_id
from .model import TimeInForce
from .shutdown import Shutdown
from .report import plan_to_json, result_to_json
from .paper import paper_market_time
from .routing import DEFAULT_MAX_SLIPPAGE, Plan, plan_strategy
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
    timeout: float = 30.0
    on_partial: str = "unwind"
    time_in_force: str = "gtc"
    sequential: bool = False
    dry_run: bool = False
    yes: bool = False
    force: bool = False
    allow_unsettled: bool = False

    def options(self) -> ExecutionOptions:
        return ExecutionOptions(timeout=self.timeout, on_partial=self.on_partial, sequential=self.sequential,
                                time_in_force=TimeInForce(self.time_in_force))

    def options_json(self, plan: Plan) -> dict:
        """The options as journaled in ``execution_started`` (``gps recover`` reads them back)."""
        return {"venue": self.venue, "timeout": self.timeout, "on_partial": self.on_partial,
                "tif": self.time_in_force, "sequential": self.sequential, "max_slippage": str(plan.max_slippage)}


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


def preflight(ctx: Context, *, allow_unsettled: bool = False) -> None:
    """Refuse (BadInput, exit 2) while an earlier execution is running, interrupted or has unsettled orders."""
    from .recovery import interrupted_executions, running_executions, unsettled_orders

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
    if interrupted:
        raise BadInput(f"execution {interrupted[-1].stem} did not finish (killed or crashed); "
                       "run `gps recover` first, or pass --allow-unsettled")


def prepare(ctx: Context, request: ExecutionRequest, ui: Interaction) -> Prepared:
    """Venues, quotes, plan and authentication; nothing is sent. Raises BadInput/RoutingError/AuthenticationError."""
    strategy = request.strategy
    pricing = price_strategy(ctx, strategy, request.venue, dry_run=request.dry_run, progress=ui.progress)
    venues = pricing.venues
    if strategy.no_trade and not request.force:
        reason = strategy.no_trade_reason or "no reason given"
        if pricing.live:
            raise BadInput(f"the decision log says no trade ({reason}); pass --force to execute anyway")
        ui.progress(f"warning: the decision log says no trade ({reason})")
    plan = plan_strategy(strategy, pricing.quotes, max_slippage=request.max_slippage, max_loss=request.max_loss,
                         market=pricing.market, now=paper_market_time(venues, pricing.quotes))
    plan_json = plan_to_json(plan)
    ui.show_plan(plan_json)
    by_name = {v.name: v for v in venues}
    plan_live = [by_name[name] for name in plan.venues if not by_name[name].info.paper]
    run_concurrently(ctx.authenticate, plan_live)
    mode = "live" if plan_live else ("dry-run" if request.dry_run else "paper")
    return Prepared(request, by_name, plan, plan_json, [v.name for v in plan_live], mode)


def run(ctx: Context, prepared: Prepared, ui: Interaction,
        engine_factory: Callable[..., Engine] = Engine) -> Outcome:
    """Confirm, lock, journal and execute a prepared plan. See the module docstring for errors."""
    request, plan = prepared.request, prepared.plan
    if prepared.live_venues and not request.yes and not ui.confirm(prepared.live_venues):
        raise BadInput("not confirmed; nothing was sent")
    execution_id = new_execution_id()
    lock = ExecutionLock.acquire(ensure_dir(journal_dir(ctx.home)) / f"{execution_id}.jsonl", execution_id)
    try:
        with Shutdown():
            try:
                journal = Journal(ctx.home, execution_id)
            except OSError as exc:
                raise JournalUnwritable(f"cannot create the journal: {exc}; nothing was sent") from None
            with journal:
                try:  # nothing has been sent yet: a journal that cannot record the start refuses the execution
                    journal.write(Event.EXECUTION_STARTED, mode=prepared.mode, strategy=request.strategy.to_json(),
                                  options=request.options_json(plan), pid=os.getpid())
                    journal.write(Event.PLAN, **prepared.plan_json)
                except OSError as exc:
                    raise JournalUnwritable(f"cannot write the journal {journal.path}: {exc.strerror or exc}; "
                                            "nothing was sent") from None
                ui.progress(f"execution {execution_id}: placing {len(plan.legs)} order(s)")
                engine = engine_factory(prepared.venues, journal, request.options(), progress=ui.progress)
                result = engine.execute(plan)
                report = result_to_json(result, prepared.mode, str(journal.path))
                try:
                    journal.write(Event.EXECUTION_FINISHED, all_filled=result.all_filled, report=report)
                except OSError as exc:
                    report.setdefault("journal_failures", []).append(f"execution_finished: {exc.strerror or exc}")
    finally:
        lock.release()
    errors = list(report.get("journal_failures") or [])
    return Outcome(execution_id, result, report, errors)


class JournalUnwritable(GpsError):
    """The journal cannot record the start of an execution, so nothing is sent (exit 1)."""
