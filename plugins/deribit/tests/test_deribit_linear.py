"""Deribit's linear USDC-settled options (``SOL_USDC-...``) against the fake server.

Addressing: ``BTC-...`` is the inverse contract, ``BTC_USDC-...`` the linear one, and a plain
name on a coin Deribit lists only as linear (``SOL-...``) finds the linear contract.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from gps_core.errors import InvalidOrder, OutcomeUnknown
from gps_core.instruments import OptionKey
from gps_core.model import Side
from gps_venue_deribit import VENUE_INFO, DeribitVenue
from gps_venue_deribit.listing import deribit_key, index_name, is_linear, listing_currency

D = Decimal


def expiry_code(server, root: str = "SOL_USDC") -> str:
    codes = sorted({n.split("-")[1] for n in server.state.instrument_names(root)},
                   key=lambda code: OptionKey.parse(f"BTC-{code}-1-C").expiry)
    return codes[2]


def test_how_a_key_resolves_without_the_network():
    assert deribit_key(OptionKey.parse("SOL-25DEC26-140-C")).name == "SOL_USDC-25DEC26-140-C"
    assert deribit_key(OptionKey.parse("XRP-25DEC26-0.625-C")).name == "XRP_USDC-25DEC26-0d625-C"
    assert deribit_key(OptionKey.parse("BTC-25DEC26-95000-C")).name == "BTC-25DEC26-95000-C"
    assert deribit_key(OptionKey.parse("BTC_USDC-25DEC26-95000-C")).name == "BTC_USDC-25DEC26-95000-C"
    assert [listing_currency(OptionKey.parse(n)) for n in ("BTC-25DEC26-1-C", "ETH-25DEC26-1-C", "SOL-25DEC26-1-C",
                                                           "BTC_USDC-25DEC26-1-C")] == ["BTC", "ETH", "USDC", "USDC"]
    assert index_name(OptionKey.parse("SOL-25DEC26-140-C")) == "sol_usdc"
    assert index_name(OptionKey.parse("BTC-25DEC26-95000-C")) == "btc_usd"
    assert is_linear(OptionKey.parse("SOL-25DEC26-140-C")) and not is_linear(OptionKey.parse("ETH-25DEC26-1-C"))


def test_inverse_and_linear_on_the_same_option_are_different_contracts(client, server):
    code = expiry_code(server, "BTC_USDC")
    inverse = client.market.find(OptionKey.parse(f"BTC-{code}-95000-C"))
    linear = client.market.find(OptionKey.parse(f"BTC_USDC-{code}-95000-C"))
    assert inverse.symbol == f"BTC-{code}-95000-C" and inverse.price_currency == "BTC"
    assert linear.symbol == f"BTC_USDC-{code}-95000-C" and linear.price_currency == "USDC"
    assert inverse.key != linear.key and inverse.key.settlement == "" and linear.key.settlement == "USDC"
    assert linear.key.name == linear.symbol
    assert inverse.fees.taker_rate == D("0.0003")
    assert linear.fees.taker_rate == D("0.0005") and linear.fees.maker_rate == D("0.0001")
    assert linear.fees.premium_cap == D("0.125")


def test_a_plain_key_on_a_linear_only_coin_finds_the_linear_contract(client, server):
    code = expiry_code(server)
    sol = client.market.find(OptionKey.parse(f"SOL-{code}-140-C"))
    assert sol.symbol == f"SOL_USDC-{code}-140-C" and sol.key == OptionKey.parse(sol.symbol)
    assert sol.price_currency == "USDC" and sol.contract_size == 1
    assert sol.min_quantity == sol.quantity_step == D("1")  # the fake's min_trade_amount, in SOL
    xrp = client.market.find(OptionKey.parse(f"XRP-{code}-0.625-C"))
    assert xrp.symbol == f"XRP_USDC-{code}-0d625-C" and xrp.key.strike == D("0.625")
    assert client.market.find(OptionKey.parse(f"XRP_USDC-{code}-0d625-C")) == xrp
    assert client.market.find(OptionKey.parse(f"SOL-{code}-141-C")) is None


def test_lists_are_per_kind_of_contract(client):
    btc, btc_usdc, sol = client.market.list("BTC"), client.market.list("BTC_USDC"), client.market.list("SOL")
    assert btc and all(i.key.settlement == "" and i.symbol.startswith("BTC-") for i in btc)
    assert btc_usdc and all(i.key.settlement == "USDC" and i.symbol.startswith("BTC_USDC-") for i in btc_usdc)
    assert sol and all(i.symbol.startswith("SOL_USDC-") for i in sol)
    assert client.market.list("SOL_USDC") == sol
    xrp = client.market.list("XRP")
    assert xrp and all(i.symbol.startswith("XRP_USDC-") for i in xrp)


def test_linear_books_are_in_usdc_valued_one_to_one(client, instrument):
    sol = instrument(140, "C", currency="SOL_USDC")
    book = client.market.order_book(sol, 5)
    assert book.usd_per_unit == D(1) and book.index_price == D("150")
    assert book.underlying_value() == D("150")
    assert book.bids[0].price < book.asks[0].price
    best = book.asks[0].price
    fee = sol.fees.fee_per_contract(best, book.underlying_value())
    assert fee == min(D("0.0005") * 150, D("0.125") * best)


def test_a_linear_order_trades_and_its_fee_is_in_usdc(client, server, instrument, new_order):
    sol = instrument(140, "C", currency="SOL_USDC")
    ask = client.market.order_book(sol, 1).asks[0].price
    order = new_order(sol, Side.BUY, "2", str(ask))
    snap = client.orders.place(order)
    (placed,) = server.state.orders_for(order.client_order_id)
    assert placed["instrument_name"] == sol.symbol and placed["amount"] == D(2) and placed["order_state"] == "filled"
    assert snap.filled_quantity == D(2) and snap.average_price == ask
    assert snap.fee.currency == "USDC" and snap.fee.amount == min(D("0.0005") * 150, D("0.125") * ask) * 2


def test_a_lost_linear_order_is_found_by_label_in_usdc(client, server, instrument, new_order):
    xrp = instrument("0d625", "C", currency="XRP_USDC")
    order = new_order(xrp, Side.BUY, "100", str(client.market.order_book(xrp, 1).asks[0].price))
    server.state.faults.inject("drop_after", method="private/buy")
    with pytest.raises(OutcomeUnknown):
        client.orders.place(order)
    found = client.orders.status(order)
    assert found.filled_quantity == D(100) and server.state.order_count(order.client_order_id) == 1
    assert server.state.by_label("USDC", order.client_order_id) and not server.state.by_label("XRP", order.client_order_id)


@pytest.mark.parametrize("price, ok", [("9.99", True), ("10.00", True), ("10.05", True), ("10.01", False),
                                       ("25.03", False), ("0.005", False)])
def test_linear_ticks_follow_the_instruments_own_steps(client, server, instrument, new_order, price, ok):
    """The fake's SOL_USDC options tick 0.01 below 10 USDC and 0.05 from 10 up (at or above the step)."""
    sol = instrument(180, "C", currency="SOL_USDC")
    order = new_order(sol, Side.BUY, "1", price)
    if ok:
        client.orders.place(order)
        assert server.state.order_count(order.client_order_id) == 1
    else:
        with pytest.raises(InvalidOrder, match="tick"):
            client.orders.place(order)
        assert server.state.calls["private/buy"] == 0


def test_below_the_linear_minimum_is_refused_before_sending(client, server, instrument, new_order):
    with pytest.raises(InvalidOrder, match="minimum"):
        client.orders.place(new_order(instrument(140, "C", currency="SOL_USDC"), Side.BUY, "0.5", "10.00"))
    assert server.state.calls["private/buy"] == 0


def test_hooks_and_venue_info(client, server):
    venue = DeribitVenue(client)
    code = expiry_code(server)
    assert venue.gps_find_instrument(key=OptionKey.parse(f"SOL-{code}-150-P")).symbol == f"SOL_USDC-{code}-150-P"
    assert venue.gps_list_instruments(underlying="XRP")
    assert "SOL" in VENUE_INFO.underlyings and "XRP" in VENUE_INFO.underlyings
    assert "USDC" in VENUE_INFO.price_currencies


def test_the_fake_lists_usdc_options_where_deribit_does(server, client):
    rows = client.market.call("public/get_instruments", {"currency": "USDC", "kind": "option", "expired": False})
    assert rows and all(r["instrument_type"] == "linear" and r["settlement_currency"] == "USDC" for r in rows)
    assert {r["price_index"] for r in rows} == {"btc_usdc", "sol_usdc", "xrp_usdc"}
    summaries = client.market.call("public/get_book_summary_by_currency", {"currency": "USDC", "kind": "option"})
    assert {s["instrument_name"] for s in summaries} == {r["instrument_name"] for r in rows}
    assert client.market.index_price("sol_usdc") == D("150")
