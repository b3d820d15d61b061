"""Public market data: the option list (cached) and order books. No credentials needed."""

from __future__ import annotations

import threading
import time
from decimal import Decimal
from typing import Callable

from gps_core.errors import InvalidReply
from gps_core.http import retry_safe
from gps_core.instruments import OptionKey
from gps_core.model import OrderBook, VenueInstrument
from gps_core.money import to_decimal

from .listing import INVERSE_CURRENCIES, LINEAR_SETTLEMENT, LISTING_CURRENCIES, deribit_key, index_name
from .listing import listing_currency
from .parsing import book_from_result, instrument_from_row
from .transport import Transport

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
                 clock: Callable[[], float] = time.monotonic):
        self._transport = transport
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
        return self.instruments(listing_currency(resolved)).get(resolved)

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
        depth = max(1, int(depth))
        result = self.call("public/get_order_book", {"instrument_name": instrument.symbol, "depth": api_depth(depth)})
        index = None
        if not isinstance(result, dict) or result.get("index_price") is None:
            index = self.index_price(index_name(instrument.key))
        return book_from_result(instrument, result, depth, index)

    def index_price(self, index_name: str) -> Decimal:
        result = self.call("public/get_index_price", {"index_name": index_name})
        if not isinstance(result, dict):
            raise InvalidReply("public/get_index_price: result is not an object")
        return to_decimal(result.get("index_price"), field=f"{index_name} index_price")
