"""Orders against the fake Deribit server: placement outcomes, lookups, cancels, faults."""

from __future__ import annotations

import socket
import threading
from datetime import timedelta
from decimal import Decimal

import pytest

from gps_core.errors import (
    AuthenticationError,
    InsufficientFunds,
    InvalidOrder,
    InvalidReply,
    NetworkError,
    OrderNotFound,
    OrderNotOpen,
    OrderRejected,
    OutcomeUnknown,
    RateLimited,
    ReduceOnlyRefused,
    VenueUnavailable,
)
from gps_core.model import Side, TimeInForce, VenueOrderStatus, utcnow
from gps_venue_deribit.backend import DeribitBackend


def best(server, instrument, side: str) -> Decimal:
    """The fake venue's best ask or bid price for ``instrument``."""
    book = server.state.instruments[instrument.symbol]
    return (book.asks if side == "ask" else book.bids)[0][0]


def test_buy_at_the_ask_fills_with_fee(client, server, instrument, new_order):
    inst = instrument()
    ask = best(server, inst, "ask")
    order = new_order(inst, Side.BUY, "0.1", str(ask))
    snapshot = client.orders.place(order)
    assert snapshot.status is VenueOrderStatus.FILLED
    assert snapshot.filled_quantity == Decimal("0.1") and snapshot.average_price == ask
    assert snapshot.fee is not None and snapshot.fee.currency == "BTC" and snapshot.fee.amount > 0
    sent = server.state.orders_for(order.client_order_id)
    assert len(sent) == 1
    assert sent[0]["label"] == order.client_order_id and sent[0]["post_only"] is False
    assert sent[0]["time_in_force"] == "good_til_cancelled"


def test_lost_reply_is_found_by_label_and_placed_once(client, server, instrument, new_order):
    inst = instrument()
    order = new_order(inst, Side.BUY, "0.2", str(best(server, inst, "ask")))
    server.state.faults.inject("drop_after", method="private/buy")
    with pytest.raises(OutcomeUnknown):
        client.orders.place(order)
    found = client.orders.status(order)  # no venue order id: found by label
    assert found.client_order_id == order.client_order_id
    assert found.status is VenueOrderStatus.FILLED and found.filled_quantity == Decimal("0.2")
    assert server.state.received[order.client_order_id] == 1
    assert server.state.order_count(order.client_order_id) == 1


def test_connection_dropped_before_acceptance_is_unknown_then_not_found(client, server, instrument, new_order):
    order = new_order(instrument())
    server.state.faults.inject("drop_before", method="private/buy")
    with pytest.raises(OutcomeUnknown):
        client.orders.place(order)
    with pytest.raises(OrderNotFound):
        client.orders.status(order)
    assert server.state.order_count(order.client_order_id) == 0


@pytest.mark.parametrize("after", [False, True])
def test_5xx_on_place_is_outcome_unknown(client, server, instrument, new_order, after):
    inst = instrument()
    order = new_order(inst, Side.BUY, "0.1", str(best(server, inst, "ask")))
    server.state.faults.inject("http5xx", method="private/buy", status=502, after=after)
    with pytest.raises(OutcomeUnknown) as caught:
        client.orders.place(order)
    assert not isinstance(caught.value, InvalidOrder)
    assert server.state.order_count(order.client_order_id) == (1 if after else 0)
    if after:
        assert client.orders.status(order).status is VenueOrderStatus.FILLED


@pytest.mark.parametrize("status", [401, 403])
def test_401_403_without_a_json_rpc_error_on_place_is_unknown_and_found(client, server, instrument, new_order, status):
    """A 401/403 from something in front of Deribit (no JSON-RPC error: not one of Deribit's
    documented authentication codes) after the order was taken is never a refusal."""
    inst = instrument()
    order = new_order(inst, Side.BUY, "0.1", str(best(server, inst, "ask")))
    server.state.faults.inject("http5xx", method="private/buy", status=status, after=True)
    with pytest.raises(OutcomeUnknown) as caught:
        client.orders.place(order)
    assert not isinstance(caught.value, (OrderRejected, AuthenticationError))
    assert server.state.order_count(order.client_order_id) == 1
    assert client.orders.status(order).status is VenueOrderStatus.FILLED


def test_unparsable_reply_after_sending_is_unknown(client, server, instrument, new_order):
    order = new_order(instrument())
    server.state.faults.inject("garbage", method="private/buy")
    with pytest.raises(InvalidReply):
        client.orders.place(order)
    assert client.orders.status(order).client_order_id == order.client_order_id
    assert server.state.order_count(order.client_order_id) == 1


def test_http_429_on_place_is_rate_limited_and_nothing_placed(client, server, instrument, new_order):
    order = new_order(instrument())
    server.state.faults.inject("http429", method="private/buy", retry_after=2)
    with pytest.raises(RateLimited) as caught:
        client.orders.place(order)
    assert caught.value.retry_after == 2.0
    assert server.state.order_count(order.client_order_id) == 0


def test_error_10028_on_place_is_rate_limited_and_nothing_placed(client, server, instrument, new_order):
    order = new_order(instrument())
    server.state.faults.inject("rate_limit", method="private/sell")
    with pytest.raises(RateLimited) as caught:
        client.orders.place(new_order(order.instrument, Side.SELL, "0.1", "0.5"))
    assert caught.value.code == 10028
    assert server.state.calls["private/sell"] == 1 and sum(server.state.placed.values()) == 0


def test_definitive_reject_maps_to_the_taxonomy(client, server, instrument, new_order):
    order = new_order(instrument())
    server.state.faults.inject("reject", method="private/buy", code=10009, message="not_enough_funds")
    with pytest.raises(InsufficientFunds) as caught:
        client.orders.place(order)
    assert caught.value.code == 10009
    assert server.state.order_count(order.client_order_id) == 0


def test_connection_refused_is_network_error():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    closed = DeribitBackend({"DERIBIT_BASE_URL": f"http://127.0.0.1:{port}"})
    with pytest.raises(NetworkError):
        closed.transport.call("public/get_time")


def test_cancel_of_a_filled_order_is_not_open(client, server, instrument, new_order):
    inst = instrument()
    order = new_order(inst, Side.BUY, "0.1", str(best(server, inst, "ask")))
    placed = client.orders.place(order)
    assert placed.status is VenueOrderStatus.FILLED
    order = order.with_updates(venue_order_id=placed.venue_order_id)
    with pytest.raises(OrderNotOpen):
        client.orders.cancel(order)
    assert client.orders.status(order).status is VenueOrderStatus.FILLED


def test_partial_fill_is_open_then_cancel_keeps_the_fill(client, server, instrument, new_order):
    inst = instrument()
    order = new_order(inst, Side.BUY, "0.5", str(best(server, inst, "ask")))
    server.state.faults.inject("partial", method="private/buy", fill="0.2")
    placed = client.orders.place(order)
    assert placed.status is VenueOrderStatus.OPEN
    assert placed.filled_quantity == Decimal("0.2") and placed.average_price is not None
    looked_up = client.orders.status(order)
    assert looked_up.filled_quantity == Decimal("0.2") and looked_up.fee is not None
    cancelled = client.orders.cancel(order)  # venue id unknown: found by label first
    assert cancelled.status is VenueOrderStatus.CANCELLED and cancelled.filled_quantity == Decimal("0.2")


def test_resting_order_filled_later_reports_fill_and_fee(client, server, instrument, new_order):
    inst = instrument()
    price = best(server, inst, "bid")
    order = new_order(inst, Side.BUY, "0.3", str(price))
    placed = client.orders.place(order)
    assert placed.status is VenueOrderStatus.OPEN and placed.filled_quantity == 0
    order = order.with_updates(venue_order_id=placed.venue_order_id)
    server.state.fill(placed.venue_order_id, Decimal("0.1"))
    assert client.orders.status(order).filled_quantity == Decimal("0.1")
    server.state.fill(placed.venue_order_id)
    done = client.orders.status(order)
    assert done.status is VenueOrderStatus.FILLED and done.fee.amount > 0


def test_ioc_that_cannot_fill_ends_cancelled(client, server, instrument, new_order):
    inst = instrument()
    order = new_order(inst, Side.BUY, "0.1", str(best(server, inst, "bid")), time_in_force=TimeInForce.IOC)
    placed = client.orders.place(order)
    assert placed.status is VenueOrderStatus.CANCELLED and placed.filled_quantity == 0
    assert server.state.orders_for(order.client_order_id)[0]["time_in_force"] == "immediate_or_cancel"


def test_post_only_that_would_take_is_rejected(client, server, instrument, new_order):
    inst = instrument()
    order = new_order(inst, Side.BUY, "0.1", str(best(server, inst, "ask")), post_only=True)
    with pytest.raises(InvalidOrder) as caught:
        client.orders.place(order)
    assert caught.value.code == 11054


def test_post_only_with_ioc_is_refused_before_sending(client, server, instrument, new_order):
    order = new_order(instrument(), post_only=True, time_in_force=TimeInForce.IOC)
    with pytest.raises(InvalidOrder):
        client.orders.place(order)
    assert server.state.calls["private/buy"] == 0


def test_valid_until_is_sent_and_enforced(client, server, instrument, new_order):
    order = new_order(instrument(), valid_until=utcnow() - timedelta(seconds=1))
    with pytest.raises(OutcomeUnknown):
        client.orders.place(order)
    with pytest.raises(OrderNotFound):
        client.orders.status(order)
    fresh = new_order(order.instrument, valid_until=utcnow() + timedelta(seconds=30))
    assert client.orders.place(fresh).client_order_id == fresh.client_order_id


def test_valid_until_follows_the_venue_clock(client, server, instrument, new_order):
    server.state.clock_skew_ms = 60_000 * 5  # the venue's clock is five minutes ahead of ours
    client.market.call("public/get_time", {})  # any reply tells the client the venue's time
    order = new_order(instrument(), Side.SELL, "0.1", "0.5", valid_until=utcnow() + timedelta(seconds=30))
    assert client.orders.place(order).status is VenueOrderStatus.OPEN
    assert server.state.order_count(order.client_order_id) == 1


def test_reduce_only_flag_reaches_the_venue(client, server, instrument, new_order):
    listed = instrument()
    ask = server.state.instrument(listed.symbol).asks[0][0]
    client.orders.place(new_order(listed, Side.BUY, "0.1", str(ask)))  # something to reduce
    order = new_order(listed, Side.SELL, "0.1", "0.5", reduce_only=True)
    client.orders.place(order)
    assert server.state.orders_for(order.client_order_id)[0]["reduce_only"] is True


def test_a_reduce_only_order_that_would_not_reduce_is_refused_as_such(client, server, instrument, new_order):
    """The fake enforces reduce-only from its fills; the plugin reports Deribit's refusal
    (11029 naming ``reduce_only``) as ReduceOnlyRefused, and nothing exists at the venue."""
    listed = instrument()
    ask = server.state.instrument(listed.symbol).asks[0][0]
    flat = new_order(listed, Side.SELL, "0.1", "0.5", reduce_only=True)
    with pytest.raises(ReduceOnlyRefused) as caught:
        client.orders.place(flat)  # nothing held
    assert caught.value.code == 11029 and server.state.orders_for(flat.client_order_id) == []
    client.orders.place(new_order(listed, Side.BUY, "0.1", str(ask)))  # now long 0.1
    more = new_order(listed, Side.BUY, "0.1", str(ask), reduce_only=True)
    with pytest.raises(ReduceOnlyRefused):
        client.orders.place(more)  # would increase the long
    assert server.state.orders_for(more.client_order_id) == []
    assert server.state.position_of(listed.symbol) == Decimal("0.1")


def test_status_by_venue_order_id(client, server, instrument, new_order):
    order = new_order(instrument(), Side.SELL, "0.1", "0.5")
    placed = client.orders.place(order)
    order = order.with_updates(venue_order_id=placed.venue_order_id)
    before = server.state.calls["private/get_order_state"]
    assert client.orders.status(order).venue_order_id == placed.venue_order_id
    assert server.state.calls["private/get_order_state"] == before + 1


def test_unknown_order_is_not_found(client, instrument, new_order):
    with pytest.raises(OrderNotFound):
        client.orders.status(new_order(instrument()))
    with pytest.raises(OrderNotFound):
        client.orders.cancel(new_order(instrument()))


def test_get_form_places_looks_up_and_cancels(make_client, server, instrument, new_order):
    client = make_client("get")
    order = new_order(instrument(), Side.SELL, "0.2", "0.5")
    placed = client.orders.place(order)
    assert placed.status is VenueOrderStatus.OPEN
    assert client.orders.status(order).venue_order_id == placed.venue_order_id
    assert client.orders.cancel(order).status is VenueOrderStatus.CANCELLED
    assert server.state.order_count(order.client_order_id) == 1


def test_concurrent_lookups_with_a_refused_token_log_in_once(token_client, server, instrument, new_order):
    client = token_client
    inst = instrument()
    orders = [new_order(inst, Side.SELL, "0.1", "0.5") for _ in range(6)]
    for order in orders:
        client.orders.place(order)
    logins = server.state.grants["client_signature"]  # (the instrument fixture's client logged in too)
    server.state.expire_tokens()  # every thread's first lookup is refused with 13009
    results = []
    threads = [threading.Thread(target=lambda o=o: results.append(client.orders.status(o))) for o in orders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {r.client_order_id for r in results} == {o.client_order_id for o in orders}
    assert server.state.grants["client_signature"] == logins + 1
    assert all(server.state.order_count(o.client_order_id) == 1 for o in orders)


def test_token_refused_on_place_is_not_resent(token_client, server, instrument, new_order):
    client = token_client
    order = new_order(instrument(), Side.SELL, "0.1", "0.5")
    logins = server.state.grants["client_signature"]
    server.state.faults.inject("expire_token", method="private/sell")
    with pytest.raises(VenueUnavailable) as caught:
        client.orders.place(order)
    assert caught.value.code == 13009
    assert server.state.received[order.client_order_id] == 1
    assert server.state.order_count(order.client_order_id) == 0
    assert client.orders.place(order).status is VenueOrderStatus.OPEN  # the core's next attempt: a new login
    assert server.state.grants["client_signature"] == logins + 1
    assert server.state.order_count(order.client_order_id) == 1


def test_login_refused_before_placing_means_not_sent(token_client, server, instrument, new_order):
    client = token_client
    inst = instrument()
    server.state.client_secret = "rotated"  # the key was changed at the venue
    server.state.expire_tokens()
    server.state.revoke_refresh_tokens()
    first = new_order(inst, Side.SELL, "0.1", "0.5")
    with pytest.raises(VenueUnavailable):  # the held token is refused: not placed
        client.orders.place(first)
    second = new_order(inst, Side.SELL, "0.1", "0.5")
    with pytest.raises(OrderRejected) as caught:  # the new login is refused: never sent
        client.orders.place(second)
    assert caught.value.code == 13004
    assert server.state.received[second.client_order_id] == 0
    assert sum(server.state.placed.values()) == 0


def test_cancel_without_a_venue_id_cancels_by_label(client, server, instrument, new_order):
    """A placement whose reply was lost has no venue id: the cancel goes by client order id (label)."""
    inst = instrument()
    order = new_order(inst, Side.BUY, "0.3", str(best(server, inst, "bid")))
    placed = client.orders.place(order)
    assert placed.status is VenueOrderStatus.OPEN
    order = order.with_updates(venue_order_id=None)  # as if the reply had been lost
    cancelled = client.orders.cancel(order)
    assert cancelled.status is VenueOrderStatus.CANCELLED and cancelled.venue_order_id == placed.venue_order_id
    assert server.state.calls["private/cancel_by_label"] == 1 and server.state.calls["private/cancel"] == 0
    (held,) = server.state.orders_for(order.client_order_id)
    assert held["order_state"] == "cancelled"
    with pytest.raises(OrderNotOpen):  # again: nothing open carries the label any more
        client.orders.cancel(order)


def test_cancel_by_label_of_an_order_that_never_arrived_is_not_found(client, server, instrument, new_order):
    order = new_order(instrument(), Side.BUY, "0.1", "0.0005")
    with pytest.raises(OrderNotFound):
        client.orders.cancel(order)
    assert server.state.orders_for(order.client_order_id) == []
