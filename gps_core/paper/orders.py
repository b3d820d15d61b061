"""The paper store's records: an order (:class:`PaperOrder`) and its executions (:class:`PaperFill`).

Plain data with their JSON form (numbers as strings); :func:`add_fill` is the position
arithmetic the store nets fills with.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from ..instruments import OptionKey
from ..model import FeeSchedule, LegFill, OrderSnapshot, Side, TimeInForce, VenueOrderStatus, utcnow
from ..money import ZERO, Money, format_decimal

@dataclass
class PaperFill:
    """One execution of a paper order."""

    price: Decimal
    quantity: Decimal
    fee: Decimal
    liquidity: str  # "taker" or "maker"

    def to_json(self) -> dict:
        return {"price": str(self.price), "quantity": str(self.quantity), "fee": str(self.fee),
                "liquidity": self.liquidity}

    @classmethod
    def from_json(cls, data: dict) -> "PaperFill":
        return cls(Decimal(data["price"]), Decimal(data["quantity"]), Decimal(data["fee"]), data["liquidity"])


@dataclass
class PaperOrder:
    """One order in the paper store (the book of record)."""

    client_order_id: str
    venue_order_id: str
    symbol: str
    side: Side
    quantity: Decimal
    limit_price: Decimal
    price_currency: str
    time_in_force: TimeInForce
    status: VenueOrderStatus
    created_at: datetime
    updated_at: datetime
    fees: FeeSchedule = FeeSchedule(ZERO, ZERO)
    underlying_value: Decimal = ZERO  # one contract's underlying in the price currency, at placement
    post_only: bool = False
    reduce_only: bool = False
    fills: list[PaperFill] = field(default_factory=list)
    reason: str | None = None
    status_checks: int = 0
    #: a combo order's legs, ``(symbol, signed ratio, reference price)``: its fills are held per
    #: leg; a fill at the combo price ``P`` is a fill of every leg at its reference price, the
    #: first leg taking the difference (``sum(ratio * price) == P``)
    combo_legs: tuple[tuple[str, int, Decimal], ...] = ()

    def leg_fills(self, fill: "PaperFill") -> list[tuple[str, Decimal, Decimal]]:
        """``(symbol, signed quantity, price)`` per leg for one fill of a combo order."""
        (first, ratio0, _), rest = self.combo_legs[0], self.combo_legs[1:]
        price0 = (fill.price - sum((r * price for _, r, price in rest), ZERO)) / ratio0
        legs = [(first, ratio0, price0)] + list(rest)
        return [(symbol, self.side.sign * r * fill.quantity, price) for symbol, r, price in legs]

    @property
    def filled_quantity(self) -> Decimal:
        return sum((f.quantity for f in self.fills), ZERO)

    @property
    def remaining(self) -> Decimal:
        return self.quantity - self.filled_quantity

    @property
    def average_price(self) -> Decimal | None:
        filled = self.filled_quantity
        if not filled:
            return None
        return plain(sum((f.price * f.quantity for f in self.fills), ZERO) / filled)

    @property
    def fee(self) -> Decimal:
        return sum((f.fee for f in self.fills), ZERO)

    def snapshot(self) -> OrderSnapshot:
        return OrderSnapshot(
            client_order_id=self.client_order_id,
            venue_order_id=self.venue_order_id,
            status=self.status,
            quantity=self.quantity,
            filled_quantity=self.filled_quantity,
            average_price=self.average_price,
            fee=Money(self.fee, self.price_currency),
            reason=self.reason,
            updated_at=self.updated_at,
            leg_fills=self._leg_fill_totals(),
        )

    def _leg_fill_totals(self) -> tuple[LegFill, ...]:
        """A combo order's fills per leg (side, quantity, average price; the fee is the order's, whole)."""
        if not self.combo_legs or not self.fills:
            return ()
        totals: dict[str, list] = {}
        for fill in self.fills:
            for symbol, signed, price in self.leg_fills(fill):
                row = totals.setdefault(symbol, [ZERO, ZERO, signed > 0])
                row[0] += abs(signed)
                row[1] += abs(signed) * price
        return tuple(LegFill(symbol, Side.BUY if bought else Side.SELL, quantity, plain(value / quantity))
                     for symbol, (quantity, value, bought) in totals.items() if quantity)

    def fill_rest_as_maker(self) -> None:
        """Fill whatever is left at the limit price (a resting order being hit), at the maker fee."""
        quantity = self.remaining
        if quantity > 0:
            fee = self.fees.fee_per_contract(self.limit_price, self.underlying_value, taker=False) * quantity
            self.fills.append(PaperFill(self.limit_price, quantity, plain(fee), "maker"))
        self.status = VenueOrderStatus.FILLED
        self.updated_at = utcnow()

    def to_json(self) -> dict:
        return {
            "client_order_id": self.client_order_id,
            "venue_order_id": self.venue_order_id,
            "symbol": self.symbol,
            "side": self.side.value,
            "quantity": str(self.quantity),
            "limit_price": str(self.limit_price),
            "price_currency": self.price_currency,
            "time_in_force": self.time_in_force.value,
            "fees": [str(self.fees.taker_rate), str(self.fees.maker_rate),
                     None if self.fees.premium_cap is None else str(self.fees.premium_cap)],
            "underlying_value": str(self.underlying_value),
            "post_only": self.post_only,
            "reduce_only": self.reduce_only,
            "status": self.status.value,
            "fills": [f.to_json() for f in self.fills],
            "reason": self.reason,
            "status_checks": self.status_checks,
            **({"combo_legs": [[symbol, ratio, str(price)] for symbol, ratio, price in self.combo_legs]}
               if self.combo_legs else {}),
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }

    @classmethod
    def from_json(cls, data: dict) -> "PaperOrder":
        return cls(
            client_order_id=data["client_order_id"],
            venue_order_id=data["venue_order_id"],
            symbol=data["symbol"],
            side=Side(data["side"]),
            quantity=Decimal(data["quantity"]),
            limit_price=Decimal(data["limit_price"]),
            price_currency=data["price_currency"],
            time_in_force=TimeInForce(data["time_in_force"]),
            status=VenueOrderStatus(data["status"]),
            created_at=datetime.fromisoformat(data["created_at"]),
            updated_at=datetime.fromisoformat(data["updated_at"]),
            fees=fees_from_json(data.get("fees")),
            underlying_value=Decimal(data.get("underlying_value", "0")),
            post_only=bool(data.get("post_only", False)),
            reduce_only=bool(data.get("reduce_only", False)),
            fills=[PaperFill.from_json(f) for f in data.get("fills", [])],
            reason=data.get("reason"),
            status_checks=int(data.get("status_checks", 0)),
            combo_legs=tuple((str(symbol), int(ratio), Decimal(price)) for symbol, ratio, price in data.get("combo_legs") or ()),
        )


def plain(value: Decimal) -> Decimal:
    """Drop trailing zeros without switching to exponent notation (``14.25000`` -> ``14.25``)."""
    return Decimal(format_decimal(value))


def add_fill(quantity: Decimal, average: Decimal, signed: Decimal, price: Decimal) -> tuple[Decimal, Decimal]:
    """A position ``(quantity, average price)`` after a fill of ``signed`` contracts at ``price``."""
    after = quantity + signed
    if quantity == 0 or (quantity > 0) == (signed > 0):
        return after, (quantity * average + signed * price) / after if after else ZERO
    if after == 0:
        return ZERO, ZERO
    if (after > 0) != (quantity > 0):
        return after, price
    return after, average


def option_key(symbol: str):
    try:
        return OptionKey.parse(symbol)
    except Exception:  # noqa: BLE001 - a symbol that is not an option name has no key
        return None


def fees_from_json(data: list | None) -> FeeSchedule:
    if not data:
        return FeeSchedule(ZERO, ZERO)
    taker, maker, cap = data
    return FeeSchedule(Decimal(taker), Decimal(maker), None if cap is None else Decimal(cap))
