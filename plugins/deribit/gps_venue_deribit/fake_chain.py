"""A synthetic Deribit option chain for the fake server, generated from today's date.

Expiries are the next two Fridays, the last Friday of the next three months and of the next
two quarter months, all at 08:00 UTC, so the chain never goes stale. Prices come from
Black-Scholes (zero rates) in the coin, snapped to Deribit's real option tick rules
(0.0001 below 0.005, 0.0005 from 0.005 up); books have five levels a side. Test data only: the
model runs in floats and every price is snapped to a Decimal tick before it is served.
"""

from __future__ import annotations

import calendar
import math
import zlib
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from gps_core.instruments import MONTHS

TICK = Decimal("0.0001")
STEP_ABOVE = Decimal("0.005")
TICK_ABOVE = Decimal("0.0005")
FEE_RATE = Decimal("0.0003")
EXPIRY_TIME = time(8, 0, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Underlying:
    currency: str
    index: Decimal
    volatility: float
    strikes: tuple[int, ...]
    min_amount: Decimal
    level_amounts: tuple[Decimal, ...]
    block_min: int


UNDERLYINGS = {
    "BTC": Underlying("BTC", Decimal("100000"), 0.55, tuple(range(80000, 130001, 5000)), Decimal("0.1"),
                      tuple(Decimal(a) for a in ("1.5", "3", "5", "8", "12")), 25),
    "ETH": Underlying("ETH", Decimal("3500"), 0.65, tuple(range(2800, 4401, 200)), Decimal("1"),
                      tuple(Decimal(a) for a in ("10", "20", "40", "60", "100")), 250),
}


def tick_at(price: Decimal) -> Decimal:
    """The tick at ``price``: a step applies from its ``above_price`` on (at or above it)."""
    return TICK_ABOVE if price >= STEP_ABOVE else TICK


def row_tick_at(row: dict, price: Decimal) -> Decimal:
    """The tick an instrument row's ``tick_size`` + ``tick_size_steps`` give at ``price`` (steps apply at or above)."""
    tick = row["tick_size"]
    for step in sorted(row.get("tick_size_steps") or (), key=lambda s: s["above_price"]):
        if price >= step["above_price"]:
            tick = step["tick_size"]
    return tick


def snap(price: Decimal, *, up: bool) -> Decimal:
    """Snap to the tick that applies at the price (Deribit's stepped tick)."""
    for _ in range(2):
        tick = tick_at(price)
        price = (price / tick).to_integral_value(rounding=ROUND_CEILING if up else ROUND_FLOOR) * tick
    return max(price, TICK).quantize(TICK)


def last_friday(year: int, month: int) -> date:
    day = date(year, month, calendar.monthrange(year, month)[1])
    return day - timedelta(days=(day.weekday() - 4) % 7)


def expiries(today: date) -> list[date]:
    """Weekly, monthly and quarterly expiries strictly after ``today``."""
    found: set[date] = set()
    friday = today + timedelta(days=(4 - today.weekday()) % 7 or 7)
    found.update({friday, friday + timedelta(days=7)})
    year, month = today.year, today.month
    months = []
    for offset in range(0, 15):
        y, m = year + (month - 1 + offset) // 12, (month - 1 + offset) % 12 + 1
        months.append((y, m))
    found.update(d for d in (last_friday(y, m) for y, m in months[:3]) if d > today)
    quarters = [last_friday(y, m) for y, m in months if m in (3, 6, 9, 12) and last_friday(y, m) > today]
    found.update(quarters[:2])
    return sorted(found)


def expiry_code(day: date) -> str:
    return f"{day.day}{MONTHS[day.month - 1]}{day.year % 100:02d}"


def _norm_cdf(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def theoretical(spot: Decimal, strike: int, years: float, vol: float, call: bool) -> Decimal:
    """Black-Scholes price in units of the underlying coin (inverse option)."""
    s, k = float(spot), float(strike)
    years = max(years, 1 / 365)
    d1 = (math.log(s / k) + vol * vol * years / 2) / (vol * math.sqrt(years))
    d2 = d1 - vol * math.sqrt(years)
    usd = s * _norm_cdf(d1) - k * _norm_cdf(d2) if call else k * _norm_cdf(-d2) - s * _norm_cdf(-d1)
    return Decimal(repr(max(usd, 0.0) / s))


@dataclass
class FakeInstrument:
    """One listed option with its book (``[[price, amount], ...]``, best first).

    ``min_price``/``max_price`` set the order price band (Deribit's ticker ``min_price`` /
    ``max_price``); left ``None``, the band is one tick to ten times the mark (at least
    10,000 ticks), wide enough for any resting order a test places.
    """

    row: dict
    bids: list[list[Decimal]] = field(default_factory=list)
    asks: list[list[Decimal]] = field(default_factory=list)
    mark: Decimal = TICK
    min_price: Decimal | None = None
    max_price: Decimal | None = None

    @property
    def name(self) -> str:
        return self.row["instrument_name"]

    def band(self) -> tuple[Decimal, Decimal]:
        """The prices an order may have: ``(min_price, max_price)``."""
        tick = self.row["tick_size"]
        low = self.min_price if self.min_price is not None else tick
        high = self.max_price if self.max_price is not None else max(
            self.mark * 10, tick * 10000).quantize(tick, rounding=ROUND_CEILING)
        return low, high


def _book(mark: Decimal, amounts: tuple[Decimal, ...], step: Decimal, seed: int) -> tuple[list, list]:
    half_spread = max(mark * Decimal("0.015"), TICK)
    best_bid = snap(mark - half_spread, up=False)
    best_ask = snap(mark + half_spread, up=True)
    if best_ask <= best_bid:
        best_ask = snap(best_bid + tick_at(best_bid), up=True)
    bids, asks, bid, ask = [], [], best_bid, best_ask
    for level, amount in enumerate(amounts):
        amount = amount + Decimal(seed >> level & 3) * step * 5
        if bid >= TICK and (level == 0 or bid > TICK or not bids):
            bids.append([bid, amount])
        asks.append([ask, amount])
        bid = bid - tick_at(bid - TICK) if bid > TICK else TICK
        ask = ask + tick_at(ask)
    bids = [lvl for i, lvl in enumerate(bids) if i == 0 or lvl[0] < bids[i - 1][0]]
    return bids, asks


def build_chain(currency: str, today: date, *, first_id: int = 480000) -> dict[str, FakeInstrument]:
    """Every option of ``currency`` listed on ``today``, keyed by instrument name."""
    spec = UNDERLYINGS[currency]
    now = datetime.combine(today, time(0, 0), tzinfo=timezone.utc)
    chain: dict[str, FakeInstrument] = {}
    next_id = first_id
    for expiry in expiries(today):
        expires = datetime.combine(expiry, EXPIRY_TIME)
        years = (expires - now).total_seconds() / (365 * 86400)
        for strike in spec.strikes:
            for kind, letter in (("call", "C"), ("put", "P")):
                name = f"{currency}-{expiry_code(expiry)}-{strike}-{letter}"
                mark = snap(theoretical(spec.index, strike, years, spec.volatility, kind == "call"), up=False)
                row = {
                    "price_index": f"{currency.lower()}_usd", "rfq": False, "kind": "option",
                    "instrument_name": name, "maker_commission": FEE_RATE, "taker_commission": FEE_RATE,
                    "instrument_type": "reversed", "expiration_timestamp": int(expires.timestamp() * 1000),
                    "creation_timestamp": int((now - timedelta(days=30)).timestamp() * 1000),
                    "is_active": True, "state": "open", "option_type": kind, "contract_size": 1,
                    "tick_size": TICK, "strike": strike, "instrument_id": next_id,
                    "settlement_period": "month" if expiry == last_friday(expiry.year, expiry.month) else "week",
                    "min_trade_amount": spec.min_amount, "block_trade_commission": FEE_RATE,
                    "block_trade_min_trade_amount": spec.block_min, "block_trade_tick_size": TICK,
                    "settlement_currency": currency, "base_currency": currency, "counter_currency": "USD",
                    "quote_currency": currency,
                    "tick_size_steps": [{"tick_size": TICK_ABOVE, "above_price": STEP_ABOVE}],
                }
                next_id += 1
                bids, asks = _book(mark, spec.level_amounts, spec.min_amount, zlib.crc32(name.encode()))
                chain[name] = FakeInstrument(row, bids, asks, mark)
    return chain
