"""Paper combos on the dry-run market: several legs as one order, so ``--venue dryrun`` and the
offline demo show a combo execution.

The paper market quotes a combo at exactly the price of legging it (its book is the legs'
best levels combined with their ratios, sized by the thinnest leg), so a combo is never better
than the legs here, only no worse: ``--combo auto`` picks it. The combo instrument's symbol is
derived from its legs (``BTC-COMBO-<hash>``); its tick, minimum and step are the legs'. Fills
are matched by the paper broker against that book; each fill is reported per leg at the legs'
touch prices (the first leg takes any difference to the combo's price), with the legs' own fees.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

from gps_core.model import (
    BookLevel,
    ComboLeg,
    ComboOffer,
    FeeSchedule,
    LegFill,
    OrderBook,
    OrderRequest,
    OrderSnapshot,
    Side,
    VenueInstrument,
)
from gps_core.money import ZERO, Money

from .market import FEES

MAX_LEGS = 4


def _listed(market, symbol: str) -> VenueInstrument | None:
    underlying = symbol.split("-", 1)[0]
    return next((i for i in market.instruments(underlying) if i.symbol == symbol), None)


def combo_instrument(market, legs: list[ComboLeg]) -> VenueInstrument | None:
    """The paper combo of ``legs`` (``None`` if a leg is not listed, or the legs differ in currency)."""
    if not 2 <= len(legs) <= MAX_LEGS or len({leg.symbol for leg in legs}) != len(legs):
        return None
    listed = [_listed(market, leg.symbol) for leg in legs]
    if any(i is None for i in listed) or len({i.price_currency for i in listed}) != 1:
        return None
    first = listed[0]
    digest = hashlib.sha1(",".join(f"{leg.ratio}*{leg.symbol}" for leg in legs).encode()).hexdigest()[:10]
    return replace(
        first,
        symbol=f"{first.key.underlying}-COMBO-{digest}",
        min_quantity=max(i.min_quantity for i in listed),
        quantity_step=max(i.quantity_step for i in listed),
        fees=FeeSchedule(ZERO, ZERO),  # the legs' fees are added per leg fill
        tick_steps=(),
        expires_at=min(i.expires_at or i.key.expiry_datetime for i in listed),
        combo_legs=tuple(legs),
    )


def combo_book(market, instrument: VenueInstrument) -> OrderBook:
    """The legs' best levels combined: an ask to buy the combo, a bid to sell it."""
    ask, bid, size, first = ZERO, ZERO, None, None
    for leg in instrument.combo_legs:
        listed = _listed(market, leg.symbol)
        book = market.book(listed, 1)
        first = first or book
        if not book.bids or not book.asks:
            return OrderBook(instrument, (), (), book.usd_per_unit, book.index_price)
        buy, sell = (book.asks[0], book.bids[0]) if leg.ratio > 0 else (book.bids[0], book.asks[0])
        ask += leg.ratio * buy.price
        bid += leg.ratio * sell.price
        room = min(buy.quantity, sell.quantity) / abs(leg.ratio)
        size = room if size is None else min(size, room)
    bids = (BookLevel(bid, size),) if bid > 0 else ()
    asks = (BookLevel(ask, size),) if ask > 0 else ()
    return OrderBook(instrument, bids, asks, first.usd_per_unit, first.index_price)


def offer(market, legs: list[ComboLeg]) -> ComboOffer | None:
    instrument = combo_instrument(market, legs)
    return None if instrument is None else ComboOffer(instrument, combo_book(market, instrument))


def leg_prices(market, order: OrderRequest) -> dict:
    """Each leg's touch price for ``order``'s side of the combo (ask for a leg bought, bid for one sold)."""
    prices = {}
    for leg in order.instrument.combo_legs:
        book = market.book(_listed(market, leg.symbol), 1)
        bought = leg.ratio * order.side.sign > 0
        prices[leg.symbol] = book.asks[0].price if bought else book.bids[0].price
    return prices


def with_leg_fills(snapshot: OrderSnapshot, order: OrderRequest, stored=None) -> OrderSnapshot:
    """A paper combo fill reported per leg, with the legs' fees (the snapshot's fee is their sum).

    The legs' prices are the reference prices stored with the order (``stored``, a
    :class:`~gps_core.paper.PaperOrder`) at placement, so the report does not change when the
    market moves or a leg expires; the first leg takes any difference to the combo's price.
    """
    if snapshot.filled_quantity <= 0 or snapshot.average_price is None or stored is None or not stored.combo_legs:
        return snapshot
    from gps_core.paper import PaperFill

    whole = PaperFill(snapshot.average_price, snapshot.filled_quantity, ZERO, "taker")
    fills, total = [], ZERO
    for symbol, signed, price in stored.leg_fills(whole):
        fee = FEES.fee_per_contract(price, stored.underlying_value) * abs(signed)
        total += fee
        fills.append(LegFill(symbol, Side.BUY if signed > 0 else Side.SELL, abs(signed), price,
                             Money(fee, order.instrument.price_currency)))
    return replace(snapshot, leg_fills=tuple(fills), fee=Money(total, order.instrument.price_currency))
