"""Aevo's ``{"error": CODE}`` replies mapped to the gps error taxonomy.

Sources: every code below is in Aevo's error reference (api-docs.aevo.xyz/reference/errors,
444 codes with one line of meaning each) except ``ERR_MALFORMED_REQUEST``, which is the
example value of ``error_400_response`` in Aevo's OpenAPI spec. Aevo does not say which
codes leave an order unplaced, so a code is *definitive* here only where its documented
meaning is a refusal before anything happens (bad signature, bad parameters, no margin...).

For ``POST /orders`` only these outcomes exist (see :func:`placement_outcome`):

* ``definitive`` - :class:`OrderRejected` (and subclasses) or :class:`AuthenticationError`:
  Aevo refused the order, it does not exist;
* ``rate-limit`` / ``not placed`` - :class:`RateLimited` / :class:`VenueUnavailable`:
  nothing was done, the core may retry after looking the order up;
* ``unknown`` - :class:`OutcomeUnknown`: everything else, including every code missing
  from this table, a 5xx, and a 4xx without Aevo's error body (a proxy), a 401/403 too: only
  the authentication codes listed below are definitive. The core settles
  it by looking the order up by its id; it never reports it as rejected.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Mapping

from gps_core.api import (
    AuthenticationError,
    InsufficientFunds,
    InvalidOrder,
    OrderNotFound,
    OrderNotOpen,
    OrderRejected,
    OutcomeUnknown,
    RateLimited,
    ReduceOnlyRefused,
    VenueError,
    VenueUnavailable,
)
from gps_core.api import redact_known

_SIGNING_KEY_HELP = (
    "register a signing key for AEVO_WALLET_ADDRESS (app.aevo.xyz > Settings > Signing keys, or "
    "POST /register with a long expiry) and set AEVO_SIGNING_KEY to its private key; keys made in "
    "the UI expire after one week"
)
_API_KEY_HELP = "check AEVO_API_KEY / AEVO_API_SECRET (app.aevo.xyz > Settings > API keys)"
_CLOCK_HELP = "the request timestamp was refused: check that this machine's clock is synchronised (NTP)"

#: CODE -> (exception class, what it means for the user). The class decides the outcome
#: (:func:`placement_outcome`); codes not listed are never definitive.
ERROR_TABLE: dict[str, tuple[type[VenueError], str]] = {
    # --- API key / request authentication ---
    "UNAUTHORIZED": (AuthenticationError, f"not authorised: {_API_KEY_HELP}"),
    "ACCOUNT_INVALID_API_KEY": (AuthenticationError, f"the API key is invalid: {_API_KEY_HELP}"),
    "INVALID_SIGNATURE": (AuthenticationError, f"the request signature was refused: {_API_KEY_HELP}"),
    "INVALID_KEY": (AuthenticationError, f"the API key is invalid: {_API_KEY_HELP}"),
    "API_KEY_READ_ONLY": (AuthenticationError, "the API key is read-only: create one that may trade"),
    "ACCOUNT_INVALID_IP_ADDRESS": (AuthenticationError, "the API key does not allow this IP address"),
    "INVALID_IP": (AuthenticationError, "the API key does not allow this IP address"),
    "TIMESTAMP_MISSING": (AuthenticationError, _CLOCK_HELP),
    "INVALID_TIMESTAMP": (AuthenticationError, _CLOCK_HELP),
    "TIMESTAMP_TOO_OLD": (AuthenticationError, _CLOCK_HELP),
    "TIMESTAMP_OUT_OF_DATE": (AuthenticationError, _CLOCK_HELP),
    # --- the order's signing key / signature ---
    "ACCOUNT_INVALID_SIGNING_KEY": (AuthenticationError, f"the signing key is not valid for this account: {_SIGNING_KEY_HELP}"),
    "OLD_SIGNING_KEY": (AuthenticationError, f"the signing key has expired: {_SIGNING_KEY_HELP}"),
    "ORDER_INVALID_SIGNING_KEY": (AuthenticationError, f"the order was signed by a key Aevo does not know for this account: {_SIGNING_KEY_HELP}"),
    "ORDER_BAD_SIGNING_KEY": (AuthenticationError, f"the order's signing key was refused: {_SIGNING_KEY_HELP}"),
    "ORDER_INVALID_SIGNATURE": (AuthenticationError, f"the order signature was refused: {_SIGNING_KEY_HELP}"),
    "ORDER_BAD_SIGNATURE": (AuthenticationError, f"the order signature was refused: {_SIGNING_KEY_HELP}"),
    "ORDER_NO_SIGNATURE": (AuthenticationError, "the order carried no signature"),
    "ORDER_INVALID_MAKER": (AuthenticationError, "the order's maker is not this API key's account: set AEVO_WALLET_ADDRESS to the account's wallet address"),
    "SIGNING_KEY_INVALID_ACCOUNT": (AuthenticationError, f"the signing key belongs to another account: {_SIGNING_KEY_HELP}"),
    # --- definitive refusals of an order for its parameters ---
    "INVALID_PRICE_STEP_SIZE": (InvalidOrder, "the price is not a multiple of the instrument's price_step"),
    "INVALID_AMOUNT_STEP_SIZE": (InvalidOrder, "the amount is not a multiple of the instrument's amount_step"),
    "BELOW_MIN_ORDER_VALUE": (InvalidOrder, "the order value is below the instrument's minimum"),
    "EXCEED_MAX_ORDER_VALUE": (InvalidOrder, "the order value is above the instrument's maximum"),
    "EXCEEDS_MAX_NOTIONAL": (InvalidOrder, "the order exceeds the maximum notional"),
    "EXCEED_ORDER_PRICE_BAND": (InvalidOrder, "the price is outside the allowed band around the mark price"),
    "EXCEED_TRADE_PRICE_BAND": (InvalidOrder, "the trade price would be outside the allowed band"),
    "INVALID_ORDER_PRICE": (InvalidOrder, "the price is invalid"),
    "ORDER_INVALID_PRICE": (InvalidOrder, "the price is invalid"),
    "INVALID_LIMIT_BUY_PRICE": (InvalidOrder, "the buy limit price is invalid"),
    "INVALID_LIMIT_SELL_PRICE": (InvalidOrder, "the sell limit price is invalid"),
    "INVALID_AMOUNT": (InvalidOrder, "the amount is invalid"),
    "ORDER_INVALID_AMOUNT": (InvalidOrder, "the amount is invalid"),
    "ORDER_INVALID_SALT": (InvalidOrder, "the salt is invalid"),
    "ORDER_INVALID_TIME": (InvalidOrder, f"the order timestamp is invalid; {_CLOCK_HELP}"),
    "ORDER_INVALID_TYPE": (InvalidOrder, "the order type is invalid"),
    "INVALID_ORDER_TIME_IN_FORCE": (InvalidOrder, "the time in force is invalid"),
    "INVALID_INSTRUMENT": (InvalidOrder, "the instrument is invalid"),
    "ORDER_INVALID_INSTRUMENT": (InvalidOrder, "the instrument is invalid"),
    "INSTRUMENT_INVALID": (InvalidOrder, "the instrument is invalid"),
    "INSTRUMENT_ID_INVALID": (InvalidOrder, "the instrument id is invalid"),
    "INSTRUMENT_NOT_FOUND": (InvalidOrder, "the instrument does not exist"),
    "INSTRUMENT_INACTIVE": (InvalidOrder, "the instrument is not active"),
    "INSTRUMENT_EXPIRED": (InvalidOrder, "the instrument has expired"),
    "INSTRUMENT_PAUSED": (InvalidOrder, "the instrument is paused"),
    "INSTRUMENT_DELISTING": (InvalidOrder, "the instrument is being delisted"),
    "ORDER_NO_ORDERBOOK": (InvalidOrder, "the instrument has no order book"),
    "NO_POSITION_REDUCE_ONLY": (ReduceOnlyRefused, "reduce-only order without a position to reduce"),
    "REDUCE_ONLY_NO_POSITION": (ReduceOnlyRefused, "reduce-only order without a position to reduce"),
    "INVALID_DIRECTION_REDUCE_ONLY": (ReduceOnlyRefused, "reduce-only order in the direction that would increase the position"),
    "ORDER_EXCEEDS_CAPACITY_OF_REDUCE_ONLY": (ReduceOnlyRefused, "reduce-only order larger than the position"),
    "REDUCE_ONLY_ORDER_AMOUNT_EXCEEDS_POSITION": (ReduceOnlyRefused, "reduce-only order larger than the position"),
    "INVALID_ORDER_REDUCE_ONLY": (InvalidOrder, "the reduce-only order is invalid"),
    "ERR_MALFORMED_REQUEST": (InvalidOrder, "Aevo could not read the request"),  # OpenAPI error_400 example
    "BAD_REQUEST": (InvalidOrder, "Aevo refused the request as malformed"),
    # --- definitive refusals for market or account state ---
    "IOC_ORDER_REJECTED": (OrderRejected, "IOC order rejected: nothing could be filled at the limit price"),
    "GTC_ORDER_REJECTED": (OrderRejected, "GTC order rejected"),
    "REDUCE_ONLY_ORDER_REJECTED": (OrderRejected, "reduce-only order rejected"),
    "RISK_INVALID_ORDER": (OrderRejected, "rejected by Aevo's risk checks"),
    "ACCOUNT_MMP_PROTECTED": (OrderRejected, "market-maker protection is active on the account"),
    "ACCOUNT_LIQUIDATION": (OrderRejected, "the account is being liquidated"),
    "TOO_MANY_PENDING_ORDERS": (OrderRejected, "too many open orders"),
    "INSUFFICIENT_AVAILABLE_MARGIN": (InsufficientFunds, "insufficient available margin"),
    "INSUFFICIENT_MARGIN": (InsufficientFunds, "insufficient margin"),
    "INSUFFICIENT_BALANCE": (InsufficientFunds, "insufficient balance"),
    "INSUFFICIENT_AVAILABLE_BALANCE": (InsufficientFunds, "insufficient available balance"),
    "NO_AVAILABLE_BALANCE": (InsufficientFunds, "no available balance"),
    "ORDER_VALUE_EXCEEDS_BALANCE": (InsufficientFunds, "the order value exceeds the balance"),
    "TRADING_PAUSED": (VenueUnavailable, "trading is paused"),
    "MAINTENANCE_MODE_ENABLED": (VenueUnavailable, "Aevo is in maintenance"),
    "RATE_LIMIT_EXCEEDED": (RateLimited, "rate limit exceeded"),
    # --- looking orders up and cancelling them ---
    "ORDER_DOES_NOT_EXIST": (OrderNotFound, "Aevo has no order with this id"),
    "ORDER_NOT_FOUND": (OrderNotFound, "Aevo has no order with this id"),
    "ORDER_CANCELLED": (OrderNotOpen, "the order is already cancelled"),
    "ORDER_EXPIRED": (OrderNotOpen, "the order has expired"),
    "ORDER_EXISTS_MATCHED": (OrderNotOpen, "the order has already been matched"),
    "ORDER_INVALID_STATE": (OrderNotOpen, "the order is not in a state that allows this"),
    "NO_ORDERS_TO_CANCEL": (OrderNotOpen, "there is no open order to cancel"),
    # --- the effect is not known: look the order up, never resend it ---
    "ORDER_EXISTS": (OutcomeUnknown, "an order with this id already exists"),
    "ORDER_EXISTS_PENDING": (OutcomeUnknown, "an order with this id is pending"),
    "ORDER_CREATE_PENDING": (OutcomeUnknown, "the order creation is pending"),
    "ORDER_ACCEPT_PENDING": (OutcomeUnknown, "the order acceptance is pending"),
    "ORDER_CANCEL_PENDING": (OutcomeUnknown, "the cancel is pending"),
    "ORDER_TIMED_OUT": (OutcomeUnknown, "the order timed out inside Aevo"),
    "TIMED_OUT": (OutcomeUnknown, "the operation timed out inside Aevo"),
    "INTERNAL_ERROR": (OutcomeUnknown, "Aevo internal error"),
    "PANIC": (OutcomeUnknown, "Aevo internal error"),
    "UNKNOWN": (OutcomeUnknown, "Aevo reported an unexpected error"),
}


def retry_after_seconds(headers: Mapping[str, str], body: object) -> float | None:
    """Seconds to wait, from ``X-RETRY-AFTER`` or the body's ``retry_after`` (both nanoseconds)."""
    raw = headers.get("X-RETRY-AFTER")
    if raw is None and isinstance(body, dict):
        raw = body.get("retry_after")
    if raw is None:
        return None
    try:
        nanoseconds = Decimal(str(raw).strip())
    except InvalidOperation:
        return None
    if not nanoseconds.is_finite() or nanoseconds < 0:
        return None
    return float(nanoseconds / Decimal(10**9))


#: gps error class -> what it means for an order sent with ``POST /orders``.
_OUTCOMES: tuple[tuple[type[VenueError], str], ...] = (
    (OrderRejected, "definitive"),
    (AuthenticationError, "definitive"),
    (RateLimited, "rate-limit"),
    (VenueUnavailable, "not placed"),
)


def placement_outcome(code: str | None) -> str:
    """What an ``{"error": code}`` answer to ``POST /orders`` (HTTP 4xx) means for the order.

    ``"definitive"`` (refused: the order does not exist), ``"rate-limit"`` or ``"not placed"``
    (nothing was done; may be retried) or ``"unknown"`` (the order may exist: look it up).
    A code missing from :data:`ERROR_TABLE` is ``"unknown"``.
    """
    entry = ERROR_TABLE.get(code or "")
    if code == "RATE_LIMIT_EXCEEDED":
        return "rate-limit"
    if entry is None:
        return "unknown"
    for cls, outcome in _OUTCOMES:
        if issubclass(entry[0], cls):
            return outcome
    return "unknown"


_CODE = re.compile(r"^[A-Z][A-Z0-9_]{0,79}$")


def _safe_code(raw: object) -> str | None:
    """The ``error`` field if it looks like one of Aevo's codes, else a placeholder.

    The code goes into messages, reports and the journal: a venue echoing arbitrary text
    (a secret, say) there must not get it printed.
    """
    if raw is None or raw == "":
        return None
    if isinstance(raw, str) and _CODE.match(raw) and redact_known(raw) == raw:
        return raw
    return "UNREADABLE_ERROR_CODE"


def error_for(status: int, body: object, headers: Mapping[str, str], *, what: str, placing: bool) -> VenueError:
    """The gps error for a non-2xx reply (or a 2xx whose body is ``{"error": ...}``).

    :param what: the request, for the message (``"POST /orders"``); never contains a secret.
    :param placing: ``True`` for order placement: then only the codes :func:`placement_outcome`
        calls definitive / rate-limit / not placed are reported as such; any other answer
        (an unrecognised code, a lookup code such as ``ORDER_DOES_NOT_EXIST``, a 5xx, a 4xx
        without Aevo's body) raises :class:`OutcomeUnknown`.
    """
    code = _safe_code(body.get("error") if isinstance(body, dict) else None)
    if status == 429 or code == "RATE_LIMIT_EXCEEDED":
        wait = retry_after_seconds(headers, body)
        hint = f"; retry after {wait:g}s" if wait is not None else ""
        return RateLimited(f"{what}: rate limited{hint}", retry_after=wait, code=code or status)
    # "The outcome is unknown" is about a request that changes something; a read just failed.
    unknown = "" if what.startswith("GET ") else "; the outcome is unknown"
    if status >= 500:
        detail = f" ({ERROR_TABLE[code][1]})" if code in ERROR_TABLE else ""
        return OutcomeUnknown(f"{what}: HTTP {status}{detail}{unknown}", code=code or status)
    if code is None:
        if status in (401, 403) and not placing:
            return AuthenticationError(f"{what}: HTTP {status}: {_API_KEY_HELP}", code=status)
        # A refusal without Aevo's error body may come from a proxy (a 403 from an edge, say)
        # that answered after Aevo took the order: the venue's verdict is unknown.
        return OutcomeUnknown(f"{what}: HTTP {status} without an Aevo error code{unknown}", code=status)
    if code in ERROR_TABLE:
        cls, meaning = ERROR_TABLE[code]
        if placing and placement_outcome(code) == "unknown":
            return OutcomeUnknown(f"{what}: HTTP {status}: {meaning}; the order may exist, so it is looked up",
                                  code=code)
        return cls(f"{what}: {meaning}", code=code)
    if placing:
        # Even a 401/403: only the documented authentication codes above prove that Aevo refused
        # the order before doing anything; an unlisted code may come from a proxy after it.
        return OutcomeUnknown(f"{what}: HTTP {status} {code}, a code gps does not know; the order may exist, "
                              "so it is looked up", code=code)
    if status in (401, 403):
        return AuthenticationError(f"{what}: {_API_KEY_HELP}", code=code)
    return VenueError(f"{what}: refused by Aevo", code=code)
