"""The error table, exact number encoding and the light entry module."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal

import pytest

from gps_core.errors import (
    AuthenticationError,
    InsufficientFunds,
    InvalidOrder,
    InvalidReply,
    OrderNotFound,
    OrderNotOpen,
    OrderRejected,
    OutcomeUnknown,
    RateLimited,
    VenueError,
    VenueUnavailable,
)
from gps_venue_deribit import VENUE_INFO, wire
from gps_venue_deribit.errors import ERROR_TABLE, error_for


@pytest.mark.parametrize("code, cls", [
    (13009, AuthenticationError), (13004, AuthenticationError), (11044, OrderNotOpen), (10009, InsufficientFunds),
    (10043, InvalidOrder), (10002, InvalidOrder), (11054, InvalidOrder), (10004, OrderNotFound),
    (10028, RateLimited), (10041, VenueUnavailable), (11051, VenueUnavailable), (13028, OutcomeUnknown),
    (10040, VenueUnavailable), (11094, OutcomeUnknown), (13888, OutcomeUnknown),
])
def test_error_codes_map_to_the_taxonomy(code, cls):
    error = error_for(code, "msg", {"reason": "r"}, method="private/buy")
    assert type(error) is cls and error.code == code
    assert "private/buy" in error.message and "msg" in error.message


def test_every_table_entry_is_a_venue_error_and_unknown_codes_are_unknown():
    assert all(issubclass(cls, VenueError) for _, cls in ERROR_TABLE.values())
    assert type(error_for(99999, "new_error")) is OutcomeUnknown
    # nothing that may have placed an order is ever a definitive reject
    assert not issubclass(ERROR_TABLE[11094][1], OrderRejected)
    assert not issubclass(ERROR_TABLE[13888][1], OrderRejected)


def test_decimals_go_out_exactly_and_come_back_as_decimals():
    body = wire.dumps({"price": Decimal("0.0125"), "amount": Decimal("0.10"), "big": Decimal("1E+5"),
                       "flag": True, "label": "gps-1"})
    assert body == '{"price":0.0125,"amount":0.10,"big":100000,"flag":true,"label":"gps-1"}'
    assert wire.loads(body)["price"] == Decimal("0.0125") and isinstance(wire.loads(body)["amount"], Decimal)
    with pytest.raises(TypeError):
        wire.dumps({"price": 0.1})
    with pytest.raises(ValueError):
        wire.loads('{"price": NaN}')
    assert wire.query_string({"price": Decimal("0.0125"), "post_only": False, "label": "a b", "x": None}) == (
        "price=0.0125&post_only=false&label=a%20b")


def test_snapshot_parsing_refuses_impossible_orders():
    from gps_venue_deribit.parsing import snapshot_from_order

    base = {"order_id": "1", "order_state": "open", "amount": 1, "filled_amount": 0, "label": "x"}
    assert snapshot_from_order({**base, "order_state": "untriggered"}, client_order_id="x").is_working
    with pytest.raises(InvalidReply):
        snapshot_from_order({**base, "order_state": "archive"}, client_order_id="x")
    with pytest.raises(InvalidReply):
        snapshot_from_order({**base, "order_state": "filled", "filled_amount": Decimal("0.5"),
                             "average_price": Decimal("0.01")}, client_order_id="x")
    with pytest.raises(InvalidReply):
        snapshot_from_order({**base, "filled_amount": Decimal("0.5")}, client_order_id="x")  # no average price


def test_venue_info():
    assert VENUE_INFO.name == "deribit"
    assert VENUE_INFO.credential_env == ("DERIBIT_CLIENT_ID", "DERIBIT_CLIENT_SECRET")
    assert VENUE_INFO.client_id_kind.value == "label" and VENUE_INFO.client_id_max_length == 64
    assert {c.value for c in VENUE_INFO.capabilities} >= {"valid_until", "lookup_by_client_id", "gtc", "ioc"}


def test_entry_module_is_light():
    code = ("import sys, gps_venue_deribit; "
            "heavy = [m for m in ('requests', 'urllib3', 'gps_venue_deribit.backend', 'gps_venue_deribit.transport') "
            "if m in sys.modules]; print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_trade_fees_accept_both_reply_shapes():
    from gps_core.money import Money
    from gps_venue_deribit.parsing import trades_fee

    # get_user_trades_by_order: an array (current spec) or {"trades": [...], "has_more": ...} (older replies)
    trade = {"trade_id": "ETH-34066", "price": Decimal("0.04"), "amount": 11, "fee": Decimal("0.0011"),
             "fee_currency": "ETH", "liquidity": "M"}
    assert trades_fee([trade, trade], "ETH") == Money(Decimal("0.0022"), "ETH")
    assert trades_fee({"trades": [trade], "has_more": True}, "ETH") == Money(Decimal("0.0011"), "ETH")
    assert trades_fee([], "BTC") is None
    with pytest.raises(InvalidReply):
        trades_fee([trade, {**trade, "fee_currency": "BTC"}], "ETH")
