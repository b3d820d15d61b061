"""A real venue's combo order filled on paper (``--dry-run``): its legs' prices and fees.

A combo trades at one net price; the venue reports each fill as a trade per leg. Deribit
splits the combo's price into leg prices "based on an aggregated price of the strategy and the
mark prices of the individual legs" (its ``private/get_leg_prices`` reference; the exact
algorithm is not published). A dry run follows that: every leg but the first at its mark (its
book's touch when the venue gives no mark), the first taking the difference so that
``sum(ratio x leg price) == combo price``. A leg's price is therefore not its book's touch;
only the net price is executable.

Fees are each leg's own (a combo book itself lists none on Deribit): the leg's fee schedule at
its leg price, times its quantity; a venue that waives the cheaper of the buy-leg and sell-leg
fee groups (``ComboOffer.waives_cheaper_side``) charges only the dearer group, as the plan
assumed when it compared the combo with legging it.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Callable, Mapping

from ..model import LegFill, Money, OrderBook, OrderRequest, OrderSnapshot, Side, VenueInstrument

ZERO = Decimal(0)


def leg_reference_prices(order: OrderRequest, leg_book: Callable[[str], OrderBook | None]) -> dict[str, Decimal]:
    """Venue symbol -> reference price of each leg of ``order``'s combo but the first (which takes the difference).

    ``leg_book(symbol)`` is the leg's book (``None`` when the leg is not known): its mark, else
    its touch on the leg's side of this order (ask for a leg bought, bid for one sold). A leg
    with neither is left out (the first leg then takes its share too).
    """
    prices = {}
    for leg in order.instrument.combo_legs[1:]:
        book = leg_book(leg.symbol)
        if book is None:
            continue
        if book.mark_price is not None:
            prices[leg.symbol] = book.mark_price
            continue
        levels = book.asks if leg.ratio * order.side.sign > 0 else book.bids
        if levels:
            prices[leg.symbol] = levels[0].price
    return prices


def with_leg_fees(snapshot: OrderSnapshot, order: OrderRequest, legs: Mapping[str, VenueInstrument],
                  underlying_value: Callable[[VenueInstrument], Decimal], *, waives_cheaper_side: bool) -> OrderSnapshot:
    """``snapshot`` of a paper combo order with each leg fill's fee and the order's fee their total.

    :param legs: venue symbol -> the leg's own instrument (its fee schedule). A leg not in it
        leaves the snapshot as it is (its fee cannot be known).
    :param underlying_value: one contract's underlying in the price currency, for a leg.
    :param waives_cheaper_side: charge only the dearer of the buy-leg and sell-leg groups.
    """
    if not order.instrument.is_combo or not snapshot.leg_fills or any(f.symbol not in legs for f in snapshot.leg_fills):
        return snapshot
    currency = order.instrument.price_currency
    fees = []
    for fill in snapshot.leg_fills:
        instrument = legs[fill.symbol]
        fees.append(instrument.fees.fee_per_contract(fill.price, underlying_value(instrument)) * fill.quantity)
    buys = sum((fee for fee, fill in zip(fees, snapshot.leg_fills) if fill.side is Side.BUY), ZERO)
    sells = sum((fee for fee, fill in zip(fees, snapshot.leg_fills) if fill.side is Side.SELL), ZERO)
    waived = Side.SELL if buys >= sells else Side.BUY
    fills = tuple(replace(fill, fee=Money(ZERO if waives_cheaper_side and fill.side is waived else fee, currency))
                  for fee, fill in zip(fees, snapshot.leg_fills))
    total = max(buys, sells) if waives_cheaper_side else buys + sells
    return replace(snapshot, leg_fills=fills, fee=Money(total, currency))
