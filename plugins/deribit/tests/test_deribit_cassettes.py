"""The plugin's own HTTP code replayed against recorded and documented Deribit replies (vcrpy).

Cassettes live in ``cassettes/``; each says at its top, and in every interaction's
``source`` field, whether its bodies are a public capture or a documented example. vcrpy
only replays (``record_mode="none"``): a request the cassette does not hold fails the test.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest
import vcr
import yaml

from gps_core.errors import AuthenticationError, OrderNotOpen
from gps_core.instruments import OptionKey, OptionType
from gps_core.model import FeeSchedule, OrderRequest, Side, TickRule, VenueInstrument
from gps_core.secrets import Secret
from gps_venue_deribit.backend import DeribitBackend

CASSETTES = Path(__file__).parent / "cassettes"
D = Decimal
DOC_TIMESTAMP, DOC_NONCE = 1554883365000, "fdbmmz79"  # Deribit's documented signature example
DOC_CREDENTIALS = {"DERIBIT_CLIENT_ID": Secret("AAAAAAAAAAA"), "DERIBIT_CLIENT_SECRET": Secret("ABCD")}


def _params(request) -> dict | None:
    body = request.body
    if not body:
        return None
    data = json.loads(body.decode() if isinstance(body, bytes) else body)
    return {"method": data.get("method"), "params": data.get("params")}


def jsonrpc_params(r1, r2) -> None:
    """Match JSON-RPC method and params exactly (the request id may differ)."""
    assert _params(r1) == _params(r2), f"{_params(r1)} != {_params(r2)}"


replay = vcr.VCR(cassette_library_dir=str(CASSETTES), record_mode="none",
                 match_on=["method", "scheme", "host", "port", "path", "query", "jsonrpc_params"])
replay.register_matcher("jsonrpc_params", jsonrpc_params)


def production_client() -> DeribitBackend:
    client = DeribitBackend({})
    assert client.settings.base_url == "https://www.deribit.com"
    return client


def login(client: DeribitBackend) -> None:
    client.authenticate(DOC_CREDENTIALS, wall_ms=lambda: DOC_TIMESTAMP, nonce=lambda: DOC_NONCE)


def test_every_cassette_says_where_its_bodies_came_from():
    for path in sorted(CASSETTES.glob("*.yaml")):
        text = path.read_text()
        assert text.startswith("# Cassette:"), path.name
        assert any(kind in text for kind in ("PUBLIC CAPTURE", "DOCUMENTED EXAMPLE", "BUILT FROM DOCUMENTED FACTS")), \
            path.name
        assert "recorded live" not in text.lower()
        for interaction in yaml.safe_load(text)["interactions"]:
            assert interaction["source"].startswith(("public capture", "documented example", "derived from public capture",
                                                     "built from documented facts")), path.name


@replay.use_cassette("deribit_instruments_eth.yaml")
def test_get_instruments_real_eth_rows_parse():
    listing = production_client().market.instruments("ETH")
    assert len(listing) == 2
    call = listing[OptionKey("ETH", date(2025, 7, 6), D("1500"), OptionType.CALL)]
    assert call.symbol == "ETH-6JUL25-1500-C" and call.price_currency == "ETH"
    assert call.tick_size == D("0.0001") and call.tick_steps == (TickRule(D("0.005"), D("0.0005")),)
    assert call.min_quantity == D("1") and call.quantity_step == D("1") and call.contract_size == D("1")
    assert call.fees == FeeSchedule(D("0.0003"), D("0.0003"), D("0.125"))
    assert call.expires_at == datetime(2025, 7, 6, 8, 0, tzinfo=timezone.utc)
    assert call.venue_id == "481742" and call.is_active
    assert OptionKey("ETH", date(2025, 7, 6), D("1500"), OptionType.PUT) in listing


@replay.use_cassette("deribit_instruments_btc.yaml")
def test_get_instruments_real_btc_rows_parse_old_and_new_tick_rules():
    market = production_client().market
    market.instruments("BTC")  # the listing (this cassette); find then answers from it, no per-name call
    june = market.find(OptionKey.parse("BTC-26JUN26-100000-C"))
    assert june.min_quantity == D("0.1") and june.tick_at(D("0.2555")) == D("0.0005")
    assert june.tick_at(D("0.0049")) == D("0.0001")
    assert market.find(OptionKey.parse("BTC-1AUG25-110000-C")).expires_at.date() == date(2025, 8, 1)
    old = market.find(OptionKey.parse("BTC-24JUN22-52000-P"))
    assert old.tick_size == D("0.0005") and old.tick_steps == ()
    assert market.find(OptionKey.parse("BTC-26JUN26-100000-P")) is None  # never matched on strike alone


BOOK_INSTRUMENT = VenueInstrument(
    venue="deribit", key=OptionKey.parse("BTC-27MAR26-100000-C"), symbol="BTC-27MAR26-100000-C",
    price_currency="BTC", tick_size=D("0.0001"), tick_steps=(TickRule(D("0.005"), D("0.0005")),),
    min_quantity=D("0.1"), quantity_step=D("0.1"), fees=FeeSchedule(D("0.0003"), D("0.0003"), D("0.125")))


@replay.use_cassette("deribit_order_book.yaml")
def test_order_book_from_the_ticker_capture():
    stale = replace(BOOK_INSTRUMENT, tick_size=D("0.0005"), tick_steps=())  # what an old cache might say
    book = production_client().market.order_book(stale, 5)
    # priced on the row fetched with the book, not the stale one
    assert (book.instrument.tick_size, book.instrument.tick_steps) == (BOOK_INSTRUMENT.tick_size, BOOK_INSTRUMENT.tick_steps)
    assert [(l.price, l.quantity) for l in book.bids] == [(D("0.2555"), D("5.9"))]
    assert [(l.price, l.quantity) for l in book.asks] == [(D("0.259"), D("7.5"))]
    assert book.usd_per_unit == book.index_price == D("119323.1")
    assert book.timestamp == datetime.fromtimestamp(1752785118.436, tz=timezone.utc)
    assert book.underlying_value() == D("1")
    # the capture's mark_price, and mark_iv / bid_iv / ask_iv (percent) as fractions
    assert (book.mark_price, book.mark_iv, book.bid_iv, book.ask_iv) == (D("0.2571"), D("0.4429"), D("0.4363"),
                                                                         D("0.4508"))


@replay.use_cassette("deribit_index_price.yaml")
def test_index_price_documented_example():
    assert production_client().market.index_price("btc_usd") == D("11628.81")


@replay.use_cassette("deribit_auth.yaml")
def test_login_sends_the_documented_signature():
    client = production_client()
    result = client.authenticate(DOC_CREDENTIALS, wall_ms=lambda: DOC_TIMESTAMP, nonce=lambda: DOC_NONCE)
    assert result.venue == "deribit" and not result.testnet
    assert "session:gps" in result.detail
    assert "PLACEHOLDER" not in repr(result)


@replay.use_cassette("deribit_error_13004.yaml")
def test_invalid_credentials_13004():
    with pytest.raises(AuthenticationError) as caught:
        login(production_client())
    assert caught.value.code == 13004 and "invalid_credentials" in str(caught.value)


def _order(venue_order_id: str | None = "66581975120") -> OrderRequest:
    return OrderRequest("gps-0001", BOOK_INSTRUMENT, Side.BUY, D("0.1"), D("0.0125"), venue_order_id=venue_order_id)


def test_unauthorized_13009_relogs_in_exactly_once():
    client = DeribitBackend({"DERIBIT_AUTH": "token"})  # bearer tokens: a refused one means one more login
    with replay.use_cassette("deribit_error_13009.yaml") as cassette:
        login(client)
        with pytest.raises(AuthenticationError) as caught:
            client.orders.status(_order())
        assert caught.value.code == 13009
        assert cassette.play_count == 4 and cassette.all_played  # login, refused, one re-login, refused


@replay.use_cassette("deribit_error_11044.yaml")
def test_cancel_of_a_non_open_order_11044():
    client = production_client()
    login(client)
    with pytest.raises(OrderNotOpen) as caught:
        client.orders.cancel(_order())
    assert caught.value.code == 11044


@replay.use_cassette("deribit_instruments_usdc.yaml")
def test_linear_usdc_rows_parse_with_their_settlement():
    market = production_client().market
    listing = market.instruments("USDC")
    assert {k.name for k in listing} == {"XRP_USDC-30JUN23-0d625-C", "SOL_USDC-25DEC26-140-C", "BTC_USDC-25DEC26-95000-C"}
    xrp = listing[OptionKey.parse("XRP_USDC-30JUN23-0d625-C")]
    assert xrp.key.strike == D("0.625") and xrp.key.settlement == "USDC" and xrp.key.underlying == "XRP"
    assert xrp.symbol == "XRP_USDC-30JUN23-0d625-C" and xrp.price_currency == "USDC"
    assert xrp.expires_at == datetime(2023, 6, 30, 8, 0, tzinfo=timezone.utc)
    assert xrp.min_quantity == D("100") and xrp.contract_size == D("1")  # amounts are in XRP
    sol = market.find(OptionKey.parse("SOL-25DEC26-140-C"))  # the plain name finds the linear contract
    assert sol.symbol == "SOL_USDC-25DEC26-140-C" and sol.tick_at(D("10")) == D("0.05")
    assert sol.fees == FeeSchedule(D("0.0005"), D("0.0001"), D("0.125"))
    btc = market.find(OptionKey.parse("BTC_USDC-25DEC26-95000-C"))
    assert btc.symbol == "BTC_USDC-25DEC26-95000-C" and btc.tick_at(D("999")) == D("1")


LINEAR_INSTRUMENT = VenueInstrument(
    venue="deribit", key=OptionKey.parse("SOL_USDC-25DEC26-140-C"), symbol="SOL_USDC-25DEC26-140-C",
    price_currency="USDC", tick_size=D("0.01"), tick_steps=(TickRule(D("10"), D("0.05")),),
    min_quantity=D("1"), quantity_step=D("1"), fees=FeeSchedule(D("0.0005"), D("0.0001"), D("0.125")))


@replay.use_cassette("deribit_order_book_usdc.yaml")
def test_linear_order_book_is_in_usdc():
    book = production_client().market.order_book(LINEAR_INSTRUMENT, 5)
    assert [(l.price, l.quantity) for l in book.asks] == [(D("10.5"), D("25")), (D("10.6"), D("80"))]
    assert book.usd_per_unit == D("1") and book.index_price == D("148.42")
    assert book.underlying_value() == D("148.42")


@replay.use_cassette("deribit_order_by_label_usdc.yaml")
def test_a_lost_linear_order_is_looked_up_with_currency_usdc():
    client = production_client()
    login(client)
    order = OrderRequest("gps-0002", LINEAR_INSTRUMENT, Side.BUY, D("2"), D("10.5"))
    snapshot = client.orders.status(order)
    assert snapshot.venue_order_id == "USDC-5702641" and snapshot.filled_quantity == D("2")
    assert snapshot.average_price == D("10.5")
    assert snapshot.fee.currency == "USDC" and snapshot.fee.amount == D("0.14842")


@replay.use_cassette("deribit_positions.yaml")
def test_positions_from_get_positions_inverse_and_linear():
    client = production_client()
    login(client)
    held = {p.symbol: p for p in client.orders.positions("BTC")}
    assert set(held) == {"BTC-26JUN26-100000-C", "BTC_USDC-26JUN26-100000-C"}  # flat and SOL rows left out
    short = held["BTC-26JUN26-100000-C"]
    assert short.quantity == D("-0.5") and short.price_currency == "BTC"
    assert short.average_price == D("0.0425") and short.mark_price == D("0.0391")
    assert short.unrealized_pnl_usd == D("0.0017") * D("104250.5")  # BTC P&L at the index
    linear = held["BTC_USDC-26JUN26-100000-C"]
    assert linear.quantity == D("0.2") and linear.price_currency == "USDC" and linear.usd_per_unit == D(1)
    assert linear.unrealized_pnl_usd == D("-27") and linear.key == OptionKey.parse("BTC_USDC-26JUN26-100000-C")


@replay.use_cassette("deribit_combo_offer.yaml")
def test_an_existing_combo_is_offered_with_its_rules_and_book():
    from gps_core.model import ComboLeg

    client = production_client()
    offer = client.combos.offer([ComboLeg("BTC-19MAY26-70000-C", 1), ComboLeg("BTC-19MAY26-75000-C", -1)],
                                create=False, depth=5)
    combo = offer.instrument
    assert combo.symbol == "BTC-CS-19MAY26-70000_75000" and combo.price_currency == "BTC"
    assert [(leg.symbol, leg.ratio) for leg in combo.combo_legs] == [("BTC-19MAY26-70000-C", 1),
                                                                       ("BTC-19MAY26-75000-C", -1)]
    assert combo.tick_size == D("0.0001") and combo.min_quantity == D("0.1") and combo.venue_id == "584635"
    assert combo.key == OptionKey.parse("BTC-19MAY26-70000-C")  # listed where its first leg is
    assert [(l.price, l.quantity) for l in offer.book.asks] == [(D("0.0641"), D("0.3")), (D("0.0646"), D("1.0"))]
    assert offer.book.usd_per_unit == D("76185.14") and offer.waives_cheaper_side


@replay.use_cassette("deribit_combo_offer.yaml")
def test_the_opposite_structure_finds_the_same_combo():
    from gps_core.model import ComboLeg

    offer = production_client().combos.offer([ComboLeg("BTC-19MAY26-70000-C", -1), ComboLeg("BTC-19MAY26-75000-C", 1)],
                                             create=False, depth=5)
    assert offer.instrument.symbol == "BTC-CS-19MAY26-70000_75000"  # listed the other way: gps sells it


@replay.use_cassette("deribit_combo_fills.yaml")
def test_a_combo_fill_is_reported_per_leg_from_its_trades():
    from gps_core.model import ComboLeg

    client = production_client()
    login(client)
    combo = VenueInstrument(
        venue="deribit", key=OptionKey.parse("BTC-19MAY26-70000-C"), symbol="BTC-CS-19MAY26-70000_75000",
        price_currency="BTC", tick_size=D("0.0001"), min_quantity=D("0.1"), quantity_step=D("0.1"),
        combo_legs=(ComboLeg("BTC-19MAY26-70000-C", 1), ComboLeg("BTC-19MAY26-75000-C", -1)))
    snapshot = client.orders.status(OrderRequest("gps-0003", combo, Side.SELL, D("0.1"), D("0.0635")))
    assert snapshot.filled_quantity == D("0.1") and snapshot.average_price == D("0.0639")
    fills = {(f.symbol, f.side): (f.quantity, f.price, f.fee.amount) for f in snapshot.leg_fills}
    assert fills == {("BTC-19MAY26-70000-C", Side.SELL): (D("0.1"), D("0.0813"), D("0.00003")),
                     ("BTC-19MAY26-75000-C", Side.BUY): (D("0.1"), D("0.0174"), D("0"))}
    assert snapshot.fee.amount == D("0.00003") and snapshot.fee.currency == "BTC"
