"""An Aevo order's fees: what Aevo charged for its fills, or else the fee schedule's estimate.

Aevo's order objects carry no fee. Its ``GET /trade-history`` rows do: ``fees``, the fee paid
for that fill as a decimal string in USDC (OpenAPI ``fees_response``, e.g. ``"12.23"``), with
the ``order_id`` it belongs to (Aevo changelog, release v1.1.1), its ``amount`` and its
``trade_type`` (``trade``, or ``liquidation`` / ``settlement`` / ``funding``). A taker order
gets one row per resting order it matched (release v1.1.1). The hummingbot Aevo connector
reads fills' fees the same way (``fees`` of the rows whose ``order_id`` is the order's).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Iterable

from gps_core.api import VenueInstrument
from gps_core.api import ZERO, to_decimal

#: Aevo charges fees in USDC; gps reports USD (USDC is counted at par, as for prices).
CURRENCY = "USD"


@dataclass(frozen=True)
class Charged:
    """The fees Aevo reported for one order's fills, how many contracts those fills cover, and
    the fills' notional (``price`` x ``amount`` summed over the rows that carry a price)."""

    fees: Decimal
    amount: Decimal
    notional: Decimal = ZERO
    priced: Decimal = ZERO  # contracts of the rows that carry a price

    @property
    def average_price(self) -> Decimal | None:
        """The fills' average price, when every fill counted carries its price."""
        if self.amount <= 0 or self.priced != self.amount:
            return None
        return self.notional / self.amount


def charged(rows: Iterable[dict], order_id: str) -> Charged:
    """Sum ``fees`` and ``amount`` over the ``trade`` rows of ``order_id`` (lower-case ``0x`` hex).

    :raises InvalidReply: a matching row without a usable ``fees`` or ``amount``.
    """
    fees = amount = notional = priced = ZERO
    for row in rows:
        if str(row.get("order_id") or "").lower() != order_id:
            continue
        if str(row.get("trade_type") or "trade") != "trade":
            continue
        fees += to_decimal(row.get("fees"), field="trade fees")
        size = to_decimal(row.get("amount"), field="trade amount")
        amount += size
        if row.get("price") not in (None, ""):
            notional += to_decimal(row["price"], field="trade price") * size
            priced += size
    return Charged(fees, amount, notional, priced)


def estimate(instrument: VenueInstrument, quantity: Decimal, price: Decimal, underlying_value: Decimal) -> Decimal:
    """The schedule's fee for ``quantity`` contracts filled at ``price``, at the taker rate (the higher one)."""
    return instrument.fees.fee_per_contract(price, underlying_value, taker=True) * quantity
