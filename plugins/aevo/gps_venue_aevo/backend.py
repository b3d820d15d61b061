"""What each hook does, on top of :class:`~gps_venue_aevo.transport.Transport`.

Loaded on the first hook call (never at import of the entry module). Thread-safe: the
caches are guarded by a lock and everything else is per call.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Callable, Mapping

from gps_core.api import (
    AuthenticationError,
    GpsError,
    InvalidOrder,
    InvalidReply,
    OrderNotFound,
    OrderNotOpen,
    OrderRejected,
    OutcomeUnknown,
)
from gps_core.api import retry_safe
from gps_core.api import OptionKey
from gps_core.api import AuthResult, OrderBook, OrderRequest, OrderSnapshot, Side, TimeInForce, VenueInstrument
from gps_core.api import Money, is_multiple, to_decimal
from gps_core.api import Secret

from . import config, fees, history, market, orders, signing
from .transport import Transport, ApiKey
from .config import Settings
from .signing import OrderFields

log = logging.getLogger(__name__)

MARKETS_TTL = 60.0
INDEX_TTL = 2.0
#: A retried placement (same client order id, after Aevo said nothing was placed) reuses the
#: first attempt's timestamp within this window, so it has the same order id as the first.
TIMESTAMP_REUSE_WINDOW = 60
_ORDER_ID = re.compile(r"^0x[0-9a-f]{64}$")
_PRIVATE_KEY = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")


@dataclass(frozen=True)
class _Signer:
    """The order signer: the wallet (maker) and the registered signing key's private key."""

    maker: str
    signing_key: Secret

    def __repr__(self) -> str:
        return f"_Signer(maker={self.maker!r}, signing_key='***')"


class AevoBackend:
    """The Aevo venue's behaviour; one per plugin instance."""

    def __init__(self, settings: Settings | None = None, transport: Transport | None = None,
                 clock: Callable[[], float] = time.time):
        self.settings = settings or Settings.from_environ()
        self.transport = transport or Transport(self.settings)
        self.clock = clock
        self._signer: _Signer | None = None
        self._lock = threading.Lock()
        self._markets: dict[str, tuple[float, list[VenueInstrument], Decimal | None]] = {}
        self._index: dict[str, tuple[float, Decimal]] = {}
        self._marks: dict[str, dict[str, tuple[Decimal | None, Decimal | None]]] = {}
        self._fetch_locks: dict[str, threading.Lock] = {}
        # (order id, filled) -> (fee Aevo reported, the fills' average price or None)
        self._fees: dict[tuple[str, Decimal], tuple[Money, Decimal | None]] = {}

    def __repr__(self) -> str:
        return f"AevoBackend({self.settings.base_url!r}, signer={self._signer!r})"

    # --- credentials -------------------------------------------------------------------

    def authenticate(self, credentials: Mapping[str, Secret]) -> AuthResult:
        """Check all four credentials are there and well-formed, then ask Aevo who we are."""
        missing = [name for name in config.CREDENTIAL_ENV if not credentials.get(name)]
        if missing:
            raise AuthenticationError(
                f"missing Aevo credentials: set {', '.join(missing)} (environment or credentials.toml)")
        key = credentials[config.SIGNING_KEY]
        if not _PRIVATE_KEY.match(key.reveal().strip()):
            raise AuthenticationError(f"{config.SIGNING_KEY} is not a 32-byte hex private key")
        try:
            maker = signing.checksum(credentials[config.WALLET_ADDRESS].reveal().strip())
        except ValueError:
            raise AuthenticationError(f"{config.WALLET_ADDRESS} is not an Ethereum address") from None
        signing_key = Secret(key.reveal().strip())
        try:
            signer_address = signing.address_of(signing_key.reveal())
        except Exception:  # noqa: BLE001 - never let the key's parser put it in a message
            raise AuthenticationError(f"{config.SIGNING_KEY} is not a valid secp256k1 private key") from None
        self.transport.set_api_key(ApiKey(credentials[config.API_KEY], credentials[config.API_SECRET]))
        account = retry_safe(self.transport.account)
        self._check_account(account, maker, signer_address)
        with self._lock:
            self._signer = _Signer(maker, signing_key)
        net = "testnet" if self.settings.testnet else "mainnet"
        return AuthResult(config.VENUE, account=maker, testnet=self.settings.testnet,
                          detail=f"{net} at {self.settings.base_url}; signing key {signer_address}")

    def _check_account(self, account, maker: str, signer_address: str) -> None:
        """Catch a wrong wallet or an unregistered/expired signing key before any order is signed.

        Uses ``account`` and ``signing_keys`` from ``GET /account`` when Aevo sends them.
        """
        if not isinstance(account, dict):
            return
        owner = account.get("account")
        if isinstance(owner, str) and owner.lower() != maker.lower():
            raise AuthenticationError(
                f"the API key belongs to account {owner}, not {config.WALLET_ADDRESS} {maker}")
        keys = account.get("signing_keys")
        if not isinstance(keys, list):
            return
        entries = {str(k.get("signing_key", "")).lower(): k for k in keys if isinstance(k, dict)}
        entry = entries.get(signer_address.lower())
        if entry is None:
            raise AuthenticationError(
                f"the signing key {signer_address} is not registered for {maker}: "
                "register it (app.aevo.xyz > Settings > Signing keys, or POST /register) "
                f"and set {config.SIGNING_KEY} to its private key")
        expiry = _seconds(entry.get("expiry"))
        if expiry is not None and expiry <= self.clock():
            raise AuthenticationError(
                f"the signing key {signer_address} has expired: register a new one (keys made in the "
                f"Aevo UI last one week; POST /register with a long expiry makes a lasting one)")

    def _require_signer(self) -> _Signer:
        signer = self._signer
        if signer is None:
            raise AuthenticationError(
                f"Aevo orders need credentials: set {', '.join(config.CREDENTIAL_ENV)}")
        return signer

    # --- market data -------------------------------------------------------------------

    def _fetch_lock(self, asset: str) -> threading.Lock:
        with self._lock:
            return self._fetch_locks.setdefault(asset, threading.Lock())

    def instruments(self, underlying: str) -> list[VenueInstrument]:
        """Every option on ``underlying`` from ``GET /markets`` (cached for ``MARKETS_TTL``)."""
        asset = underlying.upper()
        with self._fetch_lock(asset):
            cached = self._markets.get(asset)
            if cached and time.monotonic() - cached[0] < MARKETS_TTL:
                return cached[1]
            raw = retry_safe(lambda: self.transport.markets(asset))
            parsed = market.parse_markets(raw)
            self._markets[asset] = (time.monotonic(), parsed, market.index_from_markets(raw))
            self._marks[asset] = market.marks_from_markets(raw)
            return parsed

    def find(self, key: OptionKey) -> VenueInstrument | None:
        """The listing matching all of underlying, expiry, strike and type."""
        matches = [i for i in self.instruments(key.underlying) if i.key == key]
        if len(matches) > 1:
            log.warning("Aevo lists %d instruments for %s; using none", len(matches), key.name)
            return None
        return matches[0] if matches else None

    def live_instruments(self, underlying: str) -> list[VenueInstrument]:
        return market.live(self.instruments(underlying))

    def index_price(self, asset: str) -> Decimal:
        """``GET /index`` (cached briefly), falling back to the ``/markets`` index price."""
        asset = asset.upper()
        cached = self._index.get(asset)
        if cached and time.monotonic() - cached[0] < INDEX_TTL:
            return cached[1]
        try:
            raw = retry_safe(lambda: self.transport.index(asset), attempts=2)
            price = to_decimal(raw.get("price") if isinstance(raw, dict) else None, field="index price")
        except GpsError as exc:
            fallback = self._markets.get(asset)
            if fallback and fallback[2] is not None:
                log.debug("GET /index failed (%s); using the /markets index price", exc)
                return fallback[2]
            raise
        self._index[asset] = (time.monotonic(), price)
        return price

    def order_book(self, instrument: VenueInstrument, depth: int) -> OrderBook:
        raw = retry_safe(lambda: self.transport.orderbook(instrument.symbol))
        asset = instrument.key.underlying.upper()
        mark = self._marks.get(asset, {}).get(instrument.symbol, (None, None))  # /markets, cached up to MARKETS_TTL
        return market.parse_orderbook(raw, instrument, depth, self.index_price(asset), mark)

    # --- positions ---------------------------------------------------------------------

    def positions(self, underlying: str | None = None) -> list:
        """Open option positions from ``GET /positions`` (credentials needed)."""
        from .positions import parse_positions

        self._require_signer()
        return parse_positions(retry_safe(self.transport.positions), underlying)

    # --- orders ------------------------------------------------------------------------

    @staticmethod
    def check_order(order: OrderRequest) -> None:
        """Refuse, before anything is signed or sent, an order Aevo could never carry out.

        :raises InvalidOrder: post-only with IOC (a post-only order must rest on the book
            and an IOC order never rests, so every such order would be refused or cancelled).
        """
        if order.post_only and order.time_in_force is TimeInForce.IOC:
            raise InvalidOrder(f"order {order.client_order_id}: post-only cannot be combined with IOC "
                               "(post-only must rest on the book, IOC never rests); nothing was sent")

    def _fields(self, order: OrderRequest, maker: str) -> OrderFields:
        instrument = order.instrument
        if not instrument.venue_id:
            raise InvalidOrder(f"{instrument.symbol}: no Aevo instrument_id")
        if order.quantity <= 0 or order.limit_price <= 0:
            raise InvalidOrder(f"quantity {order.quantity} and price {order.limit_price} must be positive")
        if not is_multiple(order.limit_price, instrument.tick_size):
            raise InvalidOrder(
                f"price {order.limit_price} is not a multiple of {instrument.symbol}'s price_step {instrument.tick_size}")
        if not is_multiple(order.quantity, instrument.quantity_step):
            raise InvalidOrder(
                f"amount {order.quantity} is not a multiple of {instrument.symbol}'s amount_step {instrument.quantity_step}")
        limit_price = signing.scale6(order.limit_price, "price")
        amount = signing.scale6(order.quantity, "amount")
        now = int(self.clock())
        timestamp = order.venue_data.get("timestamp")
        if not (isinstance(timestamp, int) and 0 <= now - timestamp <= TIMESTAMP_REUSE_WINDOW):
            timestamp = now
        return OrderFields(maker=maker, is_buy=order.side is Side.BUY, limit_price=limit_price, amount=amount,
                           salt=signing.salt_for(order.client_order_id), instrument=int(instrument.venue_id),
                           timestamp=timestamp)

    def place(self, order: OrderRequest) -> OrderSnapshot:
        """Check, sign, record the order id, then ``POST /orders`` once."""
        self.check_order(order)
        try:
            signer = self._require_signer()
        except AuthenticationError as exc:
            raise OrderRejected(f"not sent: {exc.message}", code=exc.code) from None
        fields = self._fields(order, signer.maker)
        signed = signing.sign_order(fields, self.settings.domain, signer.signing_key.reveal())
        order = order.record_before_send(venue_order_id=signed.order_id, salt=str(fields.salt),
                                         timestamp=fields.timestamp, instrument_id=str(fields.instrument),
                                         maker=fields.maker)
        try:
            raw = self.transport.create_order(orders.order_body(order, fields, signed))
        except AuthenticationError as exc:
            # Only one of Aevo's documented authentication codes gets here on POST /orders
            # (errors.error_for): Aevo refused the order before doing anything with it.
            raise OrderRejected(exc.message, code=exc.code) from None
        try:
            snap = orders.snapshot(raw, order.client_order_id, fallback_price=order.limit_price)
        except InvalidReply as exc:
            raise OutcomeUnknown(f"POST /orders: {exc.message}; the order may exist") from None
        if snap.venue_order_id and snap.venue_order_id != signed.order_id:
            log.warning("Aevo returned order id %s for %s, expected %s", snap.venue_order_id,
                        order.client_order_id, signed.order_id)
        # No fee lookup here: it would cost a round trip between this leg's send and its
        # acknowledgement. The schedule's estimate is labelled; the engine's final status
        # refresh (or gps status) reads what Aevo charged.
        try:
            return self._with_fee(order, snap, signed.order_id, ask_venue=False)
        except Exception:  # noqa: BLE001 - the order is placed: a fee problem must not hide that
            log.exception("fee estimate of %s failed", order.client_order_id)
            return snap

    @staticmethod
    def _order_id(order: OrderRequest) -> str:
        order_id = (order.venue_order_id or "").lower()
        if not order_id:
            # record_before_send runs before the POST, so an order without an id was never sent.
            raise OrderNotFound(f"order {order.client_order_id} was never signed, so never sent to Aevo")
        if not _ORDER_ID.match(order_id):
            raise OrderNotFound(f"order {order.client_order_id}: {order_id!r} is not an Aevo order id")
        return order_id

    def status(self, order: OrderRequest) -> OrderSnapshot:
        """``GET /orders/{id}`` by the id computed before sending (works after a lost reply).

        Should Aevo no longer serve a closed order there, ``GET /order-history`` is searched,
        page by page, over the whole window from the order's signed timestamp on, before
        answering "not found". A closed order with fills carries the fees Aevo charged
        (``GET /trade-history``); see :meth:`_with_fee`.

        :raises OrderNotFound: neither endpoint has the order.
        :raises OutcomeUnknown: the history could not be searched to its end.
        """
        order_id = self._order_id(order)
        try:
            raw = retry_safe(lambda: self.transport.order(order_id))
        except OrderNotFound:
            raw = self._from_history(order, order_id)
        snap = orders.snapshot(raw, order.client_order_id, fallback_price=order.limit_price)
        return self._with_fee(order, snap, order_id, ask_venue=True)

    def _from_history(self, order: OrderRequest, order_id: str) -> dict:
        start, end = history.window(order.venue_data.get("timestamp"), self.clock())

        def page(offset: int):
            return retry_safe(lambda: self.transport.order_history(start, end, offset=offset))

        for entry in history.rows(page, "order_history", "order_id"):
            if str(entry.get("order_id", "")).lower() == order_id:
                return entry
        raise OrderNotFound(f"Aevo has no order {order_id} ({order.client_order_id})", code="ORDER_DOES_NOT_EXIST")

    # --- fees --------------------------------------------------------------------------

    def _with_fee(self, order: OrderRequest, snap: OrderSnapshot, order_id: str, *, ask_venue: bool) -> OrderSnapshot:
        """``snap`` with the fee of its fills in USD: what Aevo charged, else a labelled estimate.

        The same ``GET /trade-history`` rows give the fills' average price where ``snap`` only
        has the limit standing in for it (an order read from ``GET /order-history``).

        Aevo is asked (``GET /trade-history``, weight 5) only with ``ask_venue`` and once the
        order is closed, so polling a working order never pays for it; a fee read in full is
        cached per (order, filled). Fills Aevo does not (yet) list are estimated from the fee
        schedule at the taker rate and the snapshot says ``fee_estimated``. Never raises:
        without any figure the fee stays ``None``.
        """
        filled = snap.filled_quantity
        if filled <= 0:
            return snap
        known = fees.Charged(Decimal(0), Decimal(0))
        if ask_venue and not snap.is_working:
            cached = self._fees.get((order_id, filled))
            if cached is not None:
                return _priced(replace(snap, fee=cached[0], fee_estimated=False), cached[1])
            try:
                known = self._charged(order, order_id)
            except Exception as exc:  # noqa: BLE001 - a fee is never worth failing a status lookup
                log.info("fees of %s not read from Aevo (%s); estimating them", order.client_order_id, exc)
        if known.amount >= filled:
            fee = Money(known.fees, fees.CURRENCY)
            average = known.average_price
            with self._lock:
                self._fees[(order_id, filled)] = (fee, average)
            return _priced(replace(snap, fee=fee, fee_estimated=False), average)
        try:
            value = self._underlying_value(order.instrument.key.underlying, fetch=ask_venue and not snap.is_working)
            rest = fees.estimate(order.instrument, filled - known.amount, snap.average_price, value)
        except GpsError as exc:
            log.info("no fee estimate for %s (%s)", order.client_order_id, exc)
            return snap if known.amount == 0 else replace(snap, fee=Money(known.fees, fees.CURRENCY), fee_estimated=True)
        return replace(snap, fee=Money(known.fees + rest, fees.CURRENCY), fee_estimated=True)

    def _charged(self, order: OrderRequest, order_id: str) -> fees.Charged:
        """The fees Aevo lists for the order's fills, over the whole window since it was signed."""
        start, end = history.window(order.venue_data.get("timestamp"), self.clock())
        asset = order.instrument.key.underlying

        def page(offset: int):
            return retry_safe(lambda: self.transport.trade_history(asset, start, end, offset=offset))

        return fees.charged(history.rows(page, "trade_history", "trade_id"), order_id)

    def _underlying_value(self, asset: str, *, fetch: bool) -> Decimal:
        """The index price: fetched if allowed, else the last one seen (no round trip)."""
        if fetch:
            return self.index_price(asset)
        asset = asset.upper()
        cached = self._index.get(asset) or (None, None)
        if cached[1] is not None:
            return cached[1]
        listed = self._markets.get(asset)
        if listed and listed[2] is not None:
            return listed[2]
        raise InvalidReply(f"no {asset} index price seen yet")

    def cancel(self, order: OrderRequest) -> OrderSnapshot:
        """``DELETE /orders/{id}``, then the order's state after the cancel.

        When Aevo refuses the cancel (already filled, cancelled, or unknown to it) the order is
        looked up so the answer is exact: :class:`OrderNotOpen` if it exists but is no longer
        working, :class:`OrderNotFound` if Aevo has no such order.
        """
        order_id = self._order_id(order)
        try:
            retry_safe(lambda: self.transport.cancel_order(order_id))
        except (OrderNotOpen, OrderNotFound) as refused:
            try:
                snap = self.status(order)
            except OrderNotFound:
                raise refused if isinstance(refused, OrderNotFound) else OrderNotFound(
                    f"order {order.client_order_id} is unknown to Aevo", code=refused.code) from None
            if snap.is_working:
                raise OutcomeUnknown(f"cancel of {order.client_order_id} was refused ({refused.code}) "
                                     "but the order is still open") from None
            raise OrderNotOpen(f"order {order.client_order_id} is {snap.status.value}, not open",
                               code=refused.code) from None
        return self.status(order)


def _priced(snap: OrderSnapshot, average: Decimal | None) -> OrderSnapshot:
    """``snap`` with the fills' average price from ``GET /trade-history`` where it only had a stand-in."""
    if not snap.price_estimated or average is None:
        return snap
    return replace(snap, average_price=average.normalize(), price_estimated=False)


def _seconds(value) -> float | None:
    """A signing key expiry as UNIX seconds (Aevo timestamps are nanoseconds; accept seconds too)."""
    if value in (None, ""):
        return None
    try:
        number = to_decimal(value, field="expiry")
    except GpsError:
        return None
    return float(number / 10**9) if number > 10**15 else float(number)

