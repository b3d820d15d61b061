"""Public market data: instruments (cached) and order books. No credentials needed.

How an instrument is found (:meth:`Market.find`), cheapest first: the option list if this
process already fetched it; the on-disk cache (:mod:`gps_venue_deribit.instrument_cache`);
``public/get_instrument`` for that one name (one small reply, whatever the number of listed
instruments); the whole ``public/get_instruments`` list only when the name is not found.

A book is always fetched together with its instrument's fresh row, in the same round trip
(:meth:`Market.order_book`), and the book carries that fresh instrument: a quote is never
priced on a cached tick, minimum or state.
"""

from __future__ import annotations

import threading
import time
from decimal import Decimal
from typing import TYPE_CHECKING, Callable

from concurrent.futures import ThreadPoolExecutor

from gps_core.api import InvalidReply, VenueError
from gps_core.api import retry_safe
from gps_core.api import OptionKey
from gps_core.api import OrderBook, VenueInstrument
from gps_core.api import to_decimal

from .listing import INVERSE_CURRENCIES, LINEAR_SETTLEMENT, LISTING_CURRENCIES, deribit_key, index_name
from .listing import listing_currency
from .parsing import book_from_result, instrument_from_row
from .transport import Transport

if TYPE_CHECKING:
    from .instrument_cache import InstrumentCache

#: Codes of a ``public/get_instrument`` reply meaning "no such instrument".
NOT_LISTED = frozenset({-32602, 10020, 13020})
_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=16, thread_name_prefix="deribit-meta")
        return _POOL

#: ``get_instruments`` currencies: BTC and ETH list the inverse options, USDC the linear ones.
CURRENCIES = LISTING_CURRENCIES
#: ``public/get_order_book`` accepts only these depths.
DEPTHS = (1, 5, 10, 20, 50, 100, 1000, 10000)
#: get_instruments is rate-limited to about one call per second: keep the list a while.
INSTRUMENTS_TTL = 300.0


def api_depth(depth: int) -> int:
    """The smallest depth Deribit accepts that covers ``depth`` levels."""
    return next((d for d in DEPTHS if d >= depth), DEPTHS[-1])


class Market:
    """Instrument cache and books for one transport. Thread-safe."""

    def __init__(self, transport: Transport, *, ttl: float = INSTRUMENTS_TTL,
                 clock: Callable[[], float] = time.monotonic, cache: "InstrumentCache | None" = None):
        from .instrument_cache import InstrumentCache

        self._transport = transport
        self._disk = cache if cache is not None else InstrumentCache(None, transport.settings.base_url)
        self._ttl, self._clock = ttl, clock
        self._cache: dict[str, tuple[float, dict[OptionKey, VenueInstrument]]] = {}
        self._locks = {currency: threading.Lock() for currency in CURRENCIES}

    def call(self, method: str, params: dict) -> dict:
        """A public call, retried with backoff on retryable failures; returns ``result``."""
        return retry_safe(lambda: self._transport.call(method, params))["result"]

    def instruments(self, currency: str) -> dict[OptionKey, VenueInstrument]:
        """Options listed under ``currency`` (``BTC``, ``ETH``: inverse; ``USDC``: linear on every
        coin), keyed by :class:`OptionKey` (cached for the TTL)."""
        currency = currency.upper()
        if currency not in self._locks:
            return {}
        with self._locks[currency]:  # one fetch per currency even when legs ask at once
            cached = self._cache.get(currency)
            if cached and self._clock() - cached[0] < self._ttl:
                return cached[1]
            rows = self.call("public/get_instruments", {"currency": currency, "kind": "option", "expired": False})
            if not isinstance(rows, list):
                raise InvalidReply("public/get_instruments: result is not a list")
            listing: dict[OptionKey, VenueInstrument] = {}
            for row in rows:
                instrument = instrument_from_row(row)
                if instrument is not None and listing_currency(instrument.key) == currency:
                    listing[instrument.key] = instrument
            self._cache[currency] = (self._clock(), listing)
            return listing

    def find(self, key: OptionKey) -> VenueInstrument | None:
        """The contract :func:`~gps_venue_deribit.listing.deribit_key` resolves ``key`` to.

        Matches on every field of the key: underlying, settlement, expiry date, strike and
        call/put. ``SOL-25DEC26-140-C`` finds ``SOL_USDC-25DEC26-140-C``; ``BTC-...`` finds only
        the inverse contract.
        """
        resolved = deribit_key(key)
        currency = listing_currency(resolved)
        listed = self._cache.get(currency)
        if listed and self._clock() - listed[0] < self._ttl:
            return listed[1].get(resolved)
        instrument = self._from_row(self._disk.row(resolved.name), resolved)
        if instrument is not None and instrument.is_active and not instrument.is_expired():
            return instrument
        row = self._instrument_row(resolved.name)
        instrument = self._from_row(row, resolved)
        if instrument is not None:
            self._disk.store(resolved.name, row)
            return instrument
        return self.instruments(currency).get(resolved)  # a name gps spells unlike Deribit still resolves

    def forget(self, symbol: str) -> None:
        """Drop what is cached about ``symbol`` (an order was refused for its instrument or tick)."""
        self._disk.forget(symbol)
        self._cache.clear()  # the in-process lists too: the next find asks the venue

    @staticmethod
    def _from_row(row, resolved: OptionKey) -> VenueInstrument | None:
        if row is None:
            return None
        instrument = instrument_from_row(row)
        if instrument is None or instrument.key != resolved or listing_currency(instrument.key) != listing_currency(resolved):
            return None
        return instrument

    def _instrument_row(self, name: str) -> dict | None:
        """``public/get_instrument`` for one name; ``None`` when Deribit does not know it."""
        try:
            row = self.call("public/get_instrument", {"instrument_name": name})
        except VenueError as exc:
            if exc.code in NOT_LISTED:
                return None
            raise
        if not isinstance(row, dict):
            raise InvalidReply("public/get_instrument: result is not an object")
        return row

    def _fresh(self, instrument: VenueInstrument) -> VenueInstrument:
        """The instrument as Deribit lists it now (refreshing the cache); raises when it cannot be traded."""
        row = self._instrument_row(instrument.symbol)
        fresh = self._from_row(row, instrument.key)
        if fresh is None:
            self._disk.forget(instrument.symbol)
            raise VenueError(f"{instrument.symbol} is no longer listed")
        self._disk.store(instrument.symbol, row)
        if not fresh.is_active:  # the venue's own word; an expired instrument is no longer active there
            raise VenueError(f"{instrument.symbol} is not open for trading (state {row.get('state') or 'inactive'})")
        return fresh

    def list(self, underlying: str) -> list[VenueInstrument]:
        """Live options on ``underlying``: ``BTC``/``ETH`` (inverse), ``BTC_USDC`` (linear BTC),
        ``SOL`` or ``SOL_USDC`` (linear: Deribit lists SOL only as linear)."""
        coin, _, settlement = underlying.upper().partition("_")
        if settlement or coin not in INVERSE_CURRENCIES:
            settlement = settlement or LINEAR_SETTLEMENT
            rows = (i for i in self.instruments(settlement).values()
                    if i.key.underlying == coin and i.key.settlement == settlement)
        else:
            rows = (i for i in self.instruments(coin).values() if i.key.underlying == coin)
        return sorted((i for i in rows if i.is_active and not i.is_expired()), key=lambda i: i.key)

    def order_book(self, instrument: VenueInstrument, depth: int) -> OrderBook:
        """The book, priced on the instrument's metadata fetched alongside it (same round trip):
        ``book.instrument`` is that fresh instrument, whatever a cache said before. (A combo book's
        instrument was just fetched by :mod:`gps_venue_deribit.combos` and is used as it is.)"""
        depth = max(1, int(depth))
        fresh = None if instrument.is_combo else _pool().submit(self._fresh, instrument)
        try:
            result = self.call("public/get_order_book", {"instrument_name": instrument.symbol, "depth": api_depth(depth)})
        finally:
            if fresh is not None:
                instrument = fresh.result()
        index = None
        if not isinstance(result, dict) or result.get("index_price") is None:
            index = self.index_price(index_name(instrument.key))
        return book_from_result(instrument, result, depth, index)

    def index_price(self, index_name: str) -> Decimal:
        result = self.call("public/get_index_price", {"index_name": index_name})
        if not isinstance(result, dict):
            raise InvalidReply("public/get_index_price: result is not an object")
        return to_decimal(result.get("index_price"), field=f"{index_name} index_price")
