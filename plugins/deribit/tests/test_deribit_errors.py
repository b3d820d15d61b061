"""Deribit's published error-code table: every code mapped, with its meaning and outcome."""

from __future__ import annotations

import pytest

from gps_core.errors import (
    AuthenticationError,
    InsufficientFunds,
    InvalidOrder,
    OrderNotFound,
    OrderNotOpen,
    OrderRejected,
    OutcomeUnknown,
    RateLimited,
    VenueUnavailable,
)
from gps_venue_deribit.errors import CODES, ERROR_TABLE, Outcome, error_for, lookup

#: Every code of Deribit's "RPC Error Codes" table (API v2 reference; as reproduced code by code
#: by ccxt's ``deribit.exceptions`` and by deribit-base's ``codes.rs`` for v2.1.1), plus 13888.
PUBLISHED = {
    9999, 10000, 10001, 10002, 10003, 10004, 10005, 10006, 10007, 10008, 10009, 10010, 10011, 10012,
    10013, 10014, 10015, 10016, 10017, 10018, 10019, 10020, 10021, 10022, 10023, 10024, 10025, 10026,
    10027, 10028, 10029, 10030, 10031, 10032, 10033, 10034, 10035, 10036, 10037, 10038, 10039, 10040,
    10041, 10043, 10044, 10045, 10046, 10047, 10048, 10049, 10066, 10072,
    11008, 11013, 11021, 11022, 11029, 11030, 11031, 11035, 11036, 11037, 11038, 11039, 11041, 11042,
    11043, 11044, 11045, 11046, 11047, 11048, 11049, 11050, 11051, 11052, 11053, 11054, 11055, 11056,
    11090, 11091, 11092, 11093, 11094, 11095, 11096, 11097, 11098,
    12000, 12001, 12002, 12003, 12004, 12005, 12100, 12998, 12999,
    13000, 13001, 13002, 13003, 13004, 13005, 13006, 13007, 13008, 13009, 13010, 13011, 13012, 13013,
    13014, 13015, 13016, 13017, 13018, 13019, 13020, 13021, 13025, 13028, 13030, 13031, 13032, 13034,
    13035, 13036, 13037, 13040, 13042, 13043, 13403, 13503, 13666, 13777, 13778, 13780, 13781, 13791,
    13888, -32602, -32601, -32700, -32000,
}


def test_every_published_code_is_in_the_table_with_a_meaning():
    assert set(CODES) == PUBLISHED
    for row in CODES.values():
        assert row.name and row.meaning and row.outcome in Outcome
        assert ERROR_TABLE[row.code] == (row.name, row.error)


@pytest.mark.parametrize("code, name, cls", [
    # the codes the issue found missing: each is a definitive refusal
    (10003, "order_overlap", OrderRejected),
    (10006, "price_too_low4idx", InvalidOrder),
    (10008, "price_too_high4idx", InvalidOrder),
    (10013, "pme_max_total_open_orders", OrderRejected),
    (10014, "pme_max_future_open_orders", OrderRejected),
    (10015, "pme_max_option_open_orders", OrderRejected),
    (10016, "pme_max_future_open_orders_size", OrderRejected),
    (10017, "pme_max_option_open_orders_size", OrderRejected),
    (10018, "non_pme_max_future_position_size", OrderRejected),
    (10032, "whole_cost_too_low", InvalidOrder),
    (11030, "other_reject", OrderRejected),
    (11037, "outdated_instrument_for_IV_order", InvalidOrder),
    (13019, "orderbook_closed", InvalidOrder),
    # and the ones gps met before
    (10005, "price_too_low", InvalidOrder),
    (10007, "price_too_high", InvalidOrder),
    (10009, "not_enough_funds", InsufficientFunds),
    (10039, "not_enough_funds_in_currency", InsufficientFunds),
    (10043, "price_wrong_tick", InvalidOrder),
    (11054, "post_only_reject", InvalidOrder),
    (13009, "unauthorized", AuthenticationError),
    (10004, "order_not_found", OrderNotFound),
    (11044, "not_open_order", OrderNotOpen),
])
def test_refusals_are_definitive(code, name, cls):
    row = lookup(code)
    assert row.name == name and row.error is cls and row.outcome is Outcome.DEFINITIVE
    error = error_for(code, name, method="private/sell")
    assert type(error) is cls and error.code == code


@pytest.mark.parametrize("code", [10028, 10047, 10066, 13780])
def test_rate_limits(code):
    assert lookup(code).outcome is Outcome.RATE_LIMIT
    assert isinstance(error_for(code, "x"), RateLimited)


@pytest.mark.parametrize("code", [10040, 10041, 11051, 11056, 13025, 13503])
def test_pauses_did_nothing(code):
    assert lookup(code).outcome is Outcome.UNAVAILABLE
    assert type(error_for(code, "x")) is VenueUnavailable


@pytest.mark.parametrize("code", [10001, 11031, 11094, 13008, 13028, 13888])
def test_answers_that_may_hide_a_done_request_are_unknown(code):
    """An internal error or a timeout may follow an accepted order: it must be looked up."""
    row = lookup(code)
    assert row.outcome is Outcome.UNKNOWN and not issubclass(row.error, OrderRejected)
    assert type(error_for(code, "x")) is OutcomeUnknown


def test_outcome_follows_the_error_class():
    for row in CODES.values():
        if issubclass(row.error, (OrderRejected, AuthenticationError, OrderNotFound, OrderNotOpen)):
            assert row.outcome is Outcome.DEFINITIVE, row
        elif row.error is RateLimited:
            assert row.outcome is Outcome.RATE_LIMIT, row
        elif row.error is VenueUnavailable:
            assert row.outcome is Outcome.UNAVAILABLE, row
        else:
            assert row.error is OutcomeUnknown and row.outcome is Outcome.UNKNOWN, row


def test_codes_not_in_the_table_are_unknown_and_text_keeps_the_venue_words():
    assert lookup(99999) is None and lookup("x") is None and lookup(None) is None
    assert type(error_for(99999, "brand_new")) is OutcomeUnknown
    error = error_for("10005", "price_too_low 0.0150", {"param": "price"}, method="private/sell")
    assert isinstance(error, InvalidOrder)
    assert error.message.startswith("private/sell: price_too_low 0.0150 ({'param': 'price'})")
    assert "price band" in error.message
