"""private/get_positions rows -> Position, and the fake's positions answered from its trades."""

from decimal import Decimal as D

import pytest

from gps_core.errors import InvalidReply
from gps_venue_deribit.testing.fake_exchange import FakeExchange
from gps_venue_deribit.positions import currencies_for, position_from_row


def test_currencies_asked_per_underlying():
    assert currencies_for(None) == ("BTC", "ETH", "USDC")
    assert currencies_for("btc") == ("BTC", "USDC") and currencies_for("SOL") == ("USDC",)


def test_rows_that_contradict_themselves_are_refused():
    with pytest.raises(InvalidReply):
        position_from_row({"instrument_name": "BTC-26JUN26-100000-C", "size": 1, "direction": "sell"})
    with pytest.raises(InvalidReply):
        position_from_row({"size": 1})
    assert position_from_row({"instrument_name": "BTC-PERPETUAL", "kind": "future", "size": 10}) is None


def test_fake_positions_come_from_its_trades_and_reduce_only_stops_at_flat():
    fake = FakeExchange()
    name = fake.instrument_names("BTC")[len(fake.instrument_names("BTC")) // 2]
    ask, bid = fake.instrument(name).asks[0][0], fake.instrument(name).bids[0][0]
    fake.place("buy", {"instrument_name": name, "amount": "0.3", "price": str(ask), "label": "a"})
    (row,) = fake.positions("BTC", "option")
    assert row["size"] == D("0.3") and row["direction"] == "buy" and row["average_price"] == ask
    with pytest.raises(Exception) as caught:
        fake.place("buy", {"instrument_name": name, "amount": "0.1", "price": str(ask), "label": "b",
                           "reduce_only": True})
    assert "reduce" in str(caught.value.data)
    placed = fake.place("sell", {"instrument_name": name, "amount": "0.5", "price": str(bid), "label": "c",
                                 "reduce_only": True, "time_in_force": "immediate_or_cancel"})
    assert placed["order"]["filled_amount"] == D("0.3") and fake.position_of(name) == 0
    assert fake.positions("BTC", "option") == []
