"""What a combo order holds, per leg: a combo position is never named as the combo itself.

A combo order bought (sold) ``quantity`` holds, for every leg of the combo, ``|ratio| x quantity``
of that leg's instrument, long when ``ratio x side`` is positive (see :class:`~gps_core.model.ComboLeg`).
Exposure reports (kept positions, residuals after a failed unwind, open positions found by
``recover``) expand a combo order through :func:`per_leg_exposure` so the trader sees every leg.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Iterable, Mapping

from .model import Side, VenueInstrument


def per_leg_exposure(instrument: VenueInstrument, side: Side | str, quantity: Decimal,
                     names: Mapping[str, str] | None = None) -> list[dict]:
    """``[{instrument, venue_symbol, side, quantity}]``: what holding ``quantity`` of ``instrument`` on ``side`` means per leg.

    :param instrument: the order's instrument; a single option gives one row, a combo one row per leg.
    :param side: the side the order took (``buy`` = long the structure).
    :param quantity: the filled (or still held) quantity of the order, in the instrument's units.
    :param names: venue symbol -> canonical option name (defaults to the venue symbol).
    :returns: one row per leg; ``side`` is ``buy`` for a long leg, ``sell`` for a short one;
        ``quantity`` a :class:`Decimal`, always positive.
    """
    sign = Side(side).sign
    names = names or {}
    if not instrument.is_combo:
        return [{"instrument": instrument.display_name, "venue_symbol": instrument.symbol,
                 "side": Side(side).value, "quantity": quantity}]
    return [{"instrument": names.get(leg.symbol, leg.symbol), "venue_symbol": leg.symbol,
             "side": (Side.BUY if leg.ratio * sign > 0 else Side.SELL).value,
             "quantity": abs(leg.ratio) * quantity}
            for leg in instrument.combo_legs]


def count_filled_legs(planned: Iterable[tuple[int, str, Decimal]],
                      orders: Iterable[tuple[str, int, VenueInstrument, Decimal]]) -> tuple[int, int]:
    """``(legs filled in full, legs filled in part)`` of a strategy, a combo order's fill counted on every leg.

    :param planned: per planned leg ``(index, venue symbol, quantity)``, quantity in contracts.
    :param orders: the strategy's own orders (not unwinds) as ``(role, leg index, instrument, filled)``:
        a ``leg`` order counts for its leg index; a ``combo`` order counts ``|ratio| x filled`` on
        each leg it trades (matched by venue symbol).
    """
    filled: dict[int, Decimal] = {}
    planned = list(planned)
    index_of = {symbol: index for index, symbol, _ in planned}
    for role, leg_index, instrument, quantity in orders:
        if quantity <= 0:
            continue
        if role == "combo":
            for leg in instrument.combo_legs:
                if leg.symbol in index_of:
                    index = index_of[leg.symbol]
                    filled[index] = filled.get(index, Decimal(0)) + abs(leg.ratio) * quantity
        elif role == "leg":
            filled[leg_index] = filled.get(leg_index, Decimal(0)) + quantity
    full = sum(1 for index, _, quantity in planned if filled.get(index, Decimal(0)) >= quantity > 0)
    part = sum(1 for index, _, quantity in planned if 0 < filled.get(index, Decimal(0)) < quantity)
    return full, part
