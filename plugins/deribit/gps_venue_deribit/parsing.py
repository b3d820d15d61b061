"""Deribit replies -> gps model objects. Every number goes through ``to_decimal``.

A reply that lacks a field gps needs, or carries an impossible value, raises
:class:`~gps_core.errors.InvalidReply` (an "outcome unknown"): nothing is guessed.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

from gps_core.api import BadInput, InvalidReply
from gps_core.api import OptionKey, OptionType
from gps_core.api import (
    BookLevel,
    FeeSchedule,
    OrderBook,
    OrderSnapshot,
    TickRule,
    VenueInstrument,
    VenueOrderStatus,
)
from gps_core.api import ZERO, Money, to_decimal

from .config import VENUE
#: Option fees are capped at 12.5% of the option price (Deribit fee schedule).
PREMIUM_CAP = Decimal("0.125")

#: Price currencies worth one USD each (Deribit's linear options are priced in USDC).
USD_LIKE = ("USDC", "USD")

ORDER_STATES = {
    "open": VenueOrderStatus.OPEN,
    "untriggered": VenueOrderStatus.OPEN,
    "triggered": VenueOrderStatus.OPEN,
    "filled": VenueOrderStatus.FILLED,
    "cancelled": VenueOrderStatus.CANCELLED,
    "rejected": VenueOrderStatus.REJECTED,
}


def _field(row: dict, name: str, what: str):
    if not isinstance(row, dict) or row.get(name) is None:
        raise InvalidReply(f"{what}: field {name!r} is missing")
    return row[name]


def _ms(value, what: str) -> datetime:
    return datetime.fromtimestamp(int(to_decimal(value, field=what)) / 1000, tz=timezone.utc)


def is_linear_row(row: dict) -> bool:
    """A linear (USDC-settled) option: ``instrument_type: linear``, or a ``BASE_USDC-...`` name."""
    name = str(row.get("instrument_name") or "")
    return row.get("instrument_type") == "linear" or "_" in name.split("-")[0]


def instrument_from_row(row: dict) -> VenueInstrument | None:
    """A ``public/get_instruments`` option row -> :class:`VenueInstrument` (``None`` if not an option).

    Inverse rows (``BTC-...``) get a plain key; linear rows (``SOL_USDC-...``) a key with
    ``settlement="USDC"``, so the two never match each other. Prices are in ``quote_currency``
    (the coin, or USDC per coin). ``contract_size`` is 1 for both: gps's quantity for a Deribit
    option is Deribit's ``amount``, in coins of the underlying (the API reference's unit for
    option amounts); Deribit's own multiplier (SOL 10, XRP 1000: ``contracts = amount /
    contract_size``) shows up only in ``min_trade_amount``.
    """
    if not isinstance(row, dict) or row.get("kind") != "option":
        return None
    name = str(_field(row, "instrument_name", "instrument"))
    what = f"instrument {name}"
    expires_at = _ms(_field(row, "expiration_timestamp", what), f"{what} expiration_timestamp")
    option_type = {"call": OptionType.CALL, "put": OptionType.PUT}.get(row.get("option_type"))
    if option_type is None:
        raise InvalidReply(f"{what}: option_type {row.get('option_type')!r} is not call/put")
    root = name.split("-")[0]
    linear = is_linear_row(row)
    underlying = str(row.get("base_currency") or root.split("_")[0])
    settlement = str(row.get("settlement_currency") or root.partition("_")[2]) if linear else ""
    strike = to_decimal(_field(row, "strike", what), field=f"{what} strike")
    if strike <= 0:  # seen on some linear rows: the name still carries the strike
        try:
            strike = OptionKey.parse(name).strike
        except BadInput:
            raise InvalidReply(f"{what}: strike {strike} is not positive") from None
    key = OptionKey(underlying, expires_at.date(), strike, option_type, settlement)
    steps = tuple(
        TickRule(to_decimal(_field(s, "above_price", what), field=f"{what} above_price"),
                 to_decimal(_field(s, "tick_size", what), field=f"{what} tick_size"))
        for s in row.get("tick_size_steps") or ()
    )
    min_amount = to_decimal(_field(row, "min_trade_amount", what), field=f"{what} min_trade_amount")
    tick = to_decimal(_field(row, "tick_size", what), field=f"{what} tick_size")
    if tick <= 0 or min_amount <= 0 or any(s.tick <= 0 for s in steps):
        raise InvalidReply(f"{what}: tick size and minimum amount must be positive")
    return VenueInstrument(
        venue=VENUE,
        key=key,
        symbol=name,
        price_currency=str(row.get("quote_currency") or settlement or underlying),
        tick_size=tick,
        tick_steps=steps,
        min_quantity=min_amount,
        quantity_step=min_amount,
        contract_size=Decimal(1),
        fees=FeeSchedule(
            taker_rate=to_decimal(_field(row, "taker_commission", what), field=f"{what} taker_commission"),
            maker_rate=to_decimal(_field(row, "maker_commission", what), field=f"{what} maker_commission"),
            premium_cap=PREMIUM_CAP,
        ),
        is_active=bool(row.get("is_active", True)) and row.get("state", "open") == "open",
        expires_at=expires_at,
        venue_id=str(row["instrument_id"]) if row.get("instrument_id") is not None else None,
    )


def _levels(rows, what: str, *, combo: bool = False) -> tuple[BookLevel, ...]:
    """A book side's ``[price, amount]`` rows as levels; raises :class:`InvalidReply` (one line, the
    venue's numbers as it sent them) for a row that is not a level or cannot be one.

    A combo's price is the net of its legs, so a venue could quote one below zero; Deribit does
    not document whether its combo books do, or how such an order would be priced and settled, so
    a combo book quoted at zero or below is refused (gps then legs, or ``--combo always`` refuses).
    """
    levels = []
    for row in rows or ():
        if not isinstance(row, (list, tuple)) or len(row) < 2:
            raise InvalidReply(f"{what}: a level is not [price, amount] ({_shown(row)})")
        price, amount = to_decimal(row[0], field=f"{what} price"), to_decimal(row[1], field=f"{what} amount")
        if combo and price <= 0 and amount >= 0:
            raise InvalidReply(f"{what} is quoted at {price:f} (zero or below): Deribit does not document negative "
                               "combo prices, so gps does not trade this combo")
        if price <= 0 or amount < 0:
            raise InvalidReply(f"{what}: impossible level: price {price:f}, amount {amount:f}")
        if amount > 0:
            levels.append(BookLevel(price, amount))
    return tuple(levels)


def _shown(value, limit: int = 60) -> str:
    """A venue value for a one-line message: its JSON-like text, never a Python repr, cut at ``limit``."""
    import json

    try:
        text = json.dumps(value, default=str)
    except (TypeError, ValueError):
        text = str(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def book_from_result(instrument: VenueInstrument, result: dict, depth: int,
                     index_price: Decimal | None = None) -> OrderBook:
    """A ``public/get_order_book`` result -> :class:`OrderBook`.

    Inverse options are priced in the coin, valued in USD with the index (``usd_per_unit`` =
    ``index_price``). Linear options are priced in USDC, taken as USD one for one
    (``usd_per_unit`` = 1); their ``index_price`` is the coin's USDC index (``sol_usdc``).
    """
    what = f"order book {instrument.symbol}"
    if not isinstance(result, dict):
        raise InvalidReply(f"{what}: result is not an object")
    index = index_price if index_price is not None else to_decimal(_field(result, "index_price", what),
                                                                    field=f"{what} index_price")
    if index <= 0:
        raise InvalidReply(f"{what}: index price {index} is not positive")
    combo = instrument.is_combo
    bids = sorted(_levels(result.get("bids"), what, combo=combo), key=lambda l: l.price, reverse=True)[:depth]
    asks = sorted(_levels(result.get("asks"), what, combo=combo), key=lambda l: l.price)[:depth]
    timestamp = result.get("timestamp")
    return OrderBook(
        instrument=instrument,
        bids=tuple(bids),
        asks=tuple(asks),
        usd_per_unit=Decimal(1) if instrument.price_currency in USD_LIKE else index,
        index_price=index,
        **({"timestamp": _ms(timestamp, f"{what} timestamp")} if timestamp is not None else {}),
        mark_price=_optional_price(result.get("mark_price")),
        mark_iv=_optional_iv(result.get("mark_iv")),
        bid_iv=_optional_iv(result.get("bid_iv")) if bids else None,
        ask_iv=_optional_iv(result.get("ask_iv")) if asks else None,
    )


def _optional_price(value) -> Decimal | None:
    """A market-data price gps only shows (``mark_price``): ``None`` when absent or not a number >= 0."""
    try:
        price = to_decimal(value, field="mark_price") if value is not None else None
    except Exception:  # noqa: BLE001 - informational field: a bad value is left out, not an error
        return None
    return price if price is not None and price >= 0 else None


def _optional_iv(value) -> Decimal | None:
    """Deribit's ``mark_iv`` / ``bid_iv`` / ``ask_iv`` (percent, ``44.29``) as a fraction (``0.4429``).

    ``None`` when absent, zero (Deribit sends ``0`` for an empty side) or not a number.
    """
    try:
        percent = to_decimal(value, field="iv") if value is not None else None
    except Exception:  # noqa: BLE001 - informational field
        return None
    return percent / 100 if percent is not None and percent > 0 else None


def trades_fee(trades, currency_hint: str) -> Money | None:
    """Sum of ``fee`` over trades (``None`` without trades). Mixed currencies are refused."""
    rows = trades.get("trades") if isinstance(trades, dict) else trades
    if not rows:
        return None
    total, currency = ZERO, None
    for trade in rows:
        fee = to_decimal(_field(trade, "fee", "trade"), field="trade fee")
        fee_currency = str(trade.get("fee_currency") or currency_hint)
        if currency not in (None, fee_currency):
            raise InvalidReply(f"trades carry fees in {currency} and {fee_currency}")
        currency = fee_currency
        total += fee
    return Money(total, currency or currency_hint)


def snapshot_from_order(order: dict, *, client_order_id: str, fee: Money | None = None) -> OrderSnapshot:
    """A Deribit order object -> :class:`OrderSnapshot`. A partial fill is ``open`` with a fill."""
    what = f"order {client_order_id}"
    state = _field(order, "order_state", what)
    status = ORDER_STATES.get(state)
    if status is None:
        raise InvalidReply(f"{what}: unknown order_state {state!r}")
    quantity = to_decimal(_field(order, "amount", what), field=f"{what} amount")
    filled = to_decimal(order.get("filled_amount", 0), field=f"{what} filled_amount")
    average = None
    if filled > 0:
        average = to_decimal(_field(order, "average_price", what), field=f"{what} average_price")
    updated = order.get("last_update_timestamp")
    return OrderSnapshot(
        client_order_id=client_order_id,
        venue_order_id=str(_field(order, "order_id", what)),
        status=status,
        quantity=quantity,
        filled_quantity=filled,
        average_price=average,
        fee=fee,
        reason=order.get("cancel_reason") or order.get("reject_reason"),
        **({"updated_at": _ms(updated, f"{what} last_update_timestamp")} if updated is not None else {}),
    )
