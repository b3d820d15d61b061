"""Open option positions from ``private/get_positions`` (scope ``trade:read``).

Request: ``{currency, kind: "option"}``, one call per listing currency (``BTC``, ``ETH`` for
the inverse options, ``USDC`` for the linear ones). Reply: a list of position objects, of
which gps reads (Deribit API v2 reference, ``private/get_positions``; the same fields appear in
ccxt's and several client libraries' Deribit position models):

* ``instrument_name``; ``kind`` (``option``);
* ``size``: signed, in contracts (coins for the inverse options): negative is short;
  ``direction``: ``buy``, ``sell`` or ``zero`` (checked against the sign of ``size``);
* ``average_price`` and ``mark_price``: in the coin for inverse options, in USDC for linear;
* ``floating_profit_loss``: unrealised P&L in the same currency; ``index_price`` in USD.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Callable

from gps_core.api import InvalidReply
from gps_core.api import OptionKey
from gps_core.api import Position
from gps_core.api import to_decimal

from .config import VENUE
from .listing import LINEAR_SETTLEMENT, LISTING_CURRENCIES
from .parsing import is_linear_row


def currencies_for(underlying: str | None) -> tuple[str, ...]:
    """The ``currency`` values to ask for ``underlying`` (``None``: every listing currency)."""
    if underlying is None:
        return LISTING_CURRENCIES
    coin = underlying.upper().partition("_")[0]
    return (coin, LINEAR_SETTLEMENT) if coin in LISTING_CURRENCIES else (LINEAR_SETTLEMENT,)


def _optional(row: dict, name: str) -> Decimal | None:
    value = row.get(name)
    return None if value is None else to_decimal(value, field=f"position {name}")


def position_from_row(row: dict) -> Position | None:
    """One ``private/get_positions`` row -> :class:`Position`; ``None`` for a flat or non-option row."""
    if not isinstance(row, dict) or not isinstance(row.get("instrument_name"), str):
        raise InvalidReply("private/get_positions: a row has no instrument_name")
    if row.get("kind", "option") != "option":
        return None
    name = row["instrument_name"]
    size = to_decimal(row.get("size"), field=f"{name} size")
    if size == 0:
        return None
    direction = row.get("direction")
    if direction in ("buy", "sell") and (size > 0) != (direction == "buy"):
        raise InvalidReply(f"private/get_positions: {name} size {size} contradicts direction {direction}")
    linear = is_linear_row(row)
    index = _optional(row, "index_price")
    try:
        key = OptionKey.parse(name)
    except Exception:  # noqa: BLE001 - a name gps cannot parse still shows, without a key
        key = None
    return Position(
        venue=VENUE, symbol=name, quantity=size,
        price_currency=LINEAR_SETTLEMENT if linear else name.split("-")[0],
        average_price=_optional(row, "average_price"), mark_price=_optional(row, "mark_price"),
        usd_per_unit=Decimal(1) if linear else index, unrealized_pnl=_optional(row, "floating_profit_loss"),
        key=key)


def fetch_positions(call: Callable[[str, dict], object], underlying: str | None = None) -> list[Position]:
    """Every open option position on ``underlying`` (or all), one ``private/get_positions`` per currency."""
    found: dict[str, Position] = {}
    coin = underlying.upper().partition("_")[0] if underlying else None
    for currency in currencies_for(underlying):
        rows = call("private/get_positions", {"currency": currency, "kind": "option"})
        if not isinstance(rows, list):
            raise InvalidReply("private/get_positions: result is not a list")
        for row in rows:
            position = position_from_row(row)
            if position is None or (coin and position.symbol.partition("-")[0].partition("_")[0] != coin):
                continue
            found[position.symbol] = position
    return list(found.values())
