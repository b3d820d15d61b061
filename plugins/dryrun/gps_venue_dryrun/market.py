"""The offline BTC/ETH/SOL option market the dry-run venue trades on.

Everything is computed, nothing is fetched: expiries from an as-of date (today UTC, or
``GPS_DRYRUN_ASOF=YYYY-MM-DD``), strikes on venue-like grids around an index level (a
default per underlying, or ``GPS_DRYRUN_INDEX="BTC=67000,ETH=2000"``), fair values from
Black-Scholes with a volatility smile, and five levels of depth per side whose sizes come
from a hash of the instrument and level (so the same instrument always shows the same book
on the same as-of date and index, in every process).

The listed grid is what ``gps_list_instruments`` shows; :meth:`Market.find` also lists, on
demand, any other strike on the underlying's strike increment and any other expiry date
that has not expired at the market's clock, so a strategy recommended for another market
(an Options GPS card) can be paper-traded as written.
"""

from __future__ import annotations

import hashlib
import math
import threading
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timezone
from decimal import Decimal
from typing import Mapping

from gps_core.errors import ConfigurationError
from gps_core.instruments import OptionKey, OptionType
from gps_core.model import BookLevel, FeeSchedule, OrderBook, VenueInstrument
from gps_core.money import round_to_step
from gps_core.testing.market import black_scholes

from .config import ASOF_ENV, INDEX_ENV, VENUE
from .expiries import expiries, expiry_moment

PRICE_CURRENCY = "USD"
#: The price tick of BTC and ETH options (SOL's is finer, see :data:`UNDERLYINGS`).
TICK = Decimal("0.1")
MIN_QUANTITY = Decimal("0.01")
QUANTITY_STEP = Decimal("0.01")
FEES = FeeSchedule(Decimal("0.0003"), Decimal("0.0003"), Decimal("0.125"))
DEPTH = 5
#: The near-the-money band (fraction of the index) where the fine strike grid applies.
NEAR_BAND = 0.08
YEAR_DAYS = 365.0
#: How far out (from the as-of date) an expiry asked for on demand may be.
ON_DEMAND_HORIZON_DAYS = 3 * 366


@dataclass(frozen=True)
class Underlying:
    """How one underlying's chain looks."""

    name: str
    index: Decimal
    vol: float  # at-the-money implied volatility
    near_step: int  # strike grid near the money
    far_step: int  # strike grid further out
    half_spread_floor: float  # USD added to the proportional half spread
    size_unit: Decimal  # depth sizes are multiples of this
    size_units: int  # ... from 1 to this many units
    strike_increment: Decimal  # a strike asked for on demand must be a multiple of this
    tick: Decimal = TICK  # price tick, USD


UNDERLYINGS: dict[str, Underlying] = {
    "BTC": Underlying("BTC", Decimal(95000), 0.55, 1000, 5000, 5.0, Decimal("0.1"), 50, Decimal(1)),
    "ETH": Underlying("ETH", Decimal(3400), 0.70, 50, 100, 0.5, Decimal("0.5"), 80, Decimal("0.5")),
    "SOL": Underlying("SOL", Decimal(140), 0.80, 2, 10, 0.02, Decimal(1), 100, Decimal("0.5"), Decimal("0.01")),
}


def smile_vol(base: float, spot: float, strike: float) -> float:
    """A simple smile: wings richer than the money, puts a little richer than calls."""
    x = math.log(strike / spot)
    return min(2.5, max(0.15, base * (1.0 + 1.2 * x * x) - 0.08 * x))


def strikes(spec: Underlying, years: float) -> list[Decimal]:
    """The strike grid for one expiry: fine near the money, coarse and wider further out."""
    spot = float(spec.index)
    reach = spec.vol * math.sqrt(max(years, 1 / YEAR_DAYS))
    low = spot * (1 - min(0.6, max(0.15, 2.5 * reach)))
    high = spot * (1 + min(1.5, max(0.15, 3.0 * reach)))
    grid = set(range(math.ceil(low / spec.far_step) * spec.far_step, int(high) + 1, spec.far_step))
    near_low, near_high = spot * (1 - NEAR_BAND), spot * (1 + NEAR_BAND)
    grid.update(range(math.ceil(near_low / spec.near_step) * spec.near_step, int(near_high) + 1, spec.near_step))
    return [Decimal(k) for k in sorted(grid) if k > 0]


def _size(symbol: str, side: str, level: int, spec: Underlying) -> Decimal:
    digest = hashlib.blake2b(f"{symbol}|{side}|{level}".encode(), digest_size=4).digest()
    return spec.size_unit * (1 + int.from_bytes(digest, "big") % spec.size_units)


def _to_decimal(value: float) -> Decimal:
    return Decimal(repr(round(value, 6)))


class Market:
    """One as-of date's option chains for BTC, ETH and SOL.

    :param asof: the market's date; prices use the time from its 00:00 UTC to each expiry.
    :param now: the moment expiries are judged against (default: ``asof`` 00:00 UTC);
        nothing that has expired by then is listed.
    :param index: index levels in USD by underlying, replacing the defaults of
        :data:`UNDERLYINGS` (``{"BTC": Decimal(67000)}``).
    :param follows_clock: the market is today's: :meth:`clock` is the real clock rather
        than ``now``.
    """

    def __init__(self, asof: date, now: datetime | None = None, index: Mapping[str, Decimal] | None = None,
                 *, follows_clock: bool = False):
        self.asof = asof
        self.start = datetime.combine(asof, time(0, 0), tzinfo=timezone.utc)
        self.now = now or self.start
        self.follows_clock = follows_clock
        self.specs = {name: replace(spec, index=Decimal((index or {}).get(name, spec.index)))
                      for name, spec in UNDERLYINGS.items()}
        self.expiries = expiries(asof, self.now)
        self._chains: dict[str, list[VenueInstrument]] = {}
        self._by_key: dict[tuple, VenueInstrument] = {}
        for name, spec in self.specs.items():
            chain = self._build_chain(spec)
            self._chains[name] = chain
            for instrument in chain:
                self._by_key[_key_tuple(instrument.key)] = instrument

    def clock(self) -> datetime:
        """The market's present: the real clock for today's market, else ``now``.

        Expiry is judged at this moment, by :meth:`find` and by the paper engine.
        """
        return datetime.now(timezone.utc) if self.follows_clock else self.now

    def _years(self, expiry: date) -> float:
        return (expiry_moment(expiry) - self.start).total_seconds() / (YEAR_DAYS * 86400)

    def _build_chain(self, spec: Underlying) -> list[VenueInstrument]:
        chain = []
        for expiry in self.expiries:
            for strike in strikes(spec, self._years(expiry)):
                for option_type in (OptionType.CALL, OptionType.PUT):
                    chain.append(_instrument(OptionKey(spec.name, expiry, strike, option_type)))
        return chain

    # --- lookups --------------------------------------------------------------------------

    def instruments(self, underlying: str) -> list[VenueInstrument]:
        """The listed grid of ``underlying`` (empty if the market has no such underlying)."""
        return list(self._chains.get(underlying.upper(), ()))

    def find(self, key: OptionKey) -> VenueInstrument | None:
        """The instrument for ``key``: from the grid, or made on demand.

        On demand means any strike that is a positive multiple of the underlying's strike
        increment (BTC 1 USD, ETH and SOL 0.5 USD) and any expiry date whose 08:00 UTC is after
        :meth:`clock` and at most :data:`ON_DEMAND_HORIZON_DAYS` after the as-of date.
        ``None`` for anything else (another underlying, an expired date, an odd strike), and
        for a key with a settlement currency (``BTC_USDC-...``): this market lists only
        plain contracts, and a linear contract must never be matched to one.
        """
        if key.settlement:
            return None
        listed = self._by_key.get(_key_tuple(key))
        if listed is not None:
            return listed if not listed.is_expired(self.clock()) else None
        spec = self.specs.get(key.underlying.upper())
        if spec is None or key.strike <= 0 or key.strike % spec.strike_increment != 0:
            return None
        if expiry_moment(key.expiry) <= self.clock():
            return None
        if (key.expiry - self.asof).days > ON_DEMAND_HORIZON_DAYS:
            return None
        return _instrument(OptionKey(spec.name, key.expiry, _plain(key.strike), key.option_type))

    def index(self, underlying: str) -> Decimal:
        return self.specs[underlying].index

    # --- prices ---------------------------------------------------------------------------

    def fair_value(self, instrument: VenueInstrument) -> float:
        spec = self.specs[instrument.key.underlying]
        spot, strike = float(spec.index), float(instrument.key.strike)
        vol = smile_vol(spec.vol, spot, strike)
        return black_scholes(spot, strike, self._years(instrument.key.expiry), vol,
                             instrument.key.option_type is OptionType.CALL)

    def book(self, instrument: VenueInstrument, depth: int = DEPTH) -> OrderBook:
        """Up to five levels per side around the fair value; never a price below one tick."""
        spec = self.specs[instrument.key.underlying]
        fair = self.fair_value(instrument)
        half = fair * 0.012 + spec.half_spread_floor
        tick = spec.tick
        best_bid = max(round_to_step(_to_decimal(fair - half), tick, up=False), tick * DEPTH)
        best_ask = max(round_to_step(_to_decimal(fair + half), tick, up=True), best_bid + tick)
        step = max(tick, round_to_step(_to_decimal(half * 0.4), tick, up=False))
        # Keep the deepest bid at or above one tick.
        bid_step = max(tick, min(step, round_to_step((best_bid - tick) / (DEPTH - 1), tick, up=False)))
        levels = max(0, min(depth, DEPTH))
        bids = tuple(BookLevel(best_bid - bid_step * i, _size(instrument.symbol, "bid", i, spec)) for i in range(levels))
        asks = tuple(BookLevel(best_ask + step * i, _size(instrument.symbol, "ask", i, spec)) for i in range(levels))
        vol = _to_decimal(smile_vol(spec.vol, float(spec.index), float(instrument.key.strike)))
        return OrderBook(instrument, bids, asks, usd_per_unit=Decimal(1), index_price=spec.index,
                         timestamp=self.clock(), mark_price=round_to_step(_to_decimal(fair), tick, up=False),
                         mark_iv=vol, bid_iv=vol if bids else None, ask_iv=vol if asks else None)

    def mid(self, instrument: VenueInstrument) -> Decimal:
        book = self.book(instrument, 1)
        return (book.bids[0].price + book.asks[0].price) / 2


def _instrument(key: OptionKey) -> VenueInstrument:
    return VenueInstrument(
        venue=VENUE, key=key, symbol=key.name, price_currency=PRICE_CURRENCY,
        tick_size=UNDERLYINGS[key.underlying].tick, min_quantity=MIN_QUANTITY, quantity_step=QUANTITY_STEP,
        fees=FEES, expires_at=expiry_moment(key.expiry),
    )


def _plain(strike: Decimal) -> Decimal:
    """``71000.0`` -> ``71000``, ``2047.50`` -> ``2047.5``; never exponent notation (``7.1E+4``)."""
    strike = strike.normalize()
    return strike.quantize(Decimal(1)) if strike == strike.to_integral_value() else strike


def _key_tuple(key: OptionKey) -> tuple:
    return (key.underlying.upper(), key.expiry, key.strike.normalize(), key.option_type)


# --- which market is current ---------------------------------------------------------------

_CACHE: dict[tuple, Market] = {}
_CACHE_LOCK = threading.Lock()


def asof_from(environ: Mapping[str, str]) -> date | None:
    """``GPS_DRYRUN_ASOF`` as a date, ``None`` if unset; ConfigurationError if malformed."""
    raw = (environ.get(ASOF_ENV) or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ConfigurationError(f"{ASOF_ENV}={raw!r} is not a date YYYY-MM-DD (like 2026-03-27)") from None


def index_from(environ: Mapping[str, str]) -> dict[str, Decimal]:
    """``GPS_DRYRUN_INDEX="BTC=67000,ETH=2000"`` as ``{"BTC": Decimal(67000), ...}``.

    Unset or empty gives ``{}`` (the defaults). An unknown underlying, a missing ``=`` or a
    level that is not a positive number is a ConfigurationError naming the entry.
    """
    raw = (environ.get(INDEX_ENV) or "").strip()
    levels: dict[str, Decimal] = {}
    for entry in filter(None, (part.strip() for part in raw.split(","))):
        name, sep, value = (text.strip() for text in entry.partition("="))
        if not sep or name.upper() not in UNDERLYINGS:
            raise ConfigurationError(
                f"{INDEX_ENV}: {entry!r} is not UNDERLYING=LEVEL with one of {', '.join(UNDERLYINGS)}")
        try:
            level = Decimal(value)
        except ArithmeticError:
            level = Decimal("NaN")
        if not level.is_finite() or level <= 0 or level.adjusted() > 12:
            raise ConfigurationError(f"{INDEX_ENV}: the level in {entry!r} is not a positive number of USD")
        levels[name.upper()] = level
    return levels


def current_market(environ: Mapping[str, str], now: datetime | None = None) -> Market:
    """The market for ``GPS_DRYRUN_ASOF`` (or today UTC) and ``GPS_DRYRUN_INDEX``, built once
    per process, date and index levels.

    With today's date the real clock decides which expiries are gone; any other as-of date
    is judged from its own midnight, so tests get the same market on every day.
    """
    real_clock = now is None
    now = now or datetime.now(timezone.utc)
    asof = asof_from(environ) or now.date()
    index = index_from(environ)
    moment = now if asof == now.date() else None
    # Only the crossing of today's 08:00 UTC expiry changes a same-day market.
    cache_key = (asof, moment is not None and now >= expiry_moment(asof), tuple(sorted(index.items())), real_clock)
    with _CACHE_LOCK:
        market = _CACHE.get(cache_key)
        if market is None:
            market = Market(asof, moment, index, follows_clock=moment is not None and real_clock)
            if len(_CACHE) > 8:
                _CACHE.clear()
            _CACHE[cache_key] = market
        return market
