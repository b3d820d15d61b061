"""What a combo order holds, per leg: a combo position is never named as the combo itself.

A combo order bought (sold) ``quantity`` holds, for every leg of the combo, ``|ratio| x quantity``
of that leg's instrument, long when ``ratio x side`` is positive (see :class:`~gps_core.model.ComboLeg`).
Exposure reports (kept positions, residuals after a failed unwind, open positions found by
``recover``) expand a combo order through :func:`per_leg_exposure` so the trader sees every leg.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Mapping

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
