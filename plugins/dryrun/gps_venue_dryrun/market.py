"""The offline BTC/ETH option market the dry-run venue trades on.

Everything is computed, nothing is fetched: expiries from an as-of date (today UTC, or
``GPS_DRYRUN_ASOF=YYYY-MM-DD``), strikes on venue-like grids around a fixed index, fair
values from Black-Scholes with a volatility smile, and five levels of depth per side whose
sizes come from a hash of the instrument and level (so the same instrument always shows the
same book on the same as-of date, in every process).
"""

from __future__ import annotations

import hashlib
import math
import threading
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from decimal import Decimal
from typing import Mapping

from gps_core.errors import ConfigurationError
from gps_core.instruments import OptionKey, OptionType
from gps_core.model import BookLevel, FeeSchedule, OrderBook, VenueInstrument
from gps_core.money import round_to_step

from .expiries import expiries, expiry_moment

VENUE = "dryrun"
PRICE_CURRENCY = "USD"
TICK = Decimal("0.1")
MIN_QUANTITY = Decimal("0.01")
QUANTITY_STEP = Decimal("0.01")
FEES = FeeSchedule(Decimal("0.0003"), Decimal("0.0003"), Decimal("0.125"))
DEPTH = 5
#: The near-the-money band (fraction of the index) where the fine strike grid applies.
NEAR_BAND = 0.08
YEAR_DAYS = 365.0


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


UNDERLYINGS: dict[str, Underlying] = {
    "BTC": Underlying("BTC", Decimal(95000), 0.55, 1000, 5000, 5.0, Decimal("0.1"), 50),
    "ETH": Underlying("ETH", Decimal(3400), 0.70, 50, 100, 0.5, Decimal("0.5"), 80),
}


def _norm_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def black_scholes(spot: float, strike: float, years: float, vol: float, call: bool) -> float:
    """Undiscounted Black-Scholes price (zero rates: the forward is the index)."""
    if years <= 0 or vol <= 0:
        return max(0.0, spot - strike) if call else max(0.0, strike - spot)
    spread = vol * math.sqrt(years)
    d1 = (math.log(spot / strike) + 0.5 * spread * spread) / spread
    d2 = d1 - spread
    if call:
        return spot * _norm_cdf(d1) - strike * _norm_cdf(d2)
    return strike * _norm_cdf(-d2) - spot * _norm_cdf(-d1)


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
    """One as-of date's option chains for BTC and ETH.

    :param asof: the market's date; prices use the time from its 00:00 UTC to each expiry.
    :param now: the moment expiries are judged against (default: ``asof`` 00:00 UTC);
        nothing that has expired by then is listed.
    """

    def __init__(self, asof: date, now: datetime | None = None):
        self.asof = asof
        self.start = datetime.combine(asof, time(0, 0), tzinfo=timezone.utc)
        self.now = now or self.start
        self.expiries = expiries(asof, self.now)
        self._chains: dict[str, list[VenueInstrument]] = {}
        self._by_key: dict[tuple, VenueInstrument] = {}
        for name in UNDERLYINGS:
            chain = self._build_chain(UNDERLYINGS[name])
            self._chains[name] = chain
            for instrument in chain:
                self._by_key[_key_tuple(instrument.key)] = instrument

    def _years(self, expiry: date) -> float:
        return (expiry_moment(expiry) - self.start).total_seconds() / (YEAR_DAYS * 86400)

    def _build_chain(self, spec: Underlying) -> list[VenueInstrument]:
        chain = []
        for expiry in self.expiries:
            for strike in strikes(spec, self._years(expiry)):
                for option_type in (OptionType.CALL, OptionType.PUT):
                    key = OptionKey(spec.name, expiry, strike, option_type)
                    chain.append(VenueInstrument(
                        venue=VENUE, key=key, symbol=key.name, price_currency=PRICE_CURRENCY,
                        tick_size=TICK, min_quantity=MIN_QUANTITY, quantity_step=QUANTITY_STEP,
                        fees=FEES, expires_at=expiry_moment(expiry),
                    ))
        return chain

    # --- lookups --------------------------------------------------------------------------

    def instruments(self, underlying: str) -> list[VenueInstrument]:
        return list(self._chains.get(underlying.upper(), ()))

    def find(self, key: OptionKey) -> VenueInstrument | None:
        return self._by_key.get(_key_tuple(key))

    def index(self, underlying: str) -> Decimal:
        return UNDERLYINGS[underlying].index

    # --- prices ---------------------------------------------------------------------------

    def fair_value(self, instrument: VenueInstrument) -> float:
        spec = UNDERLYINGS[instrument.key.underlying]
        spot, strike = float(spec.index), float(instrument.key.strike)
        vol = smile_vol(spec.vol, spot, strike)
        return black_scholes(spot, strike, self._years(instrument.key.expiry), vol,
                             instrument.key.option_type is OptionType.CALL)

    def book(self, instrument: VenueInstrument, depth: int = DEPTH) -> OrderBook:
        """Up to five levels per side around the fair value; never a price below one tick."""
        spec = UNDERLYINGS[instrument.key.underlying]
        fair = self.fair_value(instrument)
        half = fair * 0.012 + spec.half_spread_floor
        best_bid = max(round_to_step(_to_decimal(fair - half), TICK, up=False), TICK * DEPTH)
        best_ask = max(round_to_step(_to_decimal(fair + half), TICK, up=True), best_bid + TICK)
        step = max(TICK, round_to_step(_to_decimal(half * 0.4), TICK, up=False))
        # Keep the deepest bid at or above one tick.
        bid_step = max(TICK, min(step, round_to_step((best_bid - TICK) / (DEPTH - 1), TICK, up=False)))
        levels = max(0, min(depth, DEPTH))
        bids = tuple(BookLevel(best_bid - bid_step * i, _size(instrument.symbol, "bid", i, spec)) for i in range(levels))
        asks = tuple(BookLevel(best_ask + step * i, _size(instrument.symbol, "ask", i, spec)) for i in range(levels))
        return OrderBook(instrument, bids, asks, usd_per_unit=Decimal(1), index_price=spec.index)

    def mid(self, instrument: VenueInstrument) -> Decimal:
        book = self.book(instrument, 1)
        return (book.bids[0].price + book.asks[0].price) / 2


def _key_tuple(key: OptionKey) -> tuple:
    return (key.underlying.upper(), key.expiry, key.strike.normalize(), key.option_type)


# --- which market is current ---------------------------------------------------------------

_CACHE: dict[tuple, Market] = {}
_CACHE_LOCK = threading.Lock()


def asof_from(environ: Mapping[str, str]) -> date | None:
    """``GPS_DRYRUN_ASOF`` as a date, ``None`` if unset; ConfigurationError if malformed."""
    raw = (environ.get("GPS_DRYRUN_ASOF") or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ConfigurationError(f"GPS_DRYRUN_ASOF={raw!r} is not a date like 2026-03-27") from None


def current_market(environ: Mapping[str, str], now: datetime | None = None) -> Market:
    """The market for ``GPS_DRYRUN_ASOF`` (or today UTC), built once per process and date.

    With today's date the real clock decides which expiries are gone; any other as-of date
    is judged from its own midnight, so tests get the same market on every day.
    """
    now = now or datetime.now(timezone.utc)
    asof = asof_from(environ) or now.date()
    moment = now if asof == now.date() else None
    # Only the crossing of today's 08:00 UTC expiry changes a same-day market.
    cache_key = (asof, moment is not None and now >= expiry_moment(asof))
    with _CACHE_LOCK:
        market = _CACHE.get(cache_key)
        if market is None:
            market = Market(asof, moment)
            if len(_CACHE) > 8:
                _CACHE.clear()
            _CACHE[cache_key] = market
        return market
