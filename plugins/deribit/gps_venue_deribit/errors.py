"""Deribit's JSON-RPC error codes, each with its meaning and what it tells gps about the request.

Source: Deribit's published "RPC Error Codes" table of the API v2 reference (docs.deribit.com,
v2.1.1). The table is reproduced, code by code with Deribit's descriptions, by ccxt
(``python/ccxt/deribit.py``, ``exceptions``; it keeps the older names such as
``stop_price_too_high`` and ``price_too_high4idx``) and by the ``deribit-base`` crate
(``src/error/codes.rs``, "as documented in the official API documentation v2.1.1"; newer
codes 10037-10072, 11013-11056, 13028-13791). ``13888 timed_out`` comes from the same
reference's ``valid_until`` description. Real captures confirm 13004, 13009 and 11044 (see
the cassettes). Deribit's newer "Common Error Codes" page gives other names to some codes
(10001 ``invalid_credentials``, 10002 ``insufficient_funds``...) and contradicts the captures,
so the plugin keys on this table and keeps the venue's ``message`` and ``data`` verbatim;
where the two pages differ in *outcome* (only 10001), the table below takes the safe reading.

Each code has one :class:`Outcome`:

* ``definitive``: the venue refused; nothing was done (order rejects, lookups that found
  nothing, authentication).
* ``rate_limit``: refused for rate or load; nothing was done; try again later.
* ``unavailable``: refused for a pause (settlement, maintenance); nothing was done.
* ``unknown``: the venue may have done it (internal error, engine timeout): an order is
  looked up by its label, never assumed absent.

A code missing from the table is ``unknown``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from gps_core.api import (
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


class Outcome(str, Enum):
    """What a reply with this code says about the request's effect."""

    DEFINITIVE = "definitive"
    RATE_LIMIT = "rate_limit"
    UNAVAILABLE = "unavailable"
    UNKNOWN = "unknown"


_OUTCOMES: dict[type[VenueError], Outcome] = {
    AuthenticationError: Outcome.DEFINITIVE,
    OrderRejected: Outcome.DEFINITIVE,
    InvalidOrder: Outcome.DEFINITIVE,
    InsufficientFunds: Outcome.DEFINITIVE,
    OrderNotFound: Outcome.DEFINITIVE,
    OrderNotOpen: Outcome.DEFINITIVE,
    RateLimited: Outcome.RATE_LIMIT,
    VenueUnavailable: Outcome.UNAVAILABLE,
    OutcomeUnknown: Outcome.UNKNOWN,
}


@dataclass(frozen=True)
class ErrorCode:
    """One row of Deribit's table: ``code``, Deribit's ``name``, its ``meaning`` and the gps ``error`` class."""

    code: int
    name: str
    meaning: str
    error: type[VenueError]

    @property
    def outcome(self) -> Outcome:
        return _OUTCOMES[self.error]


_AUTH, _REJ, _INV, _FUNDS = AuthenticationError, OrderRejected, InvalidOrder, InsufficientFunds
_NF, _NO, _RL, _UN, _UNK = OrderNotFound, OrderNotOpen, RateLimited, VenueUnavailable, OutcomeUnknown

_ROWS: tuple[tuple[int, str, str, type[VenueError]], ...] = (
    (9999, "api_not_enabled", "the account has not enabled the API", _AUTH),
    (10000, "authorization_required", "authorization needed: no valid access token or login", _AUTH),
    (10001, "error", "some general failure, no public information available", _UNK),
    (10002, "qty_too_low", "order quantity is too low", _INV),
    (10003, "order_overlap", "rejected: order overlap found and self-trading not enabled", _REJ),
    (10004, "order_not_found", "no order with the given id or label", _NF),
    (10005, "price_too_low", "price is too low; <Limit> is the current limit (price band)", _INV),
    (10006, "price_too_low4idx", "price is too low for the current index; <Limit> is the bottom limit", _INV),
    (10007, "price_too_high", "price is too high; <Limit> is the current limit (price band)", _INV),
    (10008, "price_too_high4idx", "price is too high for the current index; <Limit> is the up limit", _INV),
    (10009, "not_enough_funds", "the account has not enough funds for the operation", _FUNDS),
    (10010, "already_closed", "attempt to operate on a closed order", _NO),
    (10011, "price_not_allowed", "this price is not allowed", _INV),
    (10012, "book_closed", "the instrument's order book is closed", _INV),
    (10013, "pme_max_total_open_orders", "total limit of open orders exceeded (portfolio margin)", _REJ),
    (10014, "pme_max_future_open_orders", "limit of open futures orders exceeded (portfolio margin)", _REJ),
    (10015, "pme_max_option_open_orders", "limit of open options orders exceeded (portfolio margin)", _REJ),
    (10016, "pme_max_future_open_orders_size", "size limit for futures exceeded (portfolio margin)", _REJ),
    (10017, "pme_max_option_open_orders_size", "size limit for options exceeded (portfolio margin)", _REJ),
    (10018, "non_pme_max_future_position_size", "size limit for futures exceeded (standard margin)", _REJ),
    (10019, "locked_by_admin", "trading is temporarily locked by the admin", _REJ),
    (10020, "invalid_or_unsupported_instrument", "instrument name is not valid", _INV),
    (10021, "invalid_amount", "amount is not valid", _INV),
    (10022, "invalid_quantity", "quantity is not a valid number (API v1)", _INV),
    (10023, "invalid_price", "price is not a valid number", _INV),
    (10024, "invalid_max_show", "max_show is not a valid number", _INV),
    (10025, "invalid_order_id", "order id is missing or malformed", _NF),
    (10026, "price_precision_exceeded", "extra precision of the price is not supported", _INV),
    (10027, "non_integer_contract_amount", "futures contract amount is not an integer", _INV),
    (10028, "too_many_requests", "allowed request rate exceeded", _RL),
    (10029, "not_owner_of_order", "attempt to operate on an order of another account", _NF),
    (10030, "must_be_websocket_request", "REST request where WebSocket is expected", _REJ),
    (10031, "invalid_args_for_instrument", "some arguments are not valid for the instrument", _INV),
    (10032, "whole_cost_too_low", "total cost (order value) is too low", _INV),
    (10033, "not_implemented", "method is not implemented yet", _REJ),
    (10034, "trigger_price_too_high", "trigger (stop) price is too high", _INV),
    (10035, "trigger_price_too_low", "trigger (stop) price is too low", _INV),
    (10036, "invalid_max_show_amount", "max show amount is not valid", _INV),
    (10037, "non_pme_total_short_options_positions_size", "limit of total short options size exceeded", _REJ),
    (10038, "pme_max_risk_reducing_orders", "limit of open risk-reducing orders reached (portfolio margin)", _REJ),
    (10039, "not_enough_funds_in_currency", "not enough spot reserves, or a negative impact on portfolio margin",
     _FUNDS),
    (10040, "retry", "the request can't be processed now and should be retried", _UN),
    (10041, "settlement_in_progress", "daily settlement in progress; trading paused for a few seconds", _UN),
    (10043, "price_wrong_tick", "price has to be rounded to the instrument's tick", _INV),
    (10044, "trigger_price_wrong_tick", "trigger (stop) price has to be rounded to the tick", _INV),
    (10045, "can_not_cancel_liquidation_order", "a liquidation order can't be cancelled", _REJ),
    (10046, "can_not_edit_liquidation_order", "a liquidation order can't be edited", _REJ),
    (10047, "matching_engine_queue_full", "limit of pending matching-engine requests for the user reached", _RL),
    (10048, "not_on_this_server", "the operation is not available on this server", _REJ),
    (10049, "cancel_on_disconnect_failed", "enabling cancel-on-disconnect failed", _REJ),
    (10066, "too_many_concurrent_requests", "too many public requests not yet executed", _RL),
    (10072, "disabled_while_position_lock", "spot trading disabled in reduce-only mode", _REJ),
    (11008, "already_filled", "not allowed on a filled order", _NO),
    (11013, "max_spot_open_orders", "limit of open spot orders exceeded", _REJ),
    (11021, "post_only_price_modification_not_possible", "price of a post-only order can't be modified", _INV),
    (11022, "max_spot_order_quantity", "spot quantity limit per currency exceeded", _REJ),
    (11029, "invalid_arguments", "some invalid input was detected", _INV),
    (11030, "other_reject", "a rare reject; <Reason> says why", _REJ),
    (11031, "other_error", "a rare error; <Error> says what", _UNK),
    (11035, "no_more_triggers", "allowed number of trigger (stop) orders exceeded", _REJ),
    (11036, "invalid_trigger_price", "trigger price invalid against the last trade, index or mark price", _INV),
    (11037, "outdated_instrument_for_IV_order", "instrument no longer available for trading (IV order)", _INV),
    (11038, "no_adv_for_futures", "advanced orders are not available for futures", _INV),
    (11039, "no_adv_postonly", "advanced post-only orders are not supported", _INV),
    (11041, "not_adv_order", "advanced properties can't be set on a non-advanced order", _INV),
    (11042, "permission_denied", "permission for the operation denied", _AUTH),
    (11043, "bad_argument", "a bad argument was passed", _INV),
    (11044, "not_open_order", "open-order operation on an order that is not open", _NO),
    (11045, "invalid_event", "event name not recognised", _INV),
    (11046, "outdated_instrument", "IV orders not allowed minutes before expiry", _INV),
    (11047, "unsupported_arg_combination", "the combination of arguments is not supported", _INV),
    (11048, "wrong_max_show_for_option", "wrong max show for options", _INV),
    (11049, "bad_arguments", "several bad arguments were passed", _INV),
    (11050, "bad_request", "the request was not parsed properly", _INV),
    (11051, "system_maintenance", "system under maintenance", _UN),
    (11052, "subscribe_error_unsubscribed", "subscription error", _REJ),
    (11053, "transfer_not_found", "the transfer is not found", _REJ),
    (11054, "post_only_reject", "rejected because of reject_post_only: the order would have taken", _INV),
    (11055, "post_only_not_allowed", "post-only not allowed for this order type", _INV),
    (11056, "unauthenticated_public_requests_temporarily_disabled",
     "unauthenticated public requests temporarily disabled", _UN),
    (11090, "invalid_addr", "invalid address", _REJ),
    (11091, "invalid_transfer_address", "invalid address for the transfer", _REJ),
    (11092, "address_already_exist", "the address already exists", _REJ),
    (11093, "max_addr_count_exceeded", "limit of addresses reached", _REJ),
    (11094, "internal_server_error", "unhandled error on the server", _UNK),
    (11095, "disabled_deposit_address_creation", "deposit address creation disabled by admin", _REJ),
    (11096, "address_belongs_to_user", "withdrawal instead of transfer", _REJ),
    (11097, "no_deposit_address", "deposit address not specified", _REJ),
    (11098, "account_locked", "account locked", _REJ),
    (12000, "bad_tfa", "wrong two-factor code", _AUTH),
    (12001, "too_many_subaccounts", "limit of subaccounts reached", _REJ),
    (12002, "wrong_subaccount_name", "name not allowed for a subaccount", _REJ),
    (12003, "login_over_limit", "too many failed login attempts", _AUTH),
    (12004, "registration_over_limit", "too many registration requests", _AUTH),
    (12005, "country_is_banned", "the country is banned (IP check)", _AUTH),
    (12100, "transfer_not_allowed", "transfer not allowed", _REJ),
    (12998, "security_key_authorization_over_limit", "too many failed security-key (TFA) authorisations", _AUTH),
    (12999, "tfa_used", "two-factor code already used", _AUTH),
    (13000, "invalid_login", "login name is invalid", _AUTH),
    (13001, "account_not_activated", "account must be activated", _AUTH),
    (13002, "account_blocked", "account blocked by admin", _AUTH),
    (13003, "tfa_required", "the action requires two-factor authentication", _AUTH),
    (13004, "invalid_credentials", "invalid credentials", _AUTH),
    (13005, "pwd_match_error", "password confirmation error", _AUTH),
    (13006, "security_error", "invalid security code", _AUTH),
    (13007, "user_not_found", "security code changed or wrong", _AUTH),
    (13008, "request_failed", "request failed: invalid input or internal failure", _UNK),
    (13009, "unauthorized", "access token wrong or expired, or the login was refused (also sent as invalid_token)", _AUTH),
    (13010, "value_required", "invalid input: missing value", _INV),
    (13011, "value_too_short", "input is too short", _INV),
    (13012, "unavailable_in_subaccount", "not available in a subaccount", _REJ),
    (13013, "invalid_phone_number", "unsupported or invalid phone number", _REJ),
    (13014, "cannot_send_sms", "SMS sending failed", _REJ),
    (13015, "invalid_sms_code", "invalid SMS code", _REJ),
    (13016, "invalid_input", "invalid input", _INV),
    (13017, "subscription_failed", "invalid subscription parameters", _REJ),
    (13018, "invalid_content_type", "invalid content type of the request", _INV),
    (13019, "orderbook_closed", "closed, expired order book", _INV),
    (13020, "not_found", "instrument not found, invalid instrument name", _NF),
    (13021, "forbidden", "not enough permissions for the request", _AUTH),
    (13025, "method_switched_off_by_admin", "API method temporarily switched off by the admin", _UN),
    (13028, "temporarily_unavailable", "the service is not responding or processing takes too long", _UNK),
    (13030, "mmp_trigger", "order rejected by the market-maker protection trigger", _REJ),
    (13031, "verification_required", "method allowed only for verified users", _AUTH),
    (13032, "non_unique_order_label", "request needs an order uniquely identified by its label", _REJ),
    (13034, "no_more_security_keys_allowed", "maximum number of security keys reached", _REJ),
    (13035, "active_combo_limit_reached", "limit of active combo books reached", _REJ),
    (13036, "unavailable_for_combo_books", "action temporarily unavailable for combo books", _REJ),
    (13037, "incomplete_KYC_data", "KYC data insufficient for the external provider", _REJ),
    (13040, "mmp_required", "user is not a market-maker-protection user", _REJ),
    (13042, "cod_not_enabled", "cancel-on-disconnect not enabled for the connection", _REJ),
    (13043, "quotes_frozen", "quotes still frozen after a previous cancel", _REJ),
    (13403, "scope_exceeded", "API key scope insufficient for the action", _AUTH),
    (13503, "unavailable", "method currently not available", _UN),
    (13666, "request_cancelled_by_user", "request cancelled by another API request of the user", _REJ),
    (13777, "replaced", "edit request replaced by another one", _REJ),
    (13778, "raw_subscriptions_not_available_for_unauthorized", "raw subscriptions need authorisation", _REJ),
    (13780, "move_positions_over_limit", "the request can't be executed yet; wait", _RL),
    (13781, "coupon_already_used", "coupon already used by the account", _REJ),
    (13791, "KYC_transfer_already_initiated", "KYC data sharing already initiated", _REJ),
    (13888, "timed_out", "server timeout processing the request (also a late valid_until)", _UNK),
    (-32602, "Invalid params", "JSON-RPC: invalid method parameters", _INV),
    (-32601, "Method not found", "JSON-RPC: no such method", _REJ),
    (-32700, "Parse error", "JSON-RPC: the request is not valid JSON", _REJ),
    (-32000, "Missing params", "JSON-RPC: missing parameters", _INV),
)

#: code -> :class:`ErrorCode`, every code of Deribit's published table.
CODES: dict[int, ErrorCode] = {code: ErrorCode(code, name, meaning, error) for code, name, meaning, error in _ROWS}

#: code -> (Deribit's name, gps error class); the shape older callers use.
ERROR_TABLE: dict[int, tuple[str, type[VenueError]]] = {c.code: (c.name, c.error) for c in CODES.values()}


def lookup(code) -> ErrorCode | None:
    """The table's row for ``code`` (int or numeric text), or ``None`` when Deribit does not document it."""
    try:
        return CODES.get(int(code))
    except (TypeError, ValueError):
        return None


def error_for(code, message: str, data=None, *, method: str = "") -> VenueError:
    """The gps error for a JSON-RPC ``error`` object (unknown codes: :class:`OutcomeUnknown`).

    The text keeps Deribit's ``message`` and ``data`` (e.g. the band limit of 10005) and adds
    the table's meaning, so a refusal reads clearly. An unknown code is "effect unknown" so an
    order is looked up, never assumed absent.
    """
    row = lookup(code)
    cls = row.error if row else OutcomeUnknown
    text = str(message or (row.name if row else "") or "error")
    if data:
        text = f"{text} ({data})"
    if row and row.meaning and row.name.lower() != row.meaning.lower():
        text = f"{text}: {row.meaning}"
    if method:
        text = f"{method}: {text}"
    if cls is RateLimited:
        return RateLimited(text, code=code)
    return cls(text, code=code)
