"""The option chain across venues: listed expiries, and strikes with bid/ask/mark/IV per venue.

``gps chain`` drives it; :func:`nearest_listed` also tells a leg naming an unlisted expiry or
strike which ones are listed. Venue calls go through ``gps_list_instruments`` and
``gps_order_book``; books are fetched concurrently by a bounded pool. Prices are in each
venue's price currency with their USD value (``OrderBook.usd_per_unit``).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Callable, Sequence

from .instruments import MONTHS, OptionKey
from .model import OrderBook, VenueInstrument
from .routing import short_line

#: Books fetched at once, across venues: enough to be quick, few enough for the venues' rate limits.
BOOK_WORKERS = 8
#: Progress on stderr starts after this many seconds, then once per interval.
PROGRESS_AFTER = 1.0


def expiry_code(day: date) -> str:
    """``25DEC26``: the expiry as instrument names write it."""
    return f"{day.day}{MONTHS[day.month - 1]}{day.year % 100:02d}"


def _text(value: Decimal | None) -> str | None:
    return None if value is None else ("0" if value == 0 else f"{value.normalize():f}")


def _usd(value: Decimal | None) -> str | None:
    return None if value is None else f"{value.quantize(Decimal('0.01')):f}"


@dataclass(frozen=True)
class Listings:
    """Each venue's live options on one underlying, and the venues that could not list them."""

    underlying: str
    by_venue: dict[str, list[VenueInstrument]]
    failures: dict[str, str]

    def expiries(self) -> list[date]:
        return sorted({i.key.expiry for rows in self.by_venue.values() for i in rows})


def list_everywhere(venues: Sequence[Any], underlying: str) -> Listings:
    """``gps_list_instruments(underlying)`` on every venue at once. Never raises for one venue."""
    underlying = underlying.upper()

    def one(venue) -> tuple[str, list[VenueInstrument] | None, str | None]:
        traded = venue.info.underlyings
        if traded and underlying.split("_")[0] not in traded:
            return venue.name, [], None
        try:
            return venue.name, list(venue.list_instruments(underlying)), None
        except Exception as exc:  # noqa: BLE001 - one venue down must not hide the others
            return venue.name, None, short_line(f"listing failed: {exc}")

    by_venue, failures = {}, {}
    if venues:
        with ThreadPoolExecutor(max_workers=len(venues), thread_name_prefix="gps-chain") as pool:
            for name, rows, error in pool.map(one, venues):
                if error:
                    failures[name] = error
                else:
                    by_venue[name] = [i for i in rows if i.is_active]  # the venue drops expired ones by its own clock
    return Listings(underlying, by_venue, failures)


def expiries_json(listings: Listings) -> list[dict]:
    """One row per listed expiry: ``{expiry: "2026-12-25", code: "25DEC26", strikes: {venue: count}}``
    (distinct strikes each venue lists for that expiry, calls and puts together)."""
    rows = []
    for day in listings.expiries():
        counts = {venue: len({i.key.strike for i in rows_ if i.key.expiry == day})
                  for venue, rows_ in sorted(listings.by_venue.items())}
        rows.append({"expiry": day.isoformat(), "code": expiry_code(day),
                     "strikes": {v: n for v, n in counts.items() if n}})
    return rows


def nearest_expiries(day: date, listed: Sequence[date], count: int = 2) -> list[date]:
    """The ``count`` listed expiries closest to ``day``, in date order."""
    return sorted(sorted(set(listed), key=lambda d: (abs((d - day).days), d))[:count])


def nearest_listed(key: OptionKey, instruments: Sequence[VenueInstrument]) -> str | None:
    """Which listed options are nearest to an unlisted ``key``, on one line, or ``None`` when the venue
    lists nothing of its underlying and type: ``nearest expiries 25DEC26, 1JAN27`` when the expiry is
    not listed, ``nearest strikes on 25DEC26: 100000, 105000`` when only the strike is not."""
    kind = [i.key for i in instruments if i.key.underlying == key.underlying and i.key.option_type == key.option_type]
    same = [k for k in kind if k.settlement == key.settlement]
    if not same and not key.settlement:
        # a plain name means the venue's standard listing of the coin (Deribit SOL: the SOL_USDC
        # options), which is what the venue listed for it
        same = kind
    if not same:
        return None
    expiries = sorted({k.expiry for k in same})
    if key.expiry not in expiries:
        return "nearest expiries " + ", ".join(expiry_code(d) for d in nearest_expiries(key.expiry, expiries))
    strikes = sorted({k.strike for k in same if k.expiry == key.expiry})
    below = [s for s in strikes if s < key.strike][-1:]
    above = [s for s in strikes if s > key.strike][:1]
    return f"nearest strikes on {expiry_code(key.expiry)}: " + ", ".join(_text(s) for s in below + above)


def fetch_books(venues: Sequence[Any], instruments: Sequence[VenueInstrument],
                progress: Callable[[str], None] | None = None, depth: int = 1,
                workers: int = BOOK_WORKERS) -> dict[tuple[str, str], OrderBook | str]:
    """Every instrument's book from its venue, at most ``workers`` at a time.

    Returns ``(venue, symbol) -> OrderBook``, or the error text for a book that failed. Says how
    far it got on ``progress`` once it has taken more than a second.
    """
    by_name = {v.name: v for v in venues}
    results: dict[tuple[str, str], OrderBook | str] = {}
    started, lock = time.monotonic(), threading.Lock()
    state = {"done": 0, "said": started}

    def one(instrument: VenueInstrument):
        try:
            result: OrderBook | str = by_name[instrument.venue].order_book(instrument, depth)
        except Exception as exc:  # noqa: BLE001
            result = short_line(f"book failed: {exc}", 60)
        with lock:
            state["done"] += 1
            now = time.monotonic()
            if progress and now - started >= PROGRESS_AFTER and now - state["said"] >= PROGRESS_AFTER:
                state["said"] = now
                progress(f"fetched {state['done']}/{len(instruments)} order books")
        return instrument, result

    if instruments:
        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(instruments))), thread_name_prefix="gps-book") as pool:
            for instrument, result in pool.map(one, instruments):
                results[(instrument.venue, instrument.symbol)] = result
    return results


def quote_json(instrument: VenueInstrument, book: OrderBook | str) -> dict:
    """One venue's prices for one option: venue currency and USD, IVs as fractions."""
    row: dict = {"venue": instrument.venue, "venue_symbol": instrument.symbol,
                 "price_currency": instrument.price_currency}
    if isinstance(book, str):
        return {**row, "error": book}
    unit = book.usd_per_unit
    bid = book.bids[0].price if book.bids else None
    ask = book.asks[0].price if book.asks else None
    return {
        **row, "error": None,
        "bid": _text(bid), "ask": _text(ask), "mark": _text(book.mark_price),
        "bid_usd": _usd(None if bid is None else bid * unit), "ask_usd": _usd(None if ask is None else ask * unit),
        "mark_usd": _usd(None if book.mark_price is None else book.mark_price * unit),
        "bid_size": _text(book.bids[0].quantity) if book.bids else None,
        "ask_size": _text(book.asks[0].quantity) if book.asks else None,
        "mark_iv": _text(book.mark_iv), "bid_iv": _text(book.bid_iv), "ask_iv": _text(book.ask_iv),
        "index_usd": _usd(book.index_price),
    }


def strikes_json(venues: Sequence[Any], listings: Listings, expiry: date,
                 progress: Callable[[str], None] | None = None) -> list[dict]:
    """One row per strike and type listed on ``expiry`` anywhere, with every listing venue's quote.

    Row: ``{strike, type: "C"|"P", quotes: [quote_json...], best_bid: venue|None, best_ask: venue|None}``;
    the best bid is the highest bid in USD, the best ask the lowest ask in USD (ties: venue name).
    When live and paper venues are listed together, only live venues' prices can be best (a
    paper price cannot be traded live).
    """
    paper = {v.name for v in venues if getattr(getattr(v, "info", None), "paper", False)}
    live_too = len(paper) < len({v.name for v in venues})
    chosen = [i for rows in listings.by_venue.values() for i in rows if i.key.expiry == expiry]
    books = fetch_books(venues, chosen, progress)
    grouped: dict[tuple[Decimal, str], list[dict]] = {}
    for instrument in sorted(chosen, key=lambda i: (i.key.strike, i.key.option_type.value, i.venue)):
        quote = quote_json(instrument, books[(instrument.venue, instrument.symbol)])
        grouped.setdefault((instrument.key.strike, instrument.key.option_type.value), []).append(quote)
    rows = []
    for (strike, kind), quotes in grouped.items():
        priced = [q for q in quotes if not (live_too and q["venue"] in paper)]
        bids = [q for q in priced if q.get("bid_usd") is not None]
        asks = [q for q in priced if q.get("ask_usd") is not None]
        best_bid = sorted(bids, key=lambda q: (-Decimal(q["bid_usd"]), q["venue"]))[:1]
        best_ask = sorted(asks, key=lambda q: (Decimal(q["ask_usd"]), q["venue"]))[:1]
        rows.append({"strike": _text(strike), "type": kind, "quotes": quotes,
                     "best_bid": best_bid[0]["venue"] if best_bid else None,
                     "best_ask": best_ask[0]["venue"] if best_ask else None})
    return rows
