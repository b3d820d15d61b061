"""``gps close``: offset what an execution still holds, as a new execution that names it.

:func:`plan_close` works out what to close: the execution's filled quantities per venue and
instrument, net of its unwinds and of earlier closes (from the journals,
:mod:`gps_core.positions`), **capped by what the venue's positions endpoint says is held** —
never more, and never on the other side. Where the two differ it says so. ``--leg
INSTRUMENT[:QTY]`` picks legs and partial quantities.

:func:`close_request` turns that into an :class:`~gps_core.execution.ExecutionRequest` whose
legs are pinned to the venue holding each one, sent reduce-only where the venue supports it,
with ``on_partial="keep"`` (a leg that closed stays closed; unwinding it would reopen it), and
``closes`` set so the journal names the execution it closes. The execution use case
(:mod:`gps_core.execution`) then plans, confirms, journals, runs and reports it like ``execute``.

Errors: :class:`~gps_core.errors.BadInput` for a bad ``--leg`` or an unknown execution.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Sequence

from .errors import BadInput
from .events import execution_mode
from .execution import ExecutionRequest
from .journal import find_journal, read_events
from .model import Side
from .money import is_multiple, round_to_step
from .positions import closes_of, journal_holdings
from .strategy import Leg, Strategy

ZERO = Decimal(0)


@dataclass
class CloseLeg:
    """One instrument to close.

    ``journal_quantity`` and ``venue_quantity`` are signed (positive long); ``venue_quantity``
    is ``None`` when the venue cannot report positions. ``quantity`` is what will be sent
    (positive contracts, on the step), ``side`` the offsetting side.
    """

    venue: str
    symbol: str
    instrument: Any
    journal_quantity: Decimal
    venue_quantity: Decimal | None
    quantity: Decimal = ZERO
    note: str | None = None
    settlement: Any = None  # the venue's Settlement when the leg expired and was settled

    @property
    def side(self) -> Side:
        return Side.SELL if self.journal_quantity > 0 else Side.BUY

    def to_json(self) -> dict:
        return {"venue": self.venue, "instrument": self.symbol, "side": self.side.value,
                "quantity": _text(self.quantity), "journal_quantity": _text(self.journal_quantity),
                "venue_quantity": None if self.venue_quantity is None else _text(self.venue_quantity),
                "note": self.note, "settlement": None if self.settlement is None else self.settlement.to_json()}


@dataclass
class ClosePlan:
    """What closing ``execution_id`` sends (``legs`` with a quantity) and why (``notes``)."""

    execution_id: str
    mode: str
    legs: list[CloseLeg] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: everything the execution holds, before ``--leg`` picks: ``(venue, symbol, OptionKey or None, signed)``
    held: list[tuple] = field(default_factory=list)

    @property
    def to_send(self) -> list[CloseLeg]:
        return [leg for leg in self.legs if leg.quantity > 0]

    @property
    def settled(self) -> list[str]:
        """One line per leg that expired and was settled (nothing of it is sent)."""
        return [f"{leg.venue} {leg.settlement.describe()}: nothing to close" for leg in self.legs if leg.settlement]

    def to_json(self) -> dict:
        return {"closes": self.execution_id, "mode": self.mode, "legs": [leg.to_json() for leg in self.legs],
                "notes": list(self.notes)}


_LEG = re.compile(r"^\s*([^:\s]+)\s*(?::\s*(\S+))?\s*$")


def parse_leg_selection(specs: Sequence[str]) -> dict[str, Decimal | None]:
    """``["BTC-27MAR26-70000-C:0.5", "ETH-..."]`` -> ``{name: quantity or None (all)}``; BadInput if malformed."""
    chosen: dict[str, Decimal | None] = {}
    for spec in specs:
        match = _LEG.match(spec or "")
        if not match:
            raise BadInput(f"--leg {spec!r}: expected INSTRUMENT or INSTRUMENT:QUANTITY, e.g. BTC-27MAR26-70000-C:0.5")
        name, quantity = match.group(1).upper(), match.group(2)
        amount = None
        if quantity is not None:
            try:
                amount = Decimal(quantity)
            except InvalidOperation:
                raise BadInput(f"--leg {spec!r}: {quantity!r} is not a number") from None
            if not amount.is_finite() or amount <= 0 or amount.adjusted() > 15:
                raise BadInput(f"--leg {spec!r}: the quantity must be a positive number, got {quantity!r}")
        if name in chosen:
            raise BadInput(f"--leg {name} is given twice")
        chosen[name] = amount
    return chosen


def _settled_at_venue(ctx, venue_name: str, mode: str, cache: dict) -> dict[str, Any]:
    """``{symbol: Settlement}`` the venue settled at expiry (``{}`` for a venue without ``gps_settlements``)."""
    from .service import venue_for

    venue = venue_for(ctx, venue_name, mode, cache)  # a dry run's simulation settles nothing
    if not venue.has_settlements:
        return {}
    return {s.symbol: s for s in venue.settlements(None)}


def _held_at_venue(ctx, venue_name: str, mode: str, cache: dict) -> tuple[dict[str, Decimal] | None, str | None]:
    """``{symbol: signed quantity}`` the venue (or, for a dry run, its simulation) holds; ``None`` if it cannot say."""
    from .service import venue_for

    venue = venue_for(ctx, venue_name, mode, cache)  # a dry run's: the simulation's paper positions
    if not venue.has_positions:
        return None, f"{venue_name} cannot report positions (no gps_positions): closing what the journal says"
    return {p.symbol: p.quantity for p in venue.positions(None)}, None


def close_is_live(ctx, execution_id: str | None) -> bool:
    """Whether closing ``execution_id`` (a close: its original) sends live orders, from its journal alone.

    Read before any venue is asked, so a close that could not be confirmed is refused first.
    Unknown executions read as not live (:func:`plan_close` then says what is wrong).
    """
    try:
        events = read_events(find_journal(ctx.home, execution_id))
        target = closes_of(events)
        if target:
            events = read_events(find_journal(ctx.home, target))
    except Exception:  # noqa: BLE001 - plan_close reports it
        return False
    return execution_mode(events) == "live"


def venue_position_reader(ctx, mode: str):
    """``venue name -> {symbol: signed quantity}`` (or ``None`` when the venue cannot say), for ``mode``.

    Failures to ask read as ``None`` (the journal arithmetic is then all there is).
    """
    cache: dict = {}

    def read(venue_name: str) -> dict[str, Decimal] | None:
        try:
            return _held_at_venue(ctx, venue_name, mode, cache)[0]
        except Exception:  # noqa: BLE001 - best effort: only caps a warning's figures
            return None

    return read


def working_orders_of(home, target: str) -> list[str]:
    """The orders of ``target`` and of its closes whose last journaled state is not terminal.

    One line each: ``"sell 0.1 BTC-25JUN27-100000-C on dryrun (gps-...-L2-1)"``.
    """
    from .journal import iter_journals
    from .recovery import _unsettled_in

    found = []
    for path in iter_journals(home):
        events = read_events(path)
        if path.stem != target and closes_of(events) != target:
            continue
        for order in _unsettled_in(events):
            r = order.request
            found.append(f"{r.side.value} {_text(r.quantity)} {r.instrument.symbol} on {r.venue} "
                         f"({r.client_order_id})")
    return found


def recheck(ctx, plan: ClosePlan, leg_specs: Sequence[str] = ()):
    """What :class:`~gps_core.execution.ExecutionRequest.recheck` runs for a close, under the lock.

    What ``plan.execution_id`` holds is worked out again (another close may have run since the
    plan was made, e.g. while this one waited at the confirmation prompt): when it now holds
    nothing, or less of any leg than this close would send, :class:`BadInput` refuses it and
    nothing is sent — a close never sells more than the execution itself still holds.
    """
    def run() -> None:
        now = plan_close(ctx, plan.execution_id, leg_specs)
        held = {(leg.venue, leg.symbol): leg.quantity for leg in now.to_send}
        if not held:
            raise BadInput(f"execution {plan.execution_id} holds nothing to close (closed since this close was "
                           "planned); nothing was sent")
        less = [f"{leg.symbol} on {leg.venue}: {_text(held.get((leg.venue, leg.symbol), ZERO))} left, "
                f"{_text(leg.quantity)} planned" for leg in plan.to_send
                if held.get((leg.venue, leg.symbol), ZERO) < leg.quantity]
        if less:
            raise BadInput(f"execution {plan.execution_id} holds less than this close would send (closed since it "
                           f"was planned: {'; '.join(less)}); nothing was sent: run gps close again")

    return run


def plan_close(ctx, execution_id: str | None, leg_specs: Sequence[str] = ()) -> ClosePlan:
    """What closing ``execution_id`` (``last`` or ``None``: the newest) would send. See the module docstring."""
    chosen = parse_leg_selection(leg_specs)  # bad input is refused before anything is read or asked
    path = find_journal(ctx.home, execution_id)
    events = read_events(path)
    notes: list[str] = []
    target = closes_of(events)
    if target:
        notes.append(f"execution {path.stem} is a close of {target}: closing what {target} still holds")
        path = find_journal(ctx.home, target)
        events = read_events(path)
    target = path.stem
    mode = execution_mode(events)
    working = working_orders_of(ctx.home, target)
    if working:
        raise BadInput(f"execution {target} has {len(working)} working order(s) of its own ({'; '.join(working)}): "
                       "a close alongside it could leave it to fill into a naked position; run `gps recover "
                       "--cancel-working` first (nothing was sent)")
    plan = ClosePlan(target, mode, notes=notes)
    paper = [v.name for v in ctx.host.venues() if v.info.paper]
    holdings = [h for h in journal_holdings(ctx.home, paper).values() if h.execution_id == target and h.quantity != 0]
    every = list(holdings)
    if chosen:
        names = {h.symbol.upper(): h for h in holdings} | {h.key.name.upper(): h for h in holdings if h.key}
        unknown = [n for n in chosen if n not in names]
        if unknown:
            held = ", ".join(sorted(h.symbol for h in holdings)) or "nothing"
            raise BadInput(f"--leg {unknown[0]}: execution {target} holds no such instrument (it holds {held})")
        picked = {id(names[n]): q for n, q in chosen.items()}
        holdings = [h for h in holdings if id(h) in picked]
    cache: dict = {}
    venue_held: dict[str, dict[str, Decimal] | None] = {}
    settled: dict[str, dict[str, Any]] = {}
    for venue_name in sorted({h.venue for h in every}):
        settled[venue_name] = _settled_at_venue(ctx, venue_name, mode, cache)
        venue_held[venue_name], note = _held_at_venue(ctx, venue_name, mode, cache)
        if note and venue_name in {h.venue for h in holdings}:
            plan.notes.append(note)
    # What the execution holds, every leg (also those --leg leaves alone), capped by the venue's
    # position (an expired and settled leg is held no more): for the UNCOVERED warnings.
    plan.held = [(h.venue, h.symbol, h.key, _capped(h.quantity, venue_held[h.venue], h.symbol)) for h in every]
    for h in sorted(holdings, key=lambda h: (h.venue, h.symbol)):
        at_venue = venue_held[h.venue]
        leg = CloseLeg(h.venue, h.symbol, h.instrument, h.quantity,
                       None if at_venue is None else at_venue.get(h.symbol, ZERO))
        wanted = abs(h.quantity)
        settlement = settled[h.venue].get(h.symbol)
        if settlement is not None and not leg.venue_quantity:
            if chosen and picked[id(h)] is not None:
                raise BadInput(f"--leg {h.symbol}: {settlement.describe()}; nothing of it can be closed")
            leg.settlement = settlement
            plan.legs.append(leg)
            continue
        if leg.venue_quantity is not None:
            same_side = leg.venue_quantity != 0 and (leg.venue_quantity > 0) == (h.quantity > 0)
            cap = min(wanted, abs(leg.venue_quantity)) if same_side else ZERO
            if cap != wanted:
                leg.note = (f"the journal says {_text(h.quantity)} but {h.venue} holds {_text(leg.venue_quantity)}: "
                            f"closing {_text(cap)}")
            wanted = cap
        if chosen:
            asked = picked[id(h)]
            if asked is not None:
                if asked > wanted:
                    raise BadInput(f"--leg {h.symbol}:{_text(asked)}: only {_text(wanted)} of it can be closed "
                                   f"(never more than is held)")
                wanted = asked
        step = getattr(h.instrument, "quantity_step", None) or Decimal("0.00000001")
        if chosen and picked[id(h)] is not None and not is_multiple(wanted, step):
            raise BadInput(f"--leg {h.symbol}:{_text(wanted)}: {h.venue} trades {h.symbol} in steps of "
                           f"{_text(step)}; give a multiple of it (nothing was sent)")
        quantity = round_to_step(wanted, step, up=False)
        if 0 < quantity < getattr(h.instrument, "min_quantity", ZERO):
            leg.note = f"{_text(quantity)} is below {h.venue}'s minimum {_text(h.instrument.min_quantity)}: not closed"
            quantity = ZERO
        leg.quantity = quantity
        if leg.note:
            plan.notes.append(f"{h.venue} {h.symbol}: {leg.note}")
        plan.legs.append(leg)
    return plan


def _capped(journal: Decimal, at_venue: dict[str, Decimal] | None, symbol: str) -> Decimal:
    """``journal`` (signed) capped by the venue's position on the same side (``None``: the venue cannot say)."""
    if at_venue is None:
        return journal
    there = at_venue.get(symbol, ZERO)
    if there == 0 or (there > 0) != (journal > 0):
        return ZERO
    return min(abs(journal), abs(there)) * (1 if journal > 0 else -1)


def close_request(plan: ClosePlan, **options: Any) -> ExecutionRequest:
    """The execution that closes ``plan``: legs pinned to their venues, reduce-only, ``on_partial=keep``.

    ``options`` are :class:`ExecutionRequest` fields (``max_slippage``, ``timeout``, ``tif``, ``yes``...).
    """
    # Buy-backs first, then sells, one after the other (--sequential): a close that stops part way
    # (a leg that does not fill) then never sold the long that covers a short still held.
    legs = sorted(plan.to_send, key=lambda leg: leg.side is Side.SELL)
    sequential = len({leg.side for leg in legs}) > 1
    strategy = Strategy(legs=tuple(Leg(leg.side, leg.quantity, leg.instrument.key) for leg in legs),
                        name=f"close {plan.execution_id}", source="close")
    venues = tuple(leg.venue for leg in legs)
    closing = tuple({"venue": leg.venue, "instrument": leg.symbol, "side": leg.side.value,
                     "quantity": _text(leg.quantity), "held": _text(leg.journal_quantity if leg.venue_quantity is None
                                                                   else leg.venue_quantity)} for leg in legs)
    return ExecutionRequest(closing=closing, strategy=strategy, venue=",".join(dict.fromkeys(venues)), leg_venues=venues,
                            closes=plan.execution_id, reduce_only=True, on_partial="keep",
                            dry_run=plan.mode == "dry-run", sequential=sequential,
                            warnings=tuple(uncovered_after(plan)), **options)


def uncovered_after(plan: ClosePlan) -> list[str]:
    """Plan warnings for the shorts of the execution this close leaves with no long of it covering them.

    What is left after it: every instrument the execution holds (``plan.held``, also those a
    ``--leg`` close leaves alone) less what this close sends. A ``--leg`` close that sells the
    long of a call spread and keeps its short is what this names.
    """
    from .plan_warnings import uncovered_shorts

    sent = {(leg.venue, leg.symbol): leg.quantity for leg in plan.to_send}
    after = []
    for venue, symbol, key, held in plan.held:
        if key is None:
            continue  # an instrument gps cannot read: no cover rule for it
        closed = sent.get((venue, symbol), ZERO)
        after.append((key, venue, held - closed if held > 0 else held + closed))
    return [f"after this close, short {_text(q)} {key.name} on {venue} is UNCOVERED (no long the execution "
            "still holds covers it)" for key, venue, q in uncovered_shorts(after)]


def uncovered_held(still: Sequence[dict]) -> list[dict]:
    """The rows of a report's ``still_held`` that are shorts no long in it covers."""
    from .instruments import OptionKey
    from .plan_warnings import uncovered_shorts

    rows = []
    for r in still:
        try:
            rows.append((OptionKey.parse(r["instrument"]), r["venue"],
                         Decimal(r["quantity"]) * (1 if r["side"] == "buy" else -1)))
        except Exception:  # noqa: BLE001
            continue
    return [{"venue": v, "instrument": k.name, "quantity": _text(q)} for k, v, q in uncovered_shorts(rows)]


def _text(value: Decimal) -> str:
    text = f"{value.normalize():f}"
    return text
