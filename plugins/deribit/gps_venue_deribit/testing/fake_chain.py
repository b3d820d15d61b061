"""A synthetic Deribit option chain for the fake server, generated from today's date.

Expiries are the next two Fridays, the last Friday of the next three months and of the next
two quarter months, all at 08:00 UTC, so the chain never goes stale. Prices come from
Black-Scholes (zero rates) and books have five levels a side. Test data only: the model runs
in floats and every price is snapped to a Decimal tick before it is served.

Two kinds of listing, as Deribit has them:

* inverse (``BTC-...``, ``ETH-...``; ``get_instruments currency=BTC|ETH``): priced and
  settled in the coin, contract size 1, Deribit's real option tick rules (0.0001 below
  0.005, 0.0005 from 0.005 up), fees 0.0003 of the underlying.
* linear USDC (``BTC_USDC-...``, ``SOL_USDC-...``, ``XRP_USDC-0d625``; ``currency=USDC``):
  priced and settled in USDC per coin, ``instrument_type: linear``, index ``sol_usdc``...,
  contract multipliers SOL 10 and XRP 1000, fees maker 0.0001 / taker 0.0005 of the index
  (Deribit's support pages). No citable capture of a linear option row was found: their
  ``tick_size``, ``tick_size_steps`` and ``min_trade_amount`` here are the fake's own
  choices (the plugin reads the live values), and ``amount`` is in coins of the underlying,
  as the API reference defines it for options.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from gps_core.api import MONTHS
from gps_core.testing.market import black_scholes, expiry_calendar, last_friday

TICK = Decimal("0.0001")
STEP_ABOVE = Decimal("0.005")
TICK_ABOVE = Decimal("0.0005")
FEE_RATE = Decimal("0.0003")
EXPIRY_TIME = time(8, 0, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Underlying:
    """One chain of the fake: ``currency`` is the coin, ``settlement`` ``""`` (inverse) or ``"USDC"``."""

    currency: str
    index: Decimal  # USD per coin (inverse) or USDC per coin (linear)
    volatility: float
    strikes: tuple[Decimal, ...]
    min_amount: Decimal
    level_amounts: tuple[Decimal, ...]
    block_min: int
    settlement: str = ""
    contract_size: Decimal = Decimal(1)
    tick: Decimal = TICK
    steps: tuple[tuple[Decimal, Decimal], ...] = ((STEP_ABOVE, TICK_ABOVE),)
    maker_rate: Decimal = FEE_RATE
    taker_rate: Decimal = FEE_RATE

    @property
    def root(self) -> str:
        """The names' first part and the key of :data:`UNDERLYINGS`: ``BTC`` or ``SOL_USDC``."""
        return f"{self.currency}_{self.settlement}" if self.settlement else self.currency

    @property
    def linear(self) -> bool:
        return bool(self.settlement)

    @property
    def index_name(self) -> str:
        return f"{self.currency.lower()}_{(self.settlement or 'usd').lower()}"


def _strikes(*values) -> tuple[Decimal, ...]:
    return tuple(Decimal(str(v)) for v in values)


def _amounts(*values) -> tuple[Decimal, ...]:
    return tuple(Decimal(v) for v in values)


_LINEAR_FEES = {"maker_rate": Decimal("0.0001"), "taker_rate": Decimal("0.0005")}

_CHAINS = (
    Underlying("BTC", Decimal("100000"), 0.55, _strikes(*range(80000, 130001, 5000)), Decimal("0.1"),
               _amounts("1.5", "3", "5", "8", "12"), 25),
    Underlying("ETH", Decimal("3500"), 0.65, _strikes(*range(2800, 4401, 200)), Decimal("1"),
               _amounts("10", "20", "40", "60", "100"), 250),
    Underlying("BTC", Decimal("100000"), 0.55, _strikes(*range(85000, 115001, 5000)), Decimal("0.01"),
               _amounts("1", "2", "3", "5", "8"), 25, settlement="USDC", tick=Decimal("1"),
               steps=((Decimal("1000"), Decimal("5")),), **_LINEAR_FEES),
    Underlying("SOL", Decimal("150"), 0.75, _strikes(*range(120, 181, 10)), Decimal("1"),
               _amounts("20", "40", "60", "100", "150"), 1000, settlement="USDC", contract_size=Decimal("10"),
               tick=Decimal("0.01"), steps=((Decimal("10"), Decimal("0.05")),), **_LINEAR_FEES),
    Underlying("XRP", Decimal("2.4"), 0.8, _strikes("0.625", "1.5", "2", "2.2", "2.4", "2.6", "3"), Decimal("100"),
               _amounts("2000", "4000", "6000", "10000", "15000"), 100000, settlement="USDC",
               contract_size=Decimal("1000"), tick=Decimal("0.0001"), steps=((Decimal("0.1"), Decimal("0.0005")),),
               **_LINEAR_FEES),
)

#: Every chain of the fake by name root: ``BTC``, ``ETH``, ``BTC_USDC``, ``SOL_USDC``, ``XRP_USDC``.
UNDERLYINGS: dict[str, Underlying] = {spec.root: spec for spec in _CHAINS}


class TickRules:
    """A chain's ``tick_size`` and ``tick_size_steps`` (a step applies at or above its price)."""

    def __init__(self, tick: Decimal, steps=()):
        self.tick = tick
        self.steps = tuple(sorted(steps))

    def at(self, price: Decimal) -> Decimal:
        tick = self.tick
        for above, step_tick in self.steps:
            if price >= above:
                tick = step_tick
        return tick

    def snap(self, price: Decimal, *, up: bool) -> Decimal:
        """Snap to the tick that applies at the price (twice: crossing a step changes the tick)."""
        for _ in range(2):
            tick = self.at(price)
            price = (price / tick).to_integral_value(rounding=ROUND_CEILING if up else ROUND_FLOOR) * tick
        return max(price, self.tick).quantize(self.tick)


INVERSE_TICKS = TickRules(TICK, ((STEP_ABOVE, TICK_ABOVE),))


def tick_at(price: Decimal) -> Decimal:
    """The tick of Deribit's inverse options at ``price``: a step applies from its ``above_price`` on."""
    return INVERSE_TICKS.at(price)


def snap(price: Decimal, *, up: bool) -> Decimal:
    """Snap to the inverse options' stepped tick."""
    return INVERSE_TICKS.snap(price, up=up)


def row_tick_at(row: dict, price: Decimal) -> Decimal:
    """The tick an instrument row's ``tick_size`` + ``tick_size_steps`` give at ``price`` (steps apply at or above)."""
    tick = row["tick_size"]
    for step in sorted(row.get("tick_size_steps") or (), key=lambda s: s["above_price"]):
        if price >= step["above_price"]:
            tick = step["tick_size"]
    return tick


def expiries(today: date) -> list[date]:
    """Two Friday weeklies, the month-ends of the next three months and two quarterlies, all after ``today``."""
    return expiry_calendar(today, weeklies=2, monthlies=3, quarterlies=2)


def expiry_code(day: date) -> str:
    return f"{day.day}{MONTHS[day.month - 1]}{day.year % 100:02d}"


def theoretical(spot: Decimal, strike: Decimal, years: float, vol: float, call: bool, *, in_coin: bool = True) -> Decimal:
    """Black-Scholes price per coin of underlying: in the coin (inverse) or in USD/USDC (``in_coin=False``)."""
    usd = black_scholes(float(spot), float(strike), max(years, 1 / 365), vol, call)
    return Decimal(repr(max(usd, 0.0) / float(spot) if in_coin else max(usd, 0.0)))


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
    #: the volatility the mark was computed with, in percent as Deribit sends ``mark_iv``
    mark_iv: Decimal | None = None

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


def _book(mark: Decimal, amounts: tuple[Decimal, ...], step: Decimal, seed: int,
          ticks: TickRules = INVERSE_TICKS) -> tuple[list, list]:
    low = ticks.tick
    half_spread = max(mark * Decimal("0.015"), low)
    best_bid = ticks.snap(mark - half_spread, up=False)
    best_ask = ticks.snap(mark + half_spread, up=True)
    if best_ask <= best_bid:
        best_ask = ticks.snap(best_bid + ticks.at(best_bid), up=True)
    bids, asks, bid, ask = [], [], best_bid, best_ask
    for level, amount in enumerate(amounts):
        amount = amount + Decimal(seed >> level & 3) * step * 5
        if bid >= low and (level == 0 or bid > low or not bids):
            bids.append([bid, amount])
        asks.append([ask, amount])
        bid = ticks.snap(bid - ticks.at(bid - low), up=False) if bid > low else low
        ask = ask + ticks.at(ask)
    bids = [lvl for i, lvl in enumerate(bids) if i == 0 or lvl[0] < bids[i - 1][0]]
    return bids, asks


def strike_text(strike: Decimal) -> str:
    """A strike as Deribit writes it in names: ``0d625`` for 0.625."""
    return f"{strike.normalize():f}".replace(".", "d")


def build_chain(root: str, today: date, *, first_id: int = 480000) -> dict[str, FakeInstrument]:
    """Every option of the chain ``root`` (``BTC``, ``SOL_USDC``...) listed on ``today``, by instrument name."""
    spec = UNDERLYINGS[root]
    ticks = TickRules(spec.tick, spec.steps)
    now = datetime.combine(today, time(0, 0), tzinfo=timezone.utc)
    chain: dict[str, FakeInstrument] = {}
    next_id = first_id
    coin, quote = spec.currency, spec.settlement or spec.currency
    for expiry in expiries(today):
        expires = datetime.combine(expiry, EXPIRY_TIME)
        years = (expires - now).total_seconds() / (365 * 86400)
        for strike in spec.strikes:
            for kind, letter in (("call", "C"), ("put", "P")):
                name = f"{root}-{expiry_code(expiry)}-{strike_text(strike)}-{letter}"
                price = theoretical(spec.index, strike, years, spec.volatility, kind == "call", in_coin=not spec.linear)
                mark = ticks.snap(price, up=False)
                row = {
                    "price_index": spec.index_name, "rfq": False, "kind": "option",
                    "instrument_name": name, "maker_commission": spec.maker_rate,
                    "taker_commission": spec.taker_rate,
                    "instrument_type": "linear" if spec.linear else "reversed",
                    "expiration_timestamp": int(expires.timestamp() * 1000),
                    "creation_timestamp": int((now - timedelta(days=30)).timestamp() * 1000),
                    "is_active": True, "state": "open", "option_type": kind, "contract_size": spec.contract_size,
                    "tick_size": spec.tick, "strike": strike, "instrument_id": next_id,
                    "settlement_period": "month" if expiry == last_friday(expiry.year, expiry.month) else "week",
                    "min_trade_amount": spec.min_amount, "block_trade_commission": spec.taker_rate,
                    "block_trade_min_trade_amount": spec.block_min, "block_trade_tick_size": spec.tick,
                    "settlement_currency": quote, "base_currency": coin,
                    "counter_currency": "USDC" if spec.linear else "USD", "quote_currency": quote,
                    "tick_size_steps": [{"tick_size": t, "above_price": a} for a, t in spec.steps],
                }
                next_id += 1
                bids, asks = _book(mark, spec.level_amounts, spec.min_amount, zlib.crc32(name.encode()), ticks)
                chain[name] = FakeInstrument(row, bids, asks, mark, mark_iv=Decimal(repr(spec.volatility * 100)))
    return chain
