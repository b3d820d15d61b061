"""Builders for the paper engine's tests: hand-made instruments and books, and a broker on a temporary store.

A test module takes the fixtures with ``from paper_kit import kit, make_broker, sleeps``.
"""

from datetime import date, timedelta
from decimal import Decimal

import pytest

from gps_core.instruments import OptionKey, OptionType
from gps_core.model import BookLevel, FeeSchedule, OrderBook, OrderRequest, Side, TimeInForce, VenueInstrument
from gps_core.paper import FaultPlan, PaperBroker

D = Decimal
FUTURE = date.today() + timedelta(days=60)
FEES = FeeSchedule(D("0.0003"), D("0.0003"), D("0.125"))


def instrument(symbol_strike: int = 100000, underlying: str = "BTC", option_type: str = "C") -> VenueInstrument:
    key = OptionKey(underlying, FUTURE, D(symbol_strike), OptionType(option_type))
    return VenueInstrument(venue="paper", key=key, symbol=key.name, price_currency="USD", tick_size=D("0.1"),
                           min_quantity=D("0.01"), quantity_step=D("0.01"), fees=FEES)


def book(inst: VenueInstrument, bids=(("990", "1"), ("980", "2")), asks=(("1010", "1"), ("1020", "2"),
         ("1030", "5")), index: str = "95000") -> OrderBook:
    return OrderBook(inst, tuple(BookLevel(D(p), D(q)) for p, q in bids), tuple(BookLevel(D(p), D(q)) for p, q in asks),
                     usd_per_unit=D(1), index_price=D(index))


def order(cid: str, inst: VenueInstrument, side: str = "buy", quantity: str = "0.5", price: str = "1010",
          tif: TimeInForce = TimeInForce.GTC, **extra) -> OrderRequest:
    return OrderRequest(cid, inst, Side(side), D(quantity), D(price), tif, **extra)


class Sleeps(list):
    """Records injected latency instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def kit():
    """The builders above, as one fixture."""
    from types import SimpleNamespace

    return SimpleNamespace(instrument=instrument, book=book, order=order, D=D)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def make_broker(tmp_path, sleeps):
    """``make_broker(spec="")``: a broker on a store in tmp_path (the same file on every call)."""

    def make(spec: str = "", path=None) -> PaperBroker:
        return PaperBroker(path or tmp_path / "paper" / "orders.json", "paper", FaultPlan.parse(spec), sleep=sleeps)

    return make
