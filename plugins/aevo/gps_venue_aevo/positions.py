"""Open option positions from ``GET /positions`` (private, HMAC headers).

The position object, as Aevo documents it (API reference, the ``positions`` channel's
"Position object"; the same fields in Aevo4J's ``Position``): ``instrument_id``,
``instrument_name``, ``instrument_type`` (``OPTION`` | ``PERPETUAL``), ``amount`` (contracts),
``side`` (``buy`` | ``sell``), ``avg_entry_price``, ``mark_price``, ``unrealized_pnl``
(USD), ``asset``, ``option`` {strike, option_type, expiry, iv, greeks}. Prices are in USD
(USDC). The REST reply wraps them as ``{"positions": [...]}``; a bare list is read too.

The docs say both "a negative amount means net short" and give ``side``; gps takes a negative
``amount`` as short whatever ``side`` says, and otherwise the sign of ``side``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from gps_core.api import InvalidReply
from gps_core.api import OptionKey
from gps_core.api import Position
from gps_core.api import to_decimal

from .config import VENUE


def _optional(row: dict, name: str) -> Decimal | None:
    value = row.get(name)
    return None if value in (None, "") else to_decimal(value, field=f"position {name}")


def position_from_row(row: Any) -> Position | None:
    """One position object -> :class:`Position`; ``None`` for a flat one or a perpetual."""
    if not isinstance(row, dict) or not isinstance(row.get("instrument_name"), str):
        raise InvalidReply("GET /positions: a position has no instrument_name")
    if str(row.get("instrument_type", "OPTION")).upper() != "OPTION":
        return None
    name = row["instrument_name"]
    amount = to_decimal(row.get("amount"), field=f"{name} amount")
    side = row.get("side")
    if amount > 0 and side not in ("buy", "sell"):
        raise InvalidReply(f"GET /positions: {name} has side {side!r}")
    quantity = amount if amount < 0 else (amount if side == "buy" else -amount)
    if quantity == 0:
        return None
    try:
        key = OptionKey.parse(name)
    except Exception:  # noqa: BLE001
        key = None
    return Position(venue=VENUE, symbol=name, quantity=quantity, price_currency="USD",
                    average_price=_optional(row, "avg_entry_price"), mark_price=_optional(row, "mark_price"),
                    usd_per_unit=Decimal(1), unrealized_pnl=_optional(row, "unrealized_pnl"), key=key)


def parse_positions(raw: Any, underlying: str | None = None) -> list[Position]:
    """The reply of ``GET /positions`` -> open option positions (on ``underlying`` only, if given)."""
    rows = raw.get("positions") if isinstance(raw, dict) else raw
    if not isinstance(rows, list):
        raise InvalidReply("GET /positions: no positions list in the reply")
    found = [p for p in (position_from_row(r) for r in rows) if p is not None]
    if underlying:
        found = [p for p in found if p.symbol.split("-")[0] == underlying.upper()]
    return found
