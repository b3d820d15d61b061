"""The paper engine (gps_core.paper.PaperBroker): matching, fees, the store."""

import json
import subprocess
import sys
import textwrap
import threading
from decimal import Decimal as D

import pytest

from gps_core.errors import ConfigurationError, InvalidOrder, OrderNotFound, OrderNotOpen, OrderRejected
from gps_core.model import Side, TimeInForce, VenueOrderStatus
from gps_core.money import Money


def test_buy_walks_the_asks_within_the_limit(make_broker, kit):
    inst = kit.instrument()
    snap = make_broker().place(kit.order("a", inst, quantity="2.5", price="1020"), kit.book(inst))
    assert snap.status is VenueOrderStatus.FILLED
    assert snap.filled_quantity == D("2.5")
    assert snap.average_price == D("1016")  # 1 @ 1010 + 1.5 @ 1020
    assert snap.venue_order_id and snap.client_order_id == "a"


def test_fee_is_per_contract_in_the_price_currency(make_broker, kit):
    inst = kit.instrument()
    snap = make_broker().place(kit.order("a", inst, quantity="2.5", price="1020"), kit.book(inst))
    # min(0.0003 * 95000, 0.125 * price) = 28.5 USD per contract at both levels
    assert snap.fee == Money(D("71.25"), "USD")


def test_fee_is_capped_by_the_premium(make_broker, kit):
    inst = kit.instrument(200000)
    cheap = kit.book(inst, bids=(("9", "5"),), asks=(("10", "5"),))
    snap = make_broker().place(kit.order("a", inst, quantity="2", price="10"), cheap)
    assert snap.fee == Money(D("2.5"), "USD")  # 12.5% of 10 USD, twice


def test_fee_of_a_coin_priced_option_is_in_the_coin(make_broker, kit):
    from dataclasses import replace

    inst = replace(kit.instrument(), price_currency="BTC", tick_size=D("0.0005"))
    coin_book = kit.book(inst, asks=(("0.05", "3"),), bids=(("0.045", "3"),))
    coin_book = replace(coin_book, usd_per_unit=D(95000))
    snap = make_broker().place(kit.order("a", inst, quantity="1", price="0.05"), coin_book)
    assert snap.fee == Money(D("0.0003"), "BTC")  # 0.03% of one BTC, below 12.5% of 0.05


def test_size_beyond_the_depth_within_the_limit_rests_as_a_partial_fill(make_broker, kit):
    inst = kit.instrument()
    snap = make_broker().place(kit.order("a", inst, quantity="5", price="1020"), kit.book(inst))
    assert snap.status is VenueOrderStatus.OPEN
    assert snap.filled_quantity == D(3)
    assert snap.average_price == (D(1010) + D(2040)) / 3


def test_ioc_remainder_is_cancelled(make_broker, kit):
    inst = kit.instrument()
    snap = make_broker().place(kit.order("a", inst, quantity="5", price="1020", tif=TimeInForce.IOC), kit.book(inst))
    assert snap.status is VenueOrderStatus.CANCELLED
    assert snap.filled_quantity == D(3)
    assert "immediate-or-cancel" in snap.reason


def test_ioc_with_nothing_in_reach_is_cancelled_unfilled(make_broker, kit):
    inst = kit.instrument()
    snap = make_broker().place(kit.order("a", inst, price="1000", tif=TimeInForce.IOC), kit.book(inst))
    assert (snap.status, snap.filled_quantity, snap.average_price) == (VenueOrderStatus.CANCELLED, 0, None)


def test_gtc_out_of_reach_rests_and_does_not_fill_later(make_broker, kit):
    inst = kit.instrument()
    broker = make_broker()
    snap = broker.place(kit.order("a", inst, price="1000"), kit.book(inst))
    assert (snap.status, snap.filled_quantity) == (VenueOrderStatus.OPEN, 0)
    for _ in range(3):
        assert broker.status(kit.order("a", inst)).filled_quantity == 0


def test_sell_walks_the_bids(make_broker, kit):
    inst = kit.instrument()
    snap = make_broker().place(kit.order("s", inst, side="sell", quantity="1.5", price="985"), kit.book(inst))
    assert (snap.status, snap.filled_quantity, snap.average_price) == (VenueOrderStatus.OPEN, 1, D(990))


def test_duplicate_client_order_id_is_refused_and_changes_nothing(make_broker, kit):
    inst = kit.instrument()
    broker = make_broker()
    first = broker.place(kit.order("dup", inst, price="1000"), kit.book(inst))
    with pytest.raises(OrderRejected, match="duplicate"):
        broker.place(kit.order("dup", inst, quantity="1", price="1030"), kit.book(inst))
    assert [o.client_order_id for o in broker.orders()] == ["dup"]
    assert broker.status(kit.order("dup", inst)) == first


def test_orders_persist_across_broker_instances(make_broker, kit):
    inst = kit.instrument()
    placed = make_broker().place(kit.order("p", inst, price="1000"), kit.book(inst))
    other = make_broker()  # a later process: same file, new object
    by_cid = other.status(kit.order("p", inst))
    assert by_cid.venue_order_id == placed.venue_order_id and by_cid.status is VenueOrderStatus.OPEN
    cancelled = other.cancel(kit.order("p", inst, venue_order_id=placed.venue_order_id))
    assert cancelled.status is VenueOrderStatus.CANCELLED
    assert make_broker().status(kit.order("x", inst, venue_order_id=placed.venue_order_id)).status \
        is VenueOrderStatus.CANCELLED


def test_store_is_json_with_decimal_strings(make_broker, kit, tmp_path):
    inst = kit.instrument()
    make_broker().place(kit.order("a", inst, quantity="0.5", price="1010"), kit.book(inst))
    data = json.loads((tmp_path / "paper" / "orders.json").read_text())
    stored = data["orders"][0]
    assert stored["quantity"] == "0.5" and stored["limit_price"] == "1010"
    assert stored["fills"] == [{"price": "1010", "quantity": "0.5", "fee": "14.25", "liquidity": "taker"}]
    assert not [p for p in (tmp_path / "paper").iterdir() if p.name.endswith(".tmp")]


def test_unknown_orders_are_not_found(make_broker, kit):
    inst = kit.instrument()
    broker = make_broker()
    with pytest.raises(OrderNotFound):
        broker.status(kit.order("ghost", inst))
    with pytest.raises(OrderNotFound):
        broker.cancel(kit.order("ghost", inst))
    with pytest.raises(OrderNotFound):
        broker.status(kit.order("ghost", inst, venue_order_id="paper-paper-99999999"))


def test_cancel_of_a_filled_order_is_not_open_and_it_stays_filled(make_broker, kit):
    inst = kit.instrument()
    broker = make_broker()
    broker.place(kit.order("f", inst), kit.book(inst))
    with pytest.raises(OrderNotOpen):
        broker.cancel(kit.order("f", inst))
    assert broker.status(kit.order("f", inst)).status is VenueOrderStatus.FILLED


def test_cancel_twice_is_not_open(make_broker, kit):
    inst = kit.instrument()
    broker = make_broker()
    broker.place(kit.order("c", inst, price="1000"), kit.book(inst))
    broker.cancel(kit.order("c", inst))
    with pytest.raises(OrderNotOpen):
        broker.cancel(kit.order("c", inst))


def test_cancel_keeps_the_partial_fill(make_broker, kit):
    inst = kit.instrument()
    broker = make_broker()
    broker.place(kit.order("p", inst, quantity="5", price="1020"), kit.book(inst))
    snap = broker.cancel(kit.order("p", inst))
    assert (snap.status, snap.filled_quantity) == (VenueOrderStatus.CANCELLED, 3)


@pytest.mark.parametrize("quantity, price, why", [
    ("0.001", "1010", "below the minimum"),
    ("0.015", "1010", "not a multiple"),
    ("1", "1010.05", "tick"),
    ("1", "0", "tick"),
])
def test_invalid_orders_are_rejected_and_not_stored(make_broker, kit, quantity, price, why):
    inst = kit.instrument()
    broker = make_broker()
    with pytest.raises(InvalidOrder, match=why):
        broker.place(kit.order("bad", inst, quantity=quantity, price=price), kit.book(inst))
    assert broker.orders() == []


def test_expired_instrument_is_rejected(make_broker, kit):
    from dataclasses import replace
    from datetime import date

    inst = kit.instrument()
    old = replace(inst, key=replace(inst.key, expiry=date(2020, 1, 3)))
    old = replace(old, symbol=old.key.name)
    with pytest.raises(InvalidOrder, match="expired"):
        make_broker().place(kit.order("old", old), kit.book(old))


def test_post_only_that_would_cross_is_rejected_and_one_that_rests_is_accepted(make_broker, kit):
    inst = kit.instrument()
    broker = make_broker()
    with pytest.raises(InvalidOrder, match="post-only"):
        broker.place(kit.order("po1", inst, price="1010", post_only=True), kit.book(inst))
    snap = broker.place(kit.order("po2", inst, price="1000", post_only=True), kit.book(inst))
    assert snap.status is VenueOrderStatus.OPEN


def test_reduce_only_needs_a_position_to_reduce(make_broker, kit):
    inst = kit.instrument()
    broker = make_broker()
    with pytest.raises(InvalidOrder, match="reduce-only"):
        broker.place(kit.order("r1", inst, side="sell", quantity="1", price="990", reduce_only=True), kit.book(inst))
    broker.place(kit.order("long", inst, quantity="1", price="1010"), kit.book(inst))
    with pytest.raises(InvalidOrder, match="reduce-only"):
        broker.place(kit.order("r2", inst, side="buy", quantity="1", price="1010", reduce_only=True), kit.book(inst))
    with pytest.raises(InvalidOrder, match="reduce-only"):
        broker.place(kit.order("r3", inst, side="sell", quantity="2", price="980", reduce_only=True), kit.book(inst))
    snap = broker.place(kit.order("r4", inst, side="sell", quantity="1", price="990", reduce_only=True), kit.book(inst))
    assert snap.status is VenueOrderStatus.FILLED


def test_book_for_another_instrument_is_refused(make_broker, kit):
    with pytest.raises(InvalidOrder, match="book is for"):
        make_broker().place(kit.order("x", kit.instrument(100000)), kit.book(kit.instrument(90000)))


def test_unreadable_store_is_a_configuration_error(make_broker, kit, tmp_path):
    path = tmp_path / "paper" / "orders.json"
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    with pytest.raises(ConfigurationError, match="unreadable"):
        make_broker().status(kit.order("a", kit.instrument()))


def test_concurrent_threads_get_distinct_orders(make_broker, kit):
    inst = kit.instrument()
    broker = make_broker()
    deep = kit.book(inst, asks=(("1010", "1000"),))
    results, errors = [], []

    def place(n):
        try:
            results.append(broker.place(kit.order(f"t{n}", inst, quantity="0.1"), deep))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=place, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len({r.venue_order_id for r in results}) == 16
    assert len(broker.orders()) == 16


def test_two_processes_share_the_store_without_losing_orders(tmp_path):
    store = tmp_path / "shared.json"
    script = textwrap.dedent(f"""
        import sys
        from datetime import date, timedelta
        from decimal import Decimal as D
        from gps_core.instruments import OptionKey, OptionType
        from gps_core.model import BookLevel, OrderBook, OrderRequest, Side, VenueInstrument
        from gps_core.paper import PaperBroker
        key = OptionKey("BTC", date.today() + timedelta(days=30), D(100000), OptionType.CALL)
        inst = VenueInstrument("paper", key, key.name, "USD", D("0.1"), D("0.01"), D("0.01"))
        book = OrderBook(inst, (), (BookLevel(D(10), D(1000)),), D(1), D(95000))
        broker = PaperBroker({str(store)!r}, "paper")
        for n in range(25):
            broker.place(OrderRequest(f"{{sys.argv[1]}}-{{n}}", inst, Side.BUY, D("0.1"), D(10)), book)
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script, tag]) for tag in ("a", "b")]
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    data = json.loads(store.read_text())
    assert len(data["orders"]) == 50
    assert len({o["venue_order_id"] for o in data["orders"]}) == 50
    assert all(o["status"] == "filled" for o in data["orders"])


def test_side_and_order_records_round_trip(make_broker, kit):
    inst = kit.instrument()
    broker = make_broker()
    broker.place(kit.order("a", inst, side="sell", quantity="0.5", price="990"), kit.book(inst))
    (stored,) = make_broker().orders()
    assert stored.side is Side.SELL and stored.fills[0].liquidity == "taker"
    assert stored.snapshot() == broker.status(kit.order("a", inst))


def test_lookups_that_change_nothing_do_not_rewrite_the_store(make_broker, kit, tmp_path):
    import os

    inst = kit.instrument()
    broker = make_broker()
    broker.place(kit.order("a", inst, price="1000"), kit.book(inst))
    path = tmp_path / "paper" / "orders.json"
    before = os.stat(path).st_ino
    broker.status(kit.order("a", inst))
    broker.orders()
    with pytest.raises(OrderNotFound):
        broker.status(kit.order("nope", inst))
    assert os.stat(path).st_ino == before  # an atomic rewrite would have replaced the inode
    broker.cancel(kit.order("a", inst))
    assert os.stat(path).st_ino != before
