"""Instruments, books and the tick/size checks, against the fake server."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gps_core.errors import InvalidOrder
from gps_core.instruments import OptionKey, OptionType
from gps_core.model import Side
from gps_core.plugins import PluginHost
from gps_venue_deribit import DeribitVenue
from gps_venue_deribit.testing.fake_exchange import RpcError
from gps_venue_deribit.market import api_depth

D = Decimal


def test_instruments_carry_deribit_rules(instrument):
    inst = instrument(100000, "C")
    assert inst.venue == "deribit" and inst.price_currency == "BTC"
    assert inst.tick_size == D("0.0001")
    assert inst.tick_at(D("0.0049")) == D("0.0001") and inst.tick_at(D("0.0051")) == D("0.0005")
    assert inst.min_quantity == D("0.1") and inst.quantity_step == D("0.1")
    assert inst.fees.taker_rate == D("0.0003") and inst.fees.premium_cap == D("0.125")
    assert inst.expires_at.hour == 8 and inst.key.expiry == inst.expires_at.date()


def test_find_matches_all_four_fields(client, instrument):
    call = instrument(100000, "C")
    put = client.market.find(OptionKey(call.key.underlying, call.key.expiry, call.key.strike, OptionType.PUT))
    assert put is not None and put.symbol.endswith("-P") and put.symbol != call.symbol
    other_day = OptionKey("BTC", call.key.expiry.replace(day=1 if call.key.expiry.day != 1 else 2),
                          call.key.strike, OptionType.CALL)
    assert client.market.find(other_day) is None
    assert client.market.find(OptionKey("BTC", call.key.expiry, D("100001"), OptionType.CALL)) is None
    assert client.market.find(OptionKey("ETH", call.key.expiry, call.key.strike, OptionType.CALL)) is None


def test_instrument_list_is_cached(client, server, instrument):
    instrument()
    instrument(105000)
    client.market.list("BTC")
    assert server.state.calls["public/get_instruments"] == 1


def test_eth_options_have_their_own_minimum(instrument):
    eth = instrument(3600, "P", currency="ETH")
    assert eth.price_currency == "ETH" and eth.min_quantity == D("1")


def test_order_book_depth_currency_and_index(client, instrument):
    book = client.market.order_book(instrument(), 3)
    assert 1 <= len(book.bids) <= 3 and 1 <= len(book.asks) <= 3
    assert book.bids[0].price < book.asks[0].price
    assert [l.price for l in book.asks] == sorted(l.price for l in book.asks)
    assert book.usd_per_unit == book.index_price == D("100000")
    assert book.underlying_value() == D("1")


def test_book_read_is_retried_on_rate_limit(client, server, instrument):
    inst = instrument()
    server.state.faults.inject("rate_limit", method="public/get_order_book")
    assert client.market.order_book(inst, 5).asks
    assert server.state.calls["public/get_order_book"] == 2


def test_depth_is_snapped_to_an_allowed_value():
    assert [api_depth(d) for d in (1, 2, 5, 7, 10, 11, 200, 20000)] == [1, 5, 5, 10, 10, 20, 1000, 10000]


def test_a_tick_step_applies_at_its_price(instrument):
    """Deribit: ``above_price`` is "the price from which the increased tick size applies"."""
    inst = instrument(80000, "P")
    assert inst.tick_at(D("0.005")) == D("0.0005")
    assert inst.tick_at(D("0.0049")) == D("0.0001")
    # rounding onto the boundary from either side lands on a price that is on its tick
    assert inst.round_price(D("0.00503"), Side.BUY) == D("0.0050")
    assert inst.round_price(D("0.00497"), Side.SELL) == D("0.0050")


def test_tick_rounding_at_the_0_005_boundary(instrument):
    inst = instrument(80000, "P")
    assert inst.round_price(D("0.00512"), Side.BUY) == D("0.0050")
    assert inst.round_price(D("0.00512"), Side.SELL) == D("0.0055")
    assert inst.round_price(D("0.00497"), Side.SELL) == D("0.0050")
    assert inst.round_price(D("0.00497"), Side.BUY) == D("0.0049")
    assert inst.round_price(D("0.0051"), Side.SELL) == D("0.0055")


@pytest.mark.parametrize("price", ["0.0049", "0.0050", "0.0055"])
def test_prices_on_the_tick_are_sent(client, server, instrument, new_order, price):
    order = new_order(instrument(80000, "P"), Side.SELL, "0.1", price)
    client.orders.place(order)
    assert server.state.order_count(order.client_order_id) == 1


@pytest.mark.parametrize("price", ["0.0052", "0.00495", "0.0501", "0"])
def test_prices_off_the_tick_are_refused_before_sending(client, server, instrument, new_order, price):
    with pytest.raises(InvalidOrder, match="tick"):
        client.orders.place(new_order(instrument(80000, "P"), Side.SELL, "0.1", price))
    assert server.state.calls["private/sell"] == 0


@pytest.mark.parametrize("quantity", ["0.15", "0.05", "1.01"])
def test_amount_off_the_step_is_refused_before_sending(client, server, instrument, new_order, quantity):
    with pytest.raises(InvalidOrder, match="amount"):
        client.orders.place(new_order(instrument(), Side.BUY, quantity, "0.0100"))
    assert server.state.calls["private/buy"] == 0


def test_hooks_through_the_core_plugin_host(client, server, instrument, new_order):
    host = PluginHost(environ={})
    host.register(DeribitVenue(client), "deribit", distribution="gps-venue-deribit")
    venue = host.venue("deribit")
    inst = venue.find_instrument(instrument().key)
    assert venue.find_instrument(OptionKey("SOL", inst.key.expiry, inst.key.strike, OptionType.CALL)) is None
    assert venue.find_instrument(OptionKey("DOGE", inst.key.expiry, D("1"), OptionType.CALL)) is None
    assert venue.list_instruments("DOGE") == [] and venue.list_instruments("SPY") == []
    assert inst in venue.list_instruments("BTC")
    ask = venue.order_book(inst, 1).asks[0].price
    order = new_order(inst, Side.BUY, "0.1", str(ask))
    assert venue.place(order).filled_quantity == D("0.1")
    assert venue.order_status(order).client_order_id == order.client_order_id
    assert server.state.order_count(order.client_order_id) == 1


def test_a_price_exactly_on_a_step_is_checked_against_the_steps_tick(client, server, new_order):
    """A step whose price is not on its own tick (0.0052, tick 0.0005) tells "at or above" from "above".

    The plugin and the fake venue must agree: 0.0052 is off the tick that applies there.
    """
    name = sorted(server.state.instrument_names("BTC"))[0]
    row = server.state.instruments[name].row
    row["tick_size_steps"] = [{"above_price": D("0.0052"), "tick_size": D("0.0005")}]
    inst = client.market.find(OptionKey.parse(name))
    assert inst.tick_at(D("0.0052")) == D("0.0005") and inst.tick_at(D("0.0051")) == D("0.0001")
    assert inst.round_price(D("0.00519"), Side.SELL) == D("0.0055")
    assert inst.round_price(D("0.0052"), Side.BUY) == D("0.0050")
    off = new_order(inst, Side.SELL, "0.1", "0.0052")
    with pytest.raises(InvalidOrder, match="tick 0.0005"):
        client.orders.place(off)
    assert server.state.calls["private/sell"] == 0
    with pytest.raises(RpcError) as refused:  # the venue's own check says the same
        server.state.place("sell", {"instrument_name": name, "amount": D("0.1"), "price": D("0.0052"), "label": "x"})
    assert refused.value.code == 10043
    for price in ("0.0051", "0.0055"):
        order = new_order(inst, Side.SELL, "0.1", price)
        client.orders.place(order)
        assert server.state.order_count(order.client_order_id) == 1
