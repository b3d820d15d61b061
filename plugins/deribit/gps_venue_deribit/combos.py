"""Deribit combo books: find or create the combo for a strategy's legs, its instrument and book,
and the per-leg fills of a combo order.

Deribit facts used (API reference v2.1.1 and its support pages): ``public/get_combos {currency}``
lists the active combos with their legs (``[{instrument_name, amount}]``, ``amount`` the signed
whole ratio, positive = bought with the combo); ``private/create_combo {trades:
[{instrument_name, amount, direction}]}`` returns the existing combo for the structure or
creates it; the combo id is an instrument (``public/get_instrument``, ``public/get_order_book``,
``private/buy``/``sell`` with a net premium and a ``label``, ``private/cancel``,
``private/get_order_state_by_label``); a combo fill is reported as one trade per leg
(``combo_id``, ``combo_trade_id``) and buy legs and sell legs are grouped with the cheaper
group's fees waived. Combo names (``BTC-CS-19MAY26-70000_75000``) are the venue's: nothing here
parses them.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from typing import Callable

from gps_core.api import InvalidReply
from gps_core.api import OptionKey
from gps_core.api import ComboLeg, ComboOffer, FeeSchedule, LegFill, Side, TickRule, VenueInstrument
from gps_core.api import ZERO, Money, to_decimal

from .config import VENUE
from .market import Market

MAX_LEGS = 4


def listing_currency_of(symbol: str) -> str:
    """``BTC-...`` is listed under ``BTC``; ``SOL_USDC-...`` under ``USDC``."""
    root = symbol.split("-", 1)[0].upper()
    coin, _, settlement = root.partition("_")
    return settlement or coin


def _legs_of(combo: dict) -> dict[str, int]:
    legs = combo.get("legs")
    if not isinstance(legs, list):
        raise InvalidReply(f"combo {combo.get('id')!r}: no legs")
    out = {}
    for leg in legs:
        ratio = to_decimal(leg.get("amount"), field="combo leg amount")
        if ratio != ratio.to_integral_value() or ratio == 0:
            raise InvalidReply(f"combo {combo.get('id')!r}: leg ratio {ratio} is not a whole number")
        out[str(leg.get("instrument_name"))] = int(ratio)
    return out


class Combos:
    """Combo look-ups for one connection. ``private_call`` runs a private, repeatable call
    (``Orders._safe``); it is asked for only when a combo must be created."""

    def __init__(self, market: Market, private_call: Callable[[str, dict], object]):
        self._market = market
        self._private = private_call

    def offer(self, legs: list[ComboLeg], *, create: bool, depth: int) -> ComboOffer | None:
        """The combo for ``legs`` (either direction), with its instrument and book; ``None`` if none."""
        if not 2 <= len(legs) <= MAX_LEGS:
            return None
        currencies = {listing_currency_of(leg.symbol) for leg in legs}
        if len(currencies) != 1:
            raise ValueError(f"Deribit combos cannot mix settlement currencies ({', '.join(sorted(currencies))})")
        currency = currencies.pop()
        wanted = {leg.symbol: leg.ratio for leg in legs}
        combo = self._existing(currency, wanted)
        if combo is None and create:
            trades = [{"instrument_name": leg.symbol, "amount": Decimal(abs(leg.ratio)),
                       "direction": "buy" if leg.ratio > 0 else "sell"} for leg in legs]
            combo = self._private("private/create_combo", {"trades": trades})
            if not isinstance(combo, dict) or not combo.get("id"):
                raise InvalidReply("private/create_combo: reply has no combo id")
        if combo is None:
            return None
        instrument = self.instrument(combo, legs[0].symbol, currency)
        return ComboOffer(instrument, self._market.order_book(instrument, depth), waives_cheaper_side=True)

    def _existing(self, currency: str, wanted: dict[str, int]) -> dict | None:
        rows = self._market.call("public/get_combos", {"currency": currency})
        if not isinstance(rows, list):
            raise InvalidReply("public/get_combos: result is not a list")
        negated = {s: -r for s, r in wanted.items()}
        for row in rows:
            if isinstance(row, dict) and row.get("state", "active") == "active" and _legs_of(row) in (wanted, negated):
                return row
        return None

    def instrument(self, combo: dict, first_leg: str, currency: str) -> VenueInstrument:
        """The combo as an instrument: ``public/get_instrument`` for its tick and size rules.

        Its ``key`` is its first leg's (the listing currency and expiry); its prices are in the
        currency that lists it: the coin for inverse options, USDC for linear ones.
        """
        row = self._market.call("public/get_instrument", {"instrument_name": combo["id"]})
        if not isinstance(row, dict):
            raise InvalidReply(f"public/get_instrument {combo['id']}: result is not an object")
        minimum = to_decimal(row.get("min_trade_amount"), field="combo min_trade_amount")
        expires = row.get("expiration_timestamp")
        return VenueInstrument(
            venue=VENUE,
            key=OptionKey.parse(first_leg),
            symbol=str(combo["id"]),
            price_currency=currency,
            tick_size=to_decimal(row.get("tick_size"), field="combo tick_size"),
            tick_steps=tuple(TickRule(to_decimal(s["above_price"], field="above_price"),
                                      to_decimal(s["tick_size"], field="tick_size"))
                             for s in row.get("tick_size_steps") or ()),
            min_quantity=minimum,
            quantity_step=minimum,
            contract_size=to_decimal(row.get("contract_size", 1), field="combo contract_size"),
            # The legs' fees are charged on the leg trades; the core estimates them from the legs.
            fees=FeeSchedule(ZERO, ZERO),
            is_active=bool(row.get("is_active", True)),
            expires_at=datetime.fromtimestamp(int(expires) / 1000, tz=timezone.utc) if expires else None,
            venue_id=str(row.get("instrument_id") or combo.get("instrument_id") or "") or None,
            combo_legs=tuple(ComboLeg(s, r) for s, r in _legs_of(combo).items()),
        )


def leg_fills(trades, combo: VenueInstrument) -> tuple[LegFill, ...]:
    """The leg trades of a combo order (``private/get_user_trades_by_order`` or a buy/sell reply)."""
    rows = trades.get("trades") if isinstance(trades, dict) else trades
    legs = {leg.symbol for leg in combo.combo_legs}
    fills = []
    for trade in rows or ():
        if not isinstance(trade, dict) or trade.get("instrument_name") not in legs:
            continue
        fee = trade.get("fee")
        fills.append(LegFill(
            symbol=str(trade["instrument_name"]),
            side=Side(str(trade.get("direction"))),
            quantity=to_decimal(trade.get("amount"), field="leg trade amount"),
            price=to_decimal(trade.get("price"), field="leg trade price"),
            fee=None if fee is None else Money(to_decimal(fee, field="leg trade fee"),
                                               str(trade.get("fee_currency") or combo.price_currency)),
        ))
    return tuple(fills)
