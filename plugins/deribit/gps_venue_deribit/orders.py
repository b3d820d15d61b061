"""Placing, looking up and cancelling orders (private methods, bearer token).

``place`` sends ``private/buy``/``private/sell`` exactly once. Lookups and cancels are safe
to repeat and go through ``retry_safe``; a refused token (13009) on them is answered by
one fresh login and one more try. An order is never re-sent here: when a token is refused
on ``place`` the order certainly was not accepted, and the core decides what to do next.
"""

from __future__ import annotations

import logging
import threading

from gps_core.api import (
    AuthenticationError,
    InvalidOrder,
    InvalidReply,
    NetworkError,
    OrderNotFound,
    OrderNotOpen,
    OrderRejected,
    OutcomeUnknown,
    RateLimited,
    VenueError,
    VenueUnavailable,
)
from gps_core.api import retry_safe
from gps_core.api import OrderRequest, OrderSnapshot, Side, TimeInForce
from gps_core.api import is_multiple, to_decimal

from .auth import RequestSigner, TokenManager
from .config import VENUE
from .errors import TOKEN_REFUSED, Outcome, lookup
from .listing import listing_currency
from .parsing import snapshot_from_order, trades_fee
from .transport import Transport

log = logging.getLogger(__name__)

LABEL_MAX = 64
#: Refusals that mean gps's instrument metadata is wrong: 10020 invalid_or_unsupported_instrument,
#: 10026 price_precision_exceeded, 10043 price_wrong_tick, 13020 not_found, -32602 invalid params
#: (the fake's and Deribit's answer to an unknown instrument name).
INSTRUMENT_REFUSALS = frozenset({10020, 10026, 10043, 13020, -32602})
TIME_IN_FORCE = {TimeInForce.GTC: "good_til_cancelled", TimeInForce.IOC: "immediate_or_cancel"}


def check_order(order: OrderRequest) -> None:
    """Refuse, before anything is sent, an order Deribit would refuse for its form."""
    instrument = order.instrument
    what = f"order {order.client_order_id}"
    if instrument.venue != VENUE:
        raise InvalidOrder(f"{what}: instrument belongs to {instrument.venue!r}, not {VENUE!r}")
    if not order.client_order_id or len(order.client_order_id) > LABEL_MAX:
        raise InvalidOrder(f"{what}: client order id must be 1..{LABEL_MAX} characters (Deribit label)")
    if order.quantity < instrument.min_quantity:
        raise InvalidOrder(f"{what}: amount {order.quantity} is below the minimum {instrument.min_quantity}")
    if not is_multiple(order.quantity, instrument.quantity_step):
        raise InvalidOrder(f"{what}: amount {order.quantity} is not a multiple of {instrument.quantity_step}")
    tick = instrument.tick_at(order.limit_price)
    if order.limit_price <= 0 or not is_multiple(order.limit_price, tick):
        raise InvalidOrder(f"{what}: price {order.limit_price} is not on the tick {tick} {instrument.price_currency}")
    if order.post_only and order.time_in_force is not TimeInForce.GTC:
        raise InvalidOrder(f"{what}: post-only needs good-til-cancelled on Deribit")
    if order.reduce_only and instrument.is_combo:
        # Deribit documents reduce_only against an instrument's position; a combo book holds none
        # (positions are per leg). gps reduces a combo's legs on their own books instead.
        raise InvalidOrder(f"{what}: reduce-only is not documented for Deribit combo books "
                           f"({instrument.symbol}); reduce each leg on its own book")


def order_params(order: OrderRequest, clock_offset_ms: int = 0) -> dict:
    """The ``private/buy``/``private/sell`` params for ``order`` (every flag explicit).

    ``valid_until`` is moved onto the venue's clock (``clock_offset_ms``) so a skewed local
    clock neither drops every order nor keeps a lost one alive for longer than the core meant.
    """
    params = {
        "instrument_name": order.instrument.symbol,
        "amount": order.quantity,
        "type": "limit",
        "price": order.limit_price,
        "label": order.client_order_id,
        "time_in_force": TIME_IN_FORCE[order.time_in_force],
        # The spec's default for post_only is true, yet orders without it come back false: always say.
        "post_only": bool(order.post_only),
        "reduce_only": bool(order.reduce_only),
    }
    if order.post_only:
        # Refuse rather than let Deribit silently move the price.
        params["reject_post_only"] = True
    if order.valid_until is not None:
        params["valid_until"] = int(order.valid_until.timestamp() * 1000) + clock_offset_ms
    return params


def with_leg_fills(snapshot: OrderSnapshot, trades, order: OrderRequest) -> OrderSnapshot:
    """A combo order's snapshot carries its leg trades (``LegFill``); any other is unchanged."""
    if not order.instrument.is_combo or not trades:
        return snapshot
    from dataclasses import replace

    from .combos import leg_fills

    return replace(snapshot, leg_fills=leg_fills(trades, order.instrument))


class Orders:
    """Order calls for one account. Thread-safe."""

    def __init__(self, transport: Transport, tokens: TokenManager | None, signer: RequestSigner | None = None):
        if tokens is None and signer is None:
            raise ValueError("Orders needs a token manager or a request signer")
        self._transport = transport
        self._tokens = tokens
        self._signer = signer  # when set, every private call is signed on its own (no token)
        #: called with the instrument name when an order is refused for its instrument or tick
        self.on_instrument_refused = None
        self._fees: dict[tuple[str, str], object] = {}  # the trades, per (order id, filled amount)
        self._fees_lock = threading.Lock()

    # --- plumbing ----------------------------------------------------------------------

    def _safe(self, method: str, params: dict):
        """A repeatable private call: backoff on retryable errors, one re-login on 13009."""

        def attempt():
            if self._signer is not None:
                try:
                    return self._transport.call(method, params, signer=self._signer)
                except AuthenticationError as exc:
                    if exc.code != TOKEN_REFUSED:
                        raise
                    # a refused signature (clock step, reused nonce): one more try, freshly signed
                    return self._transport.call(method, params, signer=self._signer)
            token = self._tokens.token()
            try:
                return self._transport.call(method, params, token=token)
            except AuthenticationError as exc:
                if exc.code != TOKEN_REFUSED:
                    raise
                self._tokens.invalidate(token)
                return self._transport.call(method, params, token=self._tokens.token())

        return retry_safe(attempt)["result"]

    # --- place -------------------------------------------------------------------------

    def place(self, order: OrderRequest) -> OrderSnapshot:
        """Send the order once; see :func:`gps_core.hookspecs.gps_place` for the outcomes.

        A refusal that says the instrument or its tick is not what gps believed (no such
        instrument, wrong tick, too many decimals) also tells ``on_instrument_refused`` (the
        market forgets its cached metadata for that instrument, so the next quote fetches it).
        The order itself is never re-sent here.
        """
        return self._noting_refusal(order, lambda: self._place(order))

    def prepare_place(self, order: OrderRequest):
        """The order signed and made ready to write (``gps_prepare_place``), or ``None``.

        Only signed requests are prepared (a token may need a login first), on an idle
        keep-alive connection (:mod:`.raw`). The returned send's ``reply()`` returns or raises
        as :meth:`place` does.
        """
        if self._signer is None:
            return None
        check_order(order)
        method = "private/buy" if order.side is Side.BUY else "private/sell"
        params = order_params(order, self._transport.clock_offset_ms)
        call = self._transport.prepare(method, params, signer=self._signer)
        send = self._transport.prepare_send(call)
        if send is None:
            return None
        return PreparedOrder(send, lambda envelope_of: self._noting_refusal(
            order, lambda: self._placed(order, method, None, envelope_of)))

    def _noting_refusal(self, order: OrderRequest, place):
        try:
            return place()
        except OrderRejected as exc:
            if exc.code in INSTRUMENT_REFUSALS and self.on_instrument_refused is not None:
                self.on_instrument_refused(order.instrument.symbol)
            raise

    def _place(self, order: OrderRequest) -> OrderSnapshot:
        check_order(order)
        params = order_params(order, self._transport.clock_offset_ms)
        method = "private/buy" if order.side is Side.BUY else "private/sell"
        token = None
        if self._signer is None:
            try:
                token = self._tokens.token()
            except AuthenticationError as exc:
                raise OrderRejected(f"{method}: not sent, login refused: {exc.message}", code=exc.code) from None
            except (RateLimited, NetworkError, VenueUnavailable):
                raise
            except VenueError as exc:  # the login's outcome is unknown, but the order never left
                raise NetworkError(f"{method}: not sent, login failed: {exc.message}", code=exc.code) from None
        return self._placed(order, method, token,
                            lambda: self._transport.call(method, params, token=token, signer=self._signer))

    def _placed(self, order: OrderRequest, method: str, token: str | None, envelope_of) -> OrderSnapshot:
        """The snapshot of a sent order from ``envelope_of()`` (the reply envelope), errors mapped."""
        try:
            envelope = envelope_of()
        except (OrderRejected, RateLimited, NetworkError, VenueUnavailable, OutcomeUnknown):
            raise
        except AuthenticationError as exc:
            if exc.code == TOKEN_REFUSED:
                # The token or signature is checked before the order reaches the engine: nothing was placed.
                if token is not None:
                    self._tokens.invalidate(token)
                what = "access token" if token is not None else "request signature"
                raise VenueUnavailable(f"{method}: {what} refused; the order was not placed",
                                       code=exc.code) from None
            raise OrderRejected(exc.message, code=exc.code) from None
        except VenueError as exc:
            row = lookup(exc.code)
            if row is not None and row.outcome is Outcome.DEFINITIVE:
                # e.g. 13020 not_found (no such instrument): refused, nothing was placed
                raise OrderRejected(exc.message, code=exc.code) from None
            raise OutcomeUnknown(f"{method}: unexpected reply to a new order: {exc}", code=exc.code) from None
        result = envelope["result"]
        if not isinstance(result, dict) or not isinstance(result.get("order"), dict):
            raise InvalidReply(f"{method}: reply has no order object")
        placed = result["order"]
        if placed.get("label") != order.client_order_id:
            raise InvalidReply(f"{method}: reply is for label {placed.get('label')!r}, not {order.client_order_id!r}")
        fee = trades_fee(result.get("trades"), order.instrument.price_currency)
        snapshot = snapshot_from_order(placed, client_order_id=order.client_order_id, fee=fee)
        return with_leg_fills(snapshot, result.get("trades"), order)

    # --- look up -----------------------------------------------------------------------

    def status(self, order: OrderRequest) -> OrderSnapshot:
        """Find the order by venue id, else by label (how a lost placement is settled)."""
        found = None
        if order.venue_order_id:
            try:
                found = self._safe("private/get_order_state", {"order_id": order.venue_order_id})
            except OrderNotFound:
                found = None
        if found is None:
            found = self._by_label(order)
        return self._snapshot(order, found)

    def _by_label(self, order: OrderRequest) -> dict:
        rows = self._safe("private/get_order_state_by_label",
                          {"currency": listing_currency(order.instrument.key), "label": order.client_order_id})
        if not isinstance(rows, list):
            raise InvalidReply("private/get_order_state_by_label: result is not a list")
        rows = [r for r in rows if isinstance(r, dict) and r.get("label") == order.client_order_id]
        if not rows:
            raise OrderNotFound(f"no order labelled {order.client_order_id}")
        if len(rows) > 1:
            log.error("deribit: %d orders carry label %s (ids %s); reporting the working one first",
                      len(rows), order.client_order_id, ", ".join(str(r.get("order_id")) for r in rows))
        rows.sort(key=lambda r: (r.get("order_state") in ("open", "untriggered"), r.get("last_update_timestamp") or 0))
        return rows[-1]

    def _snapshot(self, order: OrderRequest, found) -> OrderSnapshot:
        if not isinstance(found, dict):
            raise InvalidReply(f"order {order.client_order_id}: reply is not an order object")
        if found.get("label") not in (None, order.client_order_id):
            raise InvalidReply(f"order {order.client_order_id}: venue order carries label {found.get('label')!r}")
        try:
            trades = self._trades(found)
        except AuthenticationError:
            raise
        except VenueError as exc:
            # The order's state and filled amount are known from the order itself: never turn them
            # into "unknown" because its trades (fees, a combo's per-leg prices) could not be read.
            # The snapshot then carries no fee (gps estimates it) and no leg fills (said as unknown).
            log.warning("deribit: trades of order %s could not be read (%s); its state is reported without them",
                        found.get("order_id"), exc)
            trades = None
        fee = None if trades is None else trades_fee(trades, order.instrument.price_currency)
        snapshot = snapshot_from_order(found, client_order_id=order.client_order_id, fee=fee)
        return with_leg_fills(snapshot, trades, order)

    def _trades(self, found: dict):
        """The order's trades (a combo order's: one per leg), fetched once per (order, filled amount)."""
        filled = to_decimal(found.get("filled_amount", 0), field="filled_amount")
        order_id = str(found.get("order_id") or "")
        if filled <= 0 or not order_id:
            return None
        key = (order_id, str(filled))
        with self._fees_lock:
            if key in self._fees:
                return self._fees[key]
        trades = self._safe("private/get_user_trades_by_order", {"order_id": order_id})
        with self._fees_lock:
            self._fees[key] = trades
        return trades

    # --- positions ---------------------------------------------------------------------

    def positions(self, underlying: str | None = None):
        """Open option positions (``private/get_positions``; see :mod:`gps_venue_deribit.positions`)."""
        from .positions import fetch_positions

        return fetch_positions(self._safe, underlying)

    # --- cancel ------------------------------------------------------------------------

    def cancel(self, order: OrderRequest) -> OrderSnapshot:
        """Cancel by venue id; 11044 -> ``OrderNotOpen``. Safe to repeat (a repeat answers 11044).

        Without a venue id (the placement reply was lost) it cancels by client order id:
        ``private/cancel_by_label {label, currency}`` (result: how many orders it cancelled),
        then looks the order up by label for its snapshot. Nothing carries the label:
        ``OrderNotFound``; the order exists but was not open: ``OrderNotOpen``.
        """
        if order.venue_order_id:
            return self._snapshot(order, self._safe("private/cancel", {"order_id": order.venue_order_id}))
        cancelled = self._safe("private/cancel_by_label",
                               {"label": order.client_order_id, "currency": order.instrument.key.underlying})
        if isinstance(cancelled, bool) or not isinstance(cancelled, int):
            raise InvalidReply("private/cancel_by_label: result is not a count")
        found = self._by_label(order)
        if cancelled == 0 and found.get("order_state") not in ("open", "untriggered"):
            raise OrderNotOpen(f"order labelled {order.client_order_id} is {found.get('order_state')}, not open")
        return self._snapshot(order, found)


class PreparedOrder:
    """A signed order ready to write (:class:`gps_core.fire.PreparedSend`); ``reply()`` as :meth:`Orders.place`."""

    def __init__(self, send, settle):
        self._send = send
        self._settle = settle  # settle(envelope_of) -> OrderSnapshot

    def __repr__(self) -> str:
        return f"PreparedOrder({self._send!r})"

    def fire(self) -> None:
        self._send.fire()

    def reply(self) -> OrderSnapshot:
        return self._settle(self._send.reply)

    def abandon(self) -> None:
        self._send.abandon()
