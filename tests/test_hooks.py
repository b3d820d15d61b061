"""One test per hook, through the plugin host and the dry-run venue; a meta-test keeps it so."""

import inspect
from decimal import Decimal as D

import pytest

from gps_core import hookspecs
from gps_core.errors import OrderNotFound, OrderNotOpen
from gps_core.instruments import OptionKey
from gps_core.model import AuthResult, OrderRequest, Side, VenueInfo, VenueOrderStatus
from gps_core.plugins import PluginHost

dryrun = pytest.importorskip("gps_venue_dryrun")


@pytest.fixture
def venue(tmp_path):
    host = PluginHost(environ={})
    host.register(dryrun.DryRunVenue(environ={"GPS_HOME": str(tmp_path)}), "dryrun")
    return host.venue("dryrun")


def instrument(venue):
    listed = venue.list_instruments("BTC")
    return sorted(listed, key=lambda i: (i.key.expiry, abs(i.key.strike - 95000)))[len(listed) // 3]


def order(venue, aggressive=True, cid="gps-hooks-L1-1"):
    inst = instrument(venue)
    book = venue.order_book(inst, 5)
    price = book.asks[0].price if aggressive else inst.round_price(book.bids[-1].price / 2, Side.BUY)
    return OrderRequest(cid, inst, Side.BUY, inst.min_quantity, price)


def test_hook_gps_venue_info(venue):
    assert isinstance(venue.info, VenueInfo) and venue.info.name == "dryrun" and venue.info.paper


def test_hook_gps_authenticate(venue):
    assert isinstance(venue.authenticate({}), AuthResult)


def test_hook_gps_list_instruments(venue):
    listed = venue.list_instruments("BTC")
    assert listed and all(i.key.underlying == "BTC" for i in listed)
    assert venue.list_instruments("DOGE") == []


def test_hook_gps_find_instrument(venue):
    inst = instrument(venue)
    assert venue.find_instrument(inst.key) == inst
    # the dry-run market lists any strike on BTC's 1 USD increment on demand, but not between
    assert venue.find_instrument(OptionKey(inst.key.underlying, inst.key.expiry, inst.key.strike + 1, inst.key.option_type))
    assert venue.find_instrument(OptionKey(inst.key.underlying, inst.key.expiry, inst.key.strike + D("0.5"),
                                           inst.key.option_type)) is None


def test_hook_gps_order_book(venue):
    book = venue.order_book(instrument(venue), 3)
    assert 0 < len(book.bids) <= 3 and 0 < len(book.asks) <= 3 and book.bids[0].price < book.asks[0].price


def test_hook_gps_place(venue):
    snapshot = venue.place(order(venue))
    assert snapshot.status is VenueOrderStatus.FILLED and snapshot.client_order_id == "gps-hooks-L1-1"


def test_hook_gps_order_status(venue):
    with pytest.raises(OrderNotFound):
        venue.order_status(order(venue))
    placed = venue.place(order(venue, aggressive=False))
    assert venue.order_status(order(venue)).venue_order_id == placed.venue_order_id


def test_hook_gps_cancel(venue):
    resting = order(venue, aggressive=False)
    venue.place(resting)
    assert venue.cancel(resting).status is VenueOrderStatus.CANCELLED
    with pytest.raises(OrderNotOpen):
        venue.cancel(resting)


def test_hook_gps_positions(venue):
    assert venue.has_positions and venue.positions() == []
    inst = instrument(venue)
    book = venue.order_book(inst, 1)
    venue.place(OrderRequest("gps-hooks-L1-1", inst, Side.BUY, inst.min_quantity * 3, book.asks[0].price))
    venue.place(OrderRequest("gps-hooks-L2-1", inst, Side.SELL, inst.min_quantity, book.bids[0].price))
    (held,) = venue.positions("BTC")
    assert (held.symbol, held.quantity, held.price_currency) == (inst.symbol, inst.min_quantity * 2, "USD")
    assert held.average_price == book.asks[0].price and held.mark_price is not None
    assert venue.positions("ETH") == []


def test_every_hook_has_a_test():
    hooks = {name for name, fn in vars(hookspecs).items() if name.startswith("gps_") and inspect.isfunction(fn)}
    tests = {name[len("test_hook_"):] for name in globals() if name.startswith("test_hook_")}
    assert hooks == tests


def test_hook_gps_combo_offer(venue):
    from gps_core.model import ComboLeg

    near = instrument(venue)
    calls = sorted((i for i in venue.list_instruments("BTC") if i.key.option_type == "C"
                    and i.key.expiry == near.key.expiry), key=lambda i: i.key.strike)
    low, high = calls[len(calls) // 2], calls[len(calls) // 2 + 1]
    assert venue.offers_combos
    offer = venue.combo_offer([ComboLeg(low.symbol, 1), ComboLeg(high.symbol, -1)], create=False, depth=5)
    assert [(leg.symbol, leg.ratio) for leg in offer.legs] == [(low.symbol, 1), (high.symbol, -1)]
    legs = [venue.order_book(low, 1), venue.order_book(high, 1)]
    # the paper combo is quoted at exactly the legs' prices
    assert offer.book.asks[0].price == legs[0].asks[0].price - legs[1].bids[0].price
    order = OrderRequest("gps-hooks-C1-1", offer.instrument, Side.BUY, offer.instrument.min_quantity,
                         offer.book.asks[0].price)
    snapshot = venue.place(order)
    assert snapshot.status is VenueOrderStatus.FILLED
    assert [(f.symbol, f.side) for f in snapshot.leg_fills] == [(low.symbol, Side.BUY), (high.symbol, Side.SELL)]
    assert sum(f.price * (1 if f.side is Side.BUY else -1) for f in snapshot.leg_fills) == snapshot.average_price
    assert venue.combo_offer([ComboLeg("BTC-1JAN20-1-C", 1), ComboLeg(high.symbol, -1)], create=False, depth=5) is None


def test_hook_gps_settlements(tmp_path):
    """A position held past its expiry is settled once, at intrinsic value against the market's index."""
    def venue_at(asof):
        host = PluginHost(environ={})
        host.register(dryrun.DryRunVenue(environ={"GPS_HOME": str(tmp_path), "GPS_DRYRUN_ASOF": asof,
                                                  "GPS_DRYRUN_INDEX": "BTC=90000"}), "dryrun")
        return host.venue("dryrun")

    before = venue_at("2026-03-20")
    assert before.has_settlements and before.settlements() == []
    inst = before.find_instrument(OptionKey.parse("BTC-27MAR26-94000-P"))
    book = before.order_book(inst, 1)
    before.place(OrderRequest("gps-hooks-L1-1", inst, Side.SELL, D("0.5"), book.bids[0].price))
    assert before.settlements() == [] and [p.quantity for p in before.positions()] == [D("-0.5")]
    after = venue_at("2026-03-28")
    (settled,) = after.settlements("BTC")
    assert (settled.symbol, settled.quantity, settled.settlement_price, settled.index_price) == \
        (inst.symbol, D("-0.5"), D(4000), D(90000))
    assert settled.pnl_usd == ((D(4000) - book.bids[0].price) * D("-0.5")).quantize(D("0.01"))
    assert after.positions() == [] and after.settlements("ETH") == [] and len(after.settlements()) == 1
    # an order still working when its instrument expires is cancelled by the venue, and never fills
    resting = OrderRequest("gps-hooks-L2-1", inst, Side.BUY, D("0.1"), book.bids[-1].price)
    assert before.place(resting).status is VenueOrderStatus.OPEN
    expired = after.order_status(resting)
    assert expired.status is VenueOrderStatus.CANCELLED and "expired" in expired.reason
    assert expired.filled_quantity == 0 and len(after.settlements()) == 1
    with pytest.raises(OrderNotOpen):
        after.cancel(resting)


def test_hook_gps_prepare_place(venue, tmp_path):
    """A prepared order is fired once by the engine and settled by its reply; without the hook, ``None``."""
    from gps_core.engine import Engine, ExecutionOptions
    from gps_core.hookspecs import hookimpl
    from gps_core.journal import Journal
    from gps_core.orders import OrderState, TrackedOrder

    assert venue.prepare_place(order(venue)) is None  # the dry-run venue has no such hook: gps_place is used

    class Prepared:
        def __init__(self, place, request):
            self.place, self.request, self.snapshot, self.fired = place, request, None, 0

        def fire(self):
            self.fired += 1
            self.snapshot = self.place(self.request)

        def reply(self):
            return self.snapshot

        def abandon(self):
            pass

    class PreparingDryRun(dryrun.DryRunVenue):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.prepared = []

        @hookimpl
        def gps_prepare_place(self, order):
            self.prepared.append(Prepared(self.gps_place, order))
            return self.prepared[-1]

    plugin = PreparingDryRun(environ={"GPS_HOME": str(tmp_path / "prepared")})
    host = PluginHost(environ={})
    host.register(plugin, "dryrun")
    preparing = host.venue("dryrun")
    request = order(preparing)
    tracked = TrackedOrder(request=request, leg_index=0)
    with Journal(tmp_path, "prepared") as journal:
        Engine({"dryrun": preparing}, journal, ExecutionOptions(), sleep=lambda s: None)._submit_all([tracked])
    assert [p.fired for p in plugin.prepared] == [1]
    assert tracked.state is OrderState.FILLED
    assert [p.quantity for p in preparing.positions("BTC")] == [request.quantity]
