"""What is held where, and which gps executions it came from: ``gps positions``.

Two sources, kept apart:

* **the venues** — each venue's own positions endpoint through the optional ``gps_positions``
  hook (:func:`venue_positions`); a venue without the hook is listed as unavailable;
* **the journals** — every execution's fills, per venue and instrument (:func:`journal_holdings`).
  A close (an execution whose ``execution_started`` names ``closes``) counts against the
  execution it closes, so an execution that was opened and closed holds nothing.

Orders of ``--dry-run`` executions on real venues filled on a local simulation, not at the
venue: they count against that simulation, shown as ``<venue> (dry-run)`` (its paper store
under ``$GPS_HOME/paper/``), never against the venue itself.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from .events import Event, execution_mode, first, replay
from .journal import iter_journals, read_events
from .model import Position

ZERO = Decimal(0)


@dataclass
class Holding:
    """What one execution's fills left on one venue and instrument (signed contracts)."""

    execution_id: str
    venue: str
    symbol: str
    quantity: Decimal
    instrument: Any = None  # the VenueInstrument from the journal (for closing)
    key: Any = None  # its OptionKey
    simulated: bool = False  # filled on a --dry-run simulation of the venue, not at the venue

    @property
    def place(self) -> str:
        """Where it is held: the venue's name, or ``<venue> (dry-run)`` for its simulation."""
        return simulated_name(self.venue) if self.simulated else self.venue


def simulated_name(venue: str) -> str:
    return f"{venue} (dry-run)"


def closes_of(events: Sequence[dict]) -> str | None:
    """The execution id a close execution names (``execution_started.closes``), else ``None``."""
    started = first(events, Event.EXECUTION_STARTED) or {}
    target = started.get("closes")
    return target if isinstance(target, str) and target else None


def execution_holdings(events: Sequence[dict], *, owner: str, paper_venues: Iterable[str] = (),
                       into: dict[tuple[str, str, str], Holding] | None = None) -> dict[tuple[str, str, str], Holding]:
    """Add one execution's filled quantities to ``into``, keyed ``(owner, venue, symbol)``.

    Every order counts (legs, unwinds, closes), signed by its side. A dry-run execution's
    orders on real venues count against their simulation (``Holding.simulated``).
    """
    held = {} if into is None else into
    dry_run = execution_mode(events) == "dry-run"
    paper = set(paper_venues)
    for order in replay(events).values():
        request = order.request
        simulated = dry_run and request.venue not in paper
        filled = order.snapshot.filled_quantity if order.snapshot else ZERO
        if not filled:
            continue
        for instrument, quantity in _held_instruments(request.instrument, request.side.sign * filled):
            key = (owner, simulated_name(request.venue) if simulated else request.venue, instrument.symbol)
            entry = held.get(key)
            if entry is None:
                entry = held[key] = Holding(owner, request.venue, instrument.symbol, ZERO, instrument, instrument.key,
                                            simulated)
            entry.quantity += quantity
    return held


def _held_instruments(instrument: Any, signed: Decimal) -> list[tuple[Any, Decimal]]:
    """What a fill holds: the instrument itself, or for a combo each of its legs (ratio times the fill).

    A combo leg's instrument is the combo's with the leg's symbol and key (its size rules are
    the combo's, which on Deribit are its legs').
    """
    if not instrument.combo_legs:
        return [(instrument, signed)]
    from dataclasses import replace

    from .instruments import OptionKey

    return [(replace(instrument, symbol=leg.symbol, key=OptionKey.parse(leg.symbol), combo_legs=()), leg.ratio * signed)
            for leg in instrument.combo_legs]


def journal_holdings(home: Path, paper_venues: Iterable[str] = ()) -> dict[tuple[str, str, str], Holding]:
    """Every execution's net holdings from every journal under ``home`` (closes counted against their target)."""
    held: dict[tuple[str, str, str], Holding] = {}
    paper = tuple(paper_venues)
    for path in iter_journals(home):
        events = read_events(path)
        execution_holdings(events, owner=closes_of(events) or path.stem, paper_venues=paper, into=held)
    return held


@dataclass
class VenuePositions:
    """One venue's answer: its positions, or why there are none to show."""

    venue: str
    available: bool
    positions: list[Position] = field(default_factory=list)
    error: str | None = None
    settled: list = field(default_factory=list)  # Settlement records, for a venue with gps_settlements
    configured: bool = True  # False: a live venue with none of its credentials set (nothing was asked)


def venue_positions(ctx, venues: Sequence[Any], underlying: str | None = None) -> list[VenuePositions]:
    """Ask every venue (concurrently) for its positions; authenticates live venues first.

    A venue without the ``gps_positions`` hook is ``available=False``; a venue that fails
    (credentials, network, reply) carries the error and the others still answer.
    """
    from .secrets import load_credentials

    def one(venue) -> VenuePositions:
        names = tuple(venue.info.credential_env or ())
        if not venue.info.paper and names and not load_credentials(names, ctx.home, ctx.environ):
            return VenuePositions(venue.name, True, configured=False,
                                  error=f"not configured (no credentials: set {' and '.join(names)} in the "
                                        "environment or credentials.toml)")
        if not getattr(venue, "has_positions", False):
            return VenuePositions(venue.name, False, error="positions unavailable (the venue plugin has no gps_positions)")
        try:
            ctx.authenticate(venue)
            settled = list(venue.settlements(underlying)) if getattr(venue, "has_settlements", False) else []
            return VenuePositions(venue.name, True, list(venue.positions(underlying)), settled=settled)
        except Exception as exc:  # noqa: BLE001 - one venue's failure must not hide the others
            return VenuePositions(venue.name, True, error=str(exc) or type(exc).__name__)

    if not venues:
        return []
    with ThreadPoolExecutor(max_workers=min(8, len(venues)), thread_name_prefix="gps-positions") as pool:
        return list(pool.map(one, venues))


def simulated_positions(ctx, venues: Sequence[Any]) -> list[VenuePositions]:
    """The ``--dry-run`` simulations of real venues that hold something (their paper stores), no network."""
    from .paper import PaperBroker

    found = []
    for venue in venues:
        store = ctx.home / "paper" / f"{venue.name}.json"
        if venue.info.paper or not store.exists():
            continue
        held = PaperBroker(store, venue.name).positions()
        if held:
            found.append(VenuePositions(simulated_name(venue.name), True, held))
    return found


def positions_report(answers: Sequence[VenuePositions], holdings: dict[tuple[str, str, str], Holding]) -> dict:
    """The ``gps positions --json`` object: per venue, each position with the executions that hold it.

    ``{"venues": [{"venue", "available", "status", "error", "positions": [{"instrument", "quantity",
    "average_price", "price_currency", "mark_price", "unrealized_pnl_usd", "executions":
    [{"execution_id", "quantity"}]}]}]}`` — numbers as strings, ``null`` where unknown.
    ``status``: ``ok`` (the venue answered), ``unavailable`` (its plugin has no
    ``gps_positions``), ``not_configured`` (a live venue with none of its credentials set: it
    was not asked) or ``failed`` (it could not be asked: ``error`` says why);
    ``available`` is true only for ``ok``.
    ``executions`` lists each execution whose journaled fills still hold a non-zero quantity of
    that instrument on that venue. A venue with ``gps_settlements`` also gives ``settled``: the
    positions it settled at expiry (:meth:`~gps_core.model.Settlement.to_json`), no longer held.
    """
    by_place: dict[tuple[str, str], list[Holding]] = {}
    for holding in holdings.values():
        if holding.quantity != 0:
            by_place.setdefault((holding.place, holding.symbol), []).append(holding)
    venues = []
    for answer in answers:
        rows = []
        for p in sorted(answer.positions, key=lambda p: p.symbol):
            owners = sorted(by_place.get((answer.venue, p.symbol), []), key=lambda h: h.execution_id)
            rows.append({
                "instrument": p.symbol, "quantity": _text(p.quantity), "price_currency": p.price_currency,
                "average_price": _text(p.average_price), "mark_price": _text(p.mark_price),
                "unrealized_pnl_usd": _text(p.unrealized_pnl_usd, "0.01"),
                "executions": [{"execution_id": h.execution_id, "quantity": _text(h.quantity)} for h in owners],
            })
        status = ("not_configured" if not answer.configured else "unavailable" if not answer.available
                  else "failed" if answer.error else "ok")
        venues.append({"venue": answer.venue, "available": status == "ok", "status": status, "error": answer.error,
                       "positions": rows, "settled": [s.to_json() for s in answer.settled]})
    return {"venues": venues}


def _text(value: Decimal | None, places: str | None = None) -> str | None:
    if value is None:
        return None
    if places is not None:
        value = value.quantize(Decimal(places))
    elif value.as_tuple().exponent < -10:  # type: ignore[operator]
        value = value.quantize(Decimal("1e-10"))
    text = f"{value:f}"
    if "." in text and places is None:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def still_held(home: Path, paper_venues: Iterable[str], execution_id: str,
               venue_held: Callable[[str], dict[str, Decimal] | None] | None = None) -> list[dict]:
    """What ``execution_id`` still holds by its journals (its fills, unwinds and closes), per venue and instrument.

    ``[{"venue", "instrument", "venue_symbol", "side" ("buy" long / "sell" short), "quantity"}]``,
    quantities positive, flat instruments left out. Used after a close that did not complete:
    the original position minus what the closes filled, **capped by the venue's own position**
    when ``venue_held(venue) -> {symbol: signed quantity}`` can say (``None``: it cannot): an
    instrument the venue holds nothing of (or holds on the other side) is not held.
    """
    held = [h for h in journal_holdings(home, paper_venues).values()
            if h.execution_id == execution_id and h.quantity != 0]
    if venue_held is not None:
        answers: dict[str, dict[str, Decimal] | None] = {}
        for h in held:
            if h.venue not in answers:
                answers[h.venue] = venue_held(h.venue)
            at_venue = answers[h.venue]
            if at_venue is not None:
                there = at_venue.get(h.symbol, ZERO)
                same_side = there != 0 and (there > 0) == (h.quantity > 0)
                h.quantity = (min(abs(h.quantity), abs(there)) * (1 if h.quantity > 0 else -1)) if same_side else ZERO
        held = [h for h in held if h.quantity != 0]
    return [{"venue": h.place, "instrument": h.key.name if h.key is not None else h.symbol, "venue_symbol": h.symbol,
             "side": "buy" if h.quantity > 0 else "sell", "quantity": f"{abs(h.quantity).normalize():f}"}
            for h in sorted(held, key=lambda h: (h.place, h.symbol))]
