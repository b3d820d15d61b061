"""Aevo market data -> gps model: ``/markets`` entries, ``/orderbook`` snapshots, fees.

Aevo prices options in USD per contract (one contract = one unit of the underlying), so
``usd_per_unit`` is always 1.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Iterable

from gps_core.api import BadInput, GpsError, InvalidReply
from gps_core.api import OptionKey, OptionType
from gps_core.api import BookLevel, FeeSchedule, OrderBook, VenueInstrument
from gps_core.api import to_decimal

from .config import VENUE

log = logging.getLogger(__name__)

PRICE_CURRENCY = "USD"

#: Aevo options fees (docs.aevo.xyz/aevo-products/aevo-exchange/fees/options-fees):
#: taker 0.05% and maker 0.03% of the notional (contracts × index price), and never more
#: than 12.5% of the option's price. Settlement fees are not part of a trade.
FEES = FeeSchedule(taker_rate=Decimal("0.0005"), maker_rate=Decimal("0.0003"), premium_cap=Decimal("0.125"))


def from_ns(raw, field: str = "timestamp") -> datetime:
    """A UNIX-nanoseconds value (string or number) as an aware UTC datetime."""
    nanoseconds = int(to_decimal(raw, field=field))
    seconds, rest = divmod(nanoseconds, 10**9)
    return datetime.fromtimestamp(seconds, tz=timezone.utc) + timedelta(microseconds=rest // 1000)


def parse_market(raw: dict) -> VenueInstrument | None:
    """One ``/markets`` entry as a :class:`VenueInstrument`; ``None`` if it is not a usable option.

    The identity comes from the entry's fields (underlying, expiry, strike, type); an entry
    whose name disagrees with them is skipped rather than guessed at.
    """
    if not isinstance(raw, dict) or str(raw.get("instrument_type", "")).upper() != "OPTION":
        return None
    try:
        name = str(raw["instrument_name"])
        expires_at = from_ns(raw["expiry"], "expiry")
        key = OptionKey(
            underlying=str(raw["underlying_asset"]).upper(),
            expiry=expires_at.date(),
            strike=to_decimal(raw["strike"], field="strike"),
            option_type=OptionType.parse(raw["option_type"]),
        )
        price_step = to_decimal(raw["price_step"], field="price_step")
        amount_step = to_decimal(raw["amount_step"], field="amount_step")
        min_value = raw.get("min_order_value")
        instrument_id = str(int(to_decimal(raw["instrument_id"], field="instrument_id")))
    except (KeyError, TypeError, ValueError, GpsError) as exc:
        log.debug("skipping malformed Aevo market %r: %s", raw.get("instrument_name"), exc)
        return None
    if price_step <= 0 or amount_step <= 0:
        log.debug("skipping Aevo market %s: non-positive step", name)
        return None
    try:
        named = OptionKey.parse(name)
    except BadInput:
        named = None
    if named is not None and named != key:
        log.warning("skipping Aevo market %s: its fields say %s", name, key.name)
        return None
    return VenueInstrument(
        venue=VENUE,
        key=key,
        symbol=name,
        price_currency=PRICE_CURRENCY,
        tick_size=price_step,
        min_quantity=amount_step,
        quantity_step=amount_step,
        contract_size=Decimal(1),
        fees=FEES,
        is_active=raw.get("is_active") is True,
        expires_at=expires_at,
        venue_id=instrument_id,
        min_order_value=None if min_value in (None, "") else to_decimal(min_value, field="min_order_value"),
    )


def parse_markets(entries) -> list[VenueInstrument]:
    """Every usable option in a ``/markets`` reply."""
    if not isinstance(entries, list):
        raise InvalidReply("GET /markets did not return a list")
    return [inst for inst in (parse_market(e) for e in entries) if inst is not None]


def index_from_markets(entries) -> Decimal | None:
    """The underlying's index price as the ``/markets`` entries state it (a fallback for ``/index``)."""
    for entry in entries if isinstance(entries, list) else ():
        if isinstance(entry, dict) and entry.get("index_price") not in (None, ""):
            try:
                return to_decimal(entry["index_price"], field="index_price")
            except GpsError:
                continue
    return None


def _levels(rows, *, descending: bool, depth: int) -> tuple[BookLevel, ...]:
    if rows is None:
        return ()
    if not isinstance(rows, list):
        raise InvalidReply("order book side is not a list")
    levels = []
    for row in rows:
        if not isinstance(row, (list, tuple)) or len(row) < 2:
            raise InvalidReply(f"order book level {row!r} is not [price, amount, ...]")
        price, amount = to_decimal(row[0], field="book price"), to_decimal(row[1], field="book amount")
        if amount > 0 and price >= 0:
            levels.append(BookLevel(price, amount))
    levels.sort(key=lambda level: level.price, reverse=descending)
    return tuple(levels[:depth])


def _optional_number(value) -> Decimal | None:
    """An informational number (a mark, an IV): ``None`` when absent, malformed or negative."""
    if value in (None, ""):
        return None
    try:
        number = to_decimal(value, field="market data")
    except GpsError:
        return None
    return number if number >= 0 else None


def _iv(value) -> Decimal | None:
    """An Aevo IV (a fraction, ``"0.6"`` for 60%: how the ``/markets`` greeks and the book levels
    carry it); ``None`` when absent, zero or implausible (above 1000%)."""
    iv = _optional_number(value)
    return iv if iv is not None and 0 < iv <= 10 else None


def marks_from_markets(entries) -> dict[str, tuple[Decimal | None, Decimal | None]]:
    """``instrument_name -> (mark_price, mark IV)`` from a ``/markets`` reply (``greeks.iv``)."""
    marks = {}
    for entry in entries if isinstance(entries, list) else ():
        if isinstance(entry, dict) and entry.get("instrument_name"):
            greeks = entry.get("greeks") if isinstance(entry.get("greeks"), dict) else {}
            marks[str(entry["instrument_name"])] = (_optional_number(entry.get("mark_price")), _iv(greeks.get("iv")))
    return marks


def _best_iv(rows) -> Decimal | None:
    """The IV of a side's best level (``[price, amount, iv]``), where the venue gives one."""
    if not isinstance(rows, list):
        return None
    levels = [r for r in rows if isinstance(r, (list, tuple)) and len(r) >= 3 and _optional_number(r[1])]
    return _iv(levels[0][2]) if levels else None


def parse_orderbook(raw, instrument: VenueInstrument, depth: int, index_price: Decimal,
                    mark: tuple[Decimal | None, Decimal | None] = (None, None)) -> OrderBook:
    """A ``/orderbook`` snapshot (``bids``/``asks`` as ``[price, amount, iv]`` strings, USD).

    :param mark: ``(mark_price, mark IV)`` from the ``/markets`` listing (see
        :func:`marks_from_markets`); the snapshot itself carries no mark.
    """
    if not isinstance(raw, dict):
        raise InvalidReply("GET /orderbook did not return an object")
    depth = max(1, int(depth))
    timestamp = datetime.now(timezone.utc)
    if raw.get("last_updated"):
        try:
            timestamp = from_ns(raw["last_updated"], "last_updated")
        except (GpsError, ValueError, OverflowError, OSError):
            pass
    bids = _levels(raw.get("bids"), descending=True, depth=depth)
    asks = _levels(raw.get("asks"), descending=False, depth=depth)
    return OrderBook(
        instrument=instrument,
        bids=bids,
        asks=asks,
        usd_per_unit=Decimal(1),
        index_price=index_price,
        timestamp=timestamp,
        mark_price=mark[0],
        mark_iv=mark[1],
        bid_iv=_best_iv(sorted(raw.get("bids") or [], key=_row_price, reverse=True)) if bids else None,
        ask_iv=_best_iv(sorted(raw.get("asks") or [], key=_row_price)) if asks else None,
    )


def _row_price(row) -> Decimal:
    price = _optional_number(row[0]) if isinstance(row, (list, tuple)) and row else None
    return price if price is not None else Decimal(0)


def live(instruments: Iterable[VenueInstrument], now: datetime | None = None) -> list[VenueInstrument]:
    """The instruments that are active and not expired."""
    moment = now or datetime.now(timezone.utc)
    return [i for i in instruments if i.is_active and not i.is_expired(moment)]
