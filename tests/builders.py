"""Builders for core tests: instruments and books."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal as D

from gps_core.instruments import OptionKey, OptionType
from gps_core.model import BookLevel, FeeSchedule, OrderBook, TickRule, VenueInstrument, utcnow

FUTURE = (utcnow() + timedelta(days=60)).date()


def key(strike="100000", option_type="C", underlying="BTC", expiry: date = FUTURE) -> OptionKey:
    return OptionKey(underlying, expiry, D(strike), OptionType(option_type))


def usd_instrument(venue="usdv", k: OptionKey | None = None, tick="0.1", min_qty="0.01", step="0.01", **kw) -> VenueInstrument:
    k = k or key()
    return VenueInstrument(venue=venue, key=k, symbol=k.name, price_currency="USD", tick_size=D(tick),
                           min_quantity=D(min_qty), quantity_step=D(step),
                           fees=kw.pop("fees", FeeSchedule(D("0.0003"), D("0.0003"), D("0.125"))), **kw)


def coin_instrument(venue="coinv", k: OptionKey | None = None, **kw) -> VenueInstrument:
    k = k or key()
    return VenueInstrument(venue=venue, key=k, symbol=k.name, price_currency=k.underlying, tick_size=D("0.0001"),
                           tick_steps=(TickRule(D("0.005"), D("0.0005")),), min_quantity=D("0.1"),
                           quantity_step=D("0.1"), fees=FeeSchedule(D("0.0003"), D("0.0003"), D("0.125")), **kw)


def book(instrument: VenueInstrument, bids=(), asks=(), usd_per_unit="1", index="100000") -> OrderBook:
    return OrderBook(instrument=instrument,
                     bids=tuple(BookLevel(D(p), D(q)) for p, q in bids),
                     asks=tuple(BookLevel(D(p), D(q)) for p, q in asks),
                     usd_per_unit=D(usd_per_unit), index_price=D(index))


def closed_port_url() -> str:
    """A local URL nothing listens on: a venue that is down (connection refused)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def paper_orders(home) -> list[dict]:
    """The dry-run venue's book of record: every order in ``<GPS_HOME>/dryrun/orders.json``."""
    import json
    from pathlib import Path

    store = Path(home) / "dryrun" / "orders.json"
    return json.loads(store.read_text())["orders"] if store.exists() else []


def paper_broker(home):
    """The dry-run venue's paper broker over ``<GPS_HOME>``: its store is the book of record."""
    import gps_venue_dryrun

    return gps_venue_dryrun.DryRunVenue(environ={"GPS_HOME": str(home)}).broker()


def paper_held(home) -> dict:
    """What the dry-run venue holds: ``{symbol: signed quantity}``."""
    return {p.symbol: p.quantity for p in paper_broker(home).positions()}


def paper_open_orders(home) -> list:
    """The dry-run venue's orders still open."""
    return [o for o in paper_broker(home).orders() if o.status.value == "open"]
