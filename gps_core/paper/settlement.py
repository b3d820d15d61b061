"""Cash settlement at expiry for a paper store, as a real venue settles its options.

Deribit settles an option at 08:00 UTC on its expiry day at its intrinsic value against the
index, in cash, and the position is gone. :func:`settle_expired` does the same for a
:class:`~gps_core.paper.PaperBroker`: every position whose expiry has passed at the paper
market's clock settles at ``max(0, index - strike)`` (call) or ``max(0, strike - index)``
(put) against the index the caller gives (the paper market's; it has no history, so this is
its level when the settlement is first noticed). The settlement is recorded in the store
(instrument, quantity, settlement price, index, P&L in USD) and nets out of every position
there, so the position is no longer held and cannot be traded or closed.

An order still working on an expired instrument is cancelled first (reason ``expired``), as
a venue does at expiry; a combo order expires with its first leg. :func:`cancel_expired_orders`
does only that, for order reads (``gps status``, ``gps cancel``), which never settle a position.

It runs as one transaction under the store's locks and settles only what is still held,
so running it again, or from two processes at once, settles each position once.

Stored record (strings for numbers)::

    {"symbol", "quantity" (signed, what was held), "settlement_price", "price_currency",
     "index_usd", "settled_at" (ISO, the expiry moment), "average_price", "pnl_usd"}
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Callable

from ..instruments import OptionKey, OptionType
from ..model import Settlement, VenueOrderStatus
from ..money import ZERO

#: Price currencies worth one USD per unit; any other is the underlying coin itself.
USD_LIKE = ("USD", "USDC", "USDT")
CENT = Decimal("0.01")


def intrinsic_value(key: OptionKey, index: Decimal) -> Decimal:
    """What one contract of ``key`` is worth at expiry against ``index``, in USD."""
    if key.option_type is OptionType.CALL:
        return max(ZERO, index - key.strike)
    return max(ZERO, key.strike - index)


def settle_expired(broker, now: datetime, index_of: Callable[[str], Decimal | None]) -> list[Settlement]:
    """Settle every position of ``broker``'s store whose expiry is at or before ``now``.

    :param broker: a :class:`~gps_core.paper.PaperBroker`.
    :param now: the paper market's present (UTC).
    :param index_of: the index in USD of an underlying (``"BTC"``), or ``None`` when unknown
        (then that position is left alone until it is known).
    :returns: the settlements made by this call (``[]`` when there was nothing to settle).
    """
    def step(state) -> list[Settlement]:
        _cancel_expired(state, now)
        made = []
        for position in state.held(broker.venue):
            key = position.key
            if key is None or now < key.expiry_datetime:
                continue
            index = index_of(key.underlying)
            if index is None:
                continue
            usd = intrinsic_value(key, index)
            per_unit = Decimal(1) if position.price_currency.upper() in USD_LIKE else index
            price = usd / per_unit
            average = position.average_price
            pnl = None if average is None else ((price - average) * position.quantity * per_unit).quantize(CENT)
            record = {"symbol": position.symbol, "quantity": _text(position.quantity), "settlement_price": _text(price),
                      "price_currency": position.price_currency, "index_usd": _text(index),
                      "settled_at": key.expiry_datetime.isoformat(),
                      "average_price": None if average is None else _text(average),
                      "pnl_usd": None if pnl is None else _text(pnl)}
            state.settlements.append(record)
            made.append(settlement_of(broker.venue, record))
        return made

    return broker.transact(step)  # type: ignore[return-value]


def cancel_expired_orders(broker, now: datetime) -> int:
    """Cancel (reason ``expired``) every working order of ``broker``'s store whose instrument expired at ``now``.

    What an order read (``gps status``, ``gps cancel``) does at expiry: it needs no index and
    settles no position (positions settle where the venue is asked what it holds). Returns how
    many orders it cancelled.
    """
    return broker.transact(lambda state: _cancel_expired(state, now))  # type: ignore[return-value]


def _cancel_expired(state, now: datetime) -> int:
    count = 0
    for order in state.orders.values():
        expires = order_expiry(order.symbol, [symbol for symbol, _, _ in order.combo_legs])
        if order.status is VenueOrderStatus.OPEN and expires is not None and now >= expires:
            order.status = VenueOrderStatus.CANCELLED
            order.reason = f"expired at {expires:%Y-%m-%d %H:%M} UTC while working: cancelled by the venue"
            order.updated_at = now
            count += 1
    return count


def order_expiry(symbol: str, leg_symbols=()) -> datetime | None:
    """When an order on ``symbol`` (a combo: on ``leg_symbols``) stops trading: its (first leg's)
    expiry, UTC; ``None`` when no symbol names an option."""
    moments = [key.expiry_datetime for key in map(_key, list(leg_symbols) or [symbol]) if key is not None]
    return min(moments) if moments else None


def settlements(broker) -> list[Settlement]:
    """Every settlement recorded in ``broker``'s store, oldest first."""
    return broker.transact(lambda state: [settlement_of(broker.venue, r) for r in state.settlements])  # type: ignore


def settlement_of(venue: str, record: dict) -> Settlement:
    """A stored record as a :class:`~gps_core.model.Settlement`."""
    optional = lambda name: None if record.get(name) is None else Decimal(record[name])  # noqa: E731
    key = _key(record["symbol"])
    return Settlement(venue=venue, symbol=record["symbol"], quantity=Decimal(record["quantity"]),
                      settlement_price=Decimal(record["settlement_price"]), price_currency=record["price_currency"],
                      index_price=Decimal(record["index_usd"]), settled_at=datetime.fromisoformat(record["settled_at"]),
                      average_price=optional("average_price"), pnl_usd=optional("pnl_usd"), key=key)


def _key(symbol: str) -> OptionKey | None:
    try:
        return OptionKey.parse(symbol)
    except Exception:  # noqa: BLE001 - a symbol that is not an option name has no key
        return None


def _text(value: Decimal) -> str:
    text = f"{value.normalize():f}"
    return text
