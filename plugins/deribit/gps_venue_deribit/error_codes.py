"""Deribit's JSON-RPC error codes, mapped onto the gps error taxonomy.

The codes are the long-standing API v2 table (confirmed by real captures where marked ✓).
Deribit's newer "common error codes" page contradicts this table and the captures, so the
plugin keys on these codes and keeps the venue's ``message`` and ``data`` verbatim.

Read the mapping as: *what does this reply tell gps about the request's effect?*

* ``OrderRejected`` and its subclasses: the request was refused; nothing exists.
* ``RateLimited`` / ``VenueUnavailable``: refused for now, nothing was done; a safe read is
  retried with backoff, an order is left to the core (it looks the order up first).
* ``OutcomeUnknown``: the venue may have done it (internal error, engine timeout).
* ``OrderNotFound`` / ``OrderNotOpen``: answers to lookups and cancels.
* ``AuthenticationError``: credentials or token refused (13009 triggers one re-login for
  safe calls; see :mod:`gps_venue_deribit.auth`).
"""

from __future__ import annotations

from gps_core.errors import (
    AuthenticationError,
    InsufficientFunds,
    InvalidOrder,
    OrderNotFound,
    OrderNotOpen,
    OrderRejected,
    OutcomeUnknown,
    RateLimited,
    VenueError,
    VenueUnavailable,
)

#: Access token wrong or expired: log in again.
TOKEN_REFUSED = 13009
TOO_MANY_REQUESTS = 10028
NOT_OPEN_ORDER = 11044

#: code -> (Deribit's name, gps error class)
ERROR_TABLE: dict[int, tuple[str, type[VenueError]]] = {
    # authentication
    10000: ("authorization_required", AuthenticationError),
    13004: ("invalid_credentials", AuthenticationError),  # ✓
    13009: ("unauthorized", AuthenticationError),  # ✓ (also "invalid_token" in the docs)
    13021: ("forbidden", AuthenticationError),
    11042: ("permission_denied", AuthenticationError),
    # definitive order rejects
    10002: ("qty_too_low", InvalidOrder),
    10005: ("price_too_low", InvalidOrder),
    10007: ("price_too_high", InvalidOrder),
    10009: ("not_enough_funds", InsufficientFunds),
    10011: ("price_not_allowed", InvalidOrder),
    10012: ("book_closed", InvalidOrder),
    10019: ("locked_by_admin", OrderRejected),
    10020: ("invalid_or_unsupported_instrument", InvalidOrder),
    10021: ("invalid_amount", InvalidOrder),
    10023: ("invalid_price", InvalidOrder),
    10026: ("price_precision_exceeded", InvalidOrder),
    10043: ("price_wrong_tick", InvalidOrder),
    11029: ("invalid_arguments", InvalidOrder),
    11050: ("bad_request", InvalidOrder),
    11054: ("post_only_reject", InvalidOrder),
    -32602: ("Invalid params", InvalidOrder),
    -32601: ("Method not found", OrderRejected),
    -32700: ("Parse error", OrderRejected),
    -32000: ("Missing params", InvalidOrder),
    # lookups and cancels
    10004: ("order_not_found", OrderNotFound),
    10025: ("invalid_order_id", OrderNotFound),
    10029: ("not_owner_of_order", OrderNotFound),
    13020: ("not_found", OrderNotFound),
    10010: ("already_closed", OrderNotOpen),
    11008: ("already_filled", OrderNotOpen),
    11044: ("not_open_order", OrderNotOpen),  # ✓ cancel of a filled/cancelled order
    # refused for now, nothing done
    10028: ("too_many_requests", RateLimited),
    10066: ("too_many_concurrent_requests", RateLimited),
    10040: ("retry", VenueUnavailable),
    10041: ("settlement_in_progress", VenueUnavailable),
    10047: ("matching_engine_queue_full", VenueUnavailable),
    11051: ("system_maintenance", VenueUnavailable),
    13028: ("temporarily_unavailable", VenueUnavailable),
    # the venue may or may not have done it
    11094: ("internal_server_error", OutcomeUnknown),
    13888: ("timed_out", OutcomeUnknown),
}


def error_for(code, message: str, data=None, *, method: str = "") -> VenueError:
    """The gps error for a JSON-RPC ``error`` object (unknown codes: :class:`OutcomeUnknown`).

    An unknown code is treated as "effect unknown" so an order is looked up, never assumed
    absent.
    """
    try:
        number = int(code)
    except (TypeError, ValueError):
        number = None
    name, cls = ERROR_TABLE.get(number, (None, OutcomeUnknown))
    text = str(message or name or "error")
    if data:
        text = f"{text} ({data})"
    if method:
        text = f"{method}: {text}"
    if cls is RateLimited:
        return RateLimited(text, code=code)
    return cls(text, code=code)
