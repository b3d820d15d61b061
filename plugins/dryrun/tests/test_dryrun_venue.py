"""The dryrun venue plugin through the core's plugin host, the conformance suite and the CLI."""

import json
import logging
import subprocess
import sys
from decimal import Decimal as D

import pytest

from gps_core.errors import ConfigurationError, InvalidOrder, OrderNotOpen, OutcomeUnknown, VenueError
from gps_core.instruments import OptionKey
from gps_core.model import Capability, ClientIdKind, OrderRequest, Side, TimeInForce, VenueOrderStatus
from gps_core.plugins import PluginHost
from gps_core.secrets import Secret
from gps_core.testing.conformance import VenueConformance
from gps_venue_dryrun import DryRunVenue
from gps_venue_dryrun.testing.harness import DryRunHarness

ASOF = "2030-01-14"  # in the future, so its instruments can be traded on any day the tests run


@pytest.fixture
def env(tmp_path):
    return {"GPS_HOME": str(tmp_path / "home"), "GPS_DRYRUN_ASOF": ASOF}


@pytest.fixture
def venue(env):
    host = PluginHost(environ={})
    host.register(DryRunVenue(env, sleep=lambda s: None), "dryrun")
    return host.venue("dryrun")


def call_at_the_money(venue):
    return venue.find_instrument(OptionKey.parse("BTC-25JAN30-95000-C"))  # weekly and monthly for ASOF


def test_venue_info(venue):
    info = venue.info
    assert info.name == "dryrun" and info.paper and info.client_id_kind is ClientIdKind.LOCAL
    for cap in ("GTC", "IOC", "POST_ONLY", "REDUCE_ONLY", "LOOKUP_BY_CLIENT_ID"):
        assert info.supports(Capability[cap])
    assert info.underlyings == ("BTC", "ETH", "SOL") and info.price_currencies == ("USD",)
    assert info.credential_env == ()


def test_authenticate_needs_nothing_and_leaks_no_canary(venue, caplog):
    caplog.set_level(logging.DEBUG)
    canary = "canary-secret-dryrun-7f3a"
    result = venue.authenticate({"GPS_DRYRUN_KEY": Secret(canary)})
    assert result.venue == "dryrun"
    texts = [repr(result), str(result), caplog.text, repr(venue.info), repr(DryRunVenue())]
    assert not any(canary in text for text in texts)
    assert venue.authenticate({}).account == "paper"


def test_instruments_and_books(venue):
    btc = venue.list_instruments("BTC")
    assert btc and all(i.venue == "dryrun" for i in btc)
    assert venue.list_instruments("DOGE") == []
    inst = call_at_the_money(venue)
    assert inst is not None and inst.symbol == "BTC-25JAN30-95000-C"
    assert venue.find_instrument(OptionKey.parse("DOGE-25JAN30-100-C")) is None
    book = venue.order_book(inst, 3)
    assert len(book.bids) == len(book.asks) == 3 and book.bids[0].price < book.asks[0].price


def test_order_book_of_an_unlisted_instrument_is_a_venue_error(venue):
    inst = call_at_the_money(venue)
    from dataclasses import replace

    with pytest.raises(VenueError, match="not listed"):
        venue.order_book(replace(inst, key=replace(inst.key, strike=D("95000.5"))), 5)


def test_place_status_cancel_and_the_store_location(venue, env, tmp_path):
    inst = call_at_the_money(venue)
    book = venue.order_book(inst, 5)
    taker = OrderRequest("gps-e1-0-1", inst, Side.BUY, D("0.1"), book.asks[0].price)
    filled = venue.place(taker)
    assert filled.status is VenueOrderStatus.FILLED and filled.average_price == book.asks[0].price
    assert filled.fee.currency == "USD" and filled.fee.amount > 0
    resting = OrderRequest("gps-e1-1-1", inst, Side.SELL, D("0.1"), book.asks[-1].price + 100)
    assert venue.place(resting).status is VenueOrderStatus.OPEN
    assert venue.order_status(resting).status is VenueOrderStatus.OPEN
    assert venue.cancel(resting).status is VenueOrderStatus.CANCELLED
    with pytest.raises(OrderNotOpen):
        venue.cancel(taker)
    store = tmp_path / "home" / "dryrun" / "orders.json"
    assert len(json.loads(store.read_text())["orders"]) == 2


def test_a_later_process_sees_the_orders(env):
    first = DryRunVenue(env)
    inst = first.gps_find_instrument(OptionKey.parse("ETH-25JAN30-3400-P"))
    order = OrderRequest("gps-e2-0-1", inst, Side.BUY, D("1"), D("0.5"))
    first.gps_place(order=order)
    second = DryRunVenue(dict(env))
    assert second.gps_order_status(order=order).status is VenueOrderStatus.OPEN


def test_unlisted_instrument_is_rejected(venue):
    inst = call_at_the_money(venue)
    from dataclasses import replace

    ghost = replace(inst, key=replace(inst.key, strike=D("95500.5")), symbol="BTC-25JAN30-95500d5-C")
    with pytest.raises(InvalidOrder, match="not listed"):
        venue.place(OrderRequest("gps-e3-0-1", ghost, Side.BUY, D("0.1"), D(100)))


def test_faults_come_from_the_environment(env):
    env["GPS_DRYRUN_FAULTS"] = "unknown_after_accept x1@BTC-*; never_fill@*-P"
    plugin = DryRunVenue(env)
    inst = plugin.gps_find_instrument(OptionKey.parse("BTC-25JAN30-95000-C"))
    ask = plugin.gps_order_book(instrument=inst, depth=1).asks[0].price
    order = OrderRequest("gps-e4-0-1", inst, Side.BUY, D("0.1"), ask)
    with pytest.raises(OutcomeUnknown):
        plugin.gps_place(order=order)
    assert plugin.gps_order_status(order=order).status is VenueOrderStatus.FILLED
    put = plugin.gps_find_instrument(OptionKey.parse("BTC-25JAN30-95000-P"))
    put_ask = plugin.gps_order_book(instrument=put, depth=1).asks[0].price
    rests = plugin.gps_place(order=OrderRequest("gps-e4-1-1", put, Side.BUY, D("0.1"), put_ask, TimeInForce.GTC))
    assert (rests.status, rests.filled_quantity) == (VenueOrderStatus.OPEN, 0)


def test_bad_fault_spec_is_a_clear_configuration_error(env):
    env["GPS_DRYRUN_FAULTS"] = "explode@*"
    plugin = DryRunVenue(env)
    inst = plugin.gps_find_instrument(OptionKey.parse("BTC-25JAN30-95000-C"))
    with pytest.raises(ConfigurationError, match="unknown fault 'explode'"):
        plugin.gps_place(order=OrderRequest("gps-e5-0-1", inst, Side.BUY, D("0.1"), D(100)))


def test_entry_module_is_light():
    code = ("import sys, gps_venue_dryrun; "
            "heavy = [m for m in ('requests', 'eth_account', 'gps_venue_dryrun.market', 'gps_core.paper') "
            "if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_entry_point_is_declared():
    from importlib import metadata

    eps = [ep for ep in metadata.entry_points(group="gps.venues") if ep.name == "dryrun"]
    assert [ep.value for ep in eps] == ["gps_venue_dryrun:DryRunVenue"]


class TestDryRunConformance(VenueConformance):
    @pytest.fixture
    def harness(self, tmp_path):
        with DryRunHarness(tmp_path / "home") as h:
            yield h
