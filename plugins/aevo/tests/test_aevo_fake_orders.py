"""Orders against the fake Aevo: the plugin's real HTTP, HMAC and EIP-712 code end to end."""

from __future__ import annotations

import dataclasses
import threading
from decimal import Decimal

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
)
from gps_core.model import Side, TimeInForce, VenueOrderStatus
from gps_core.secrets import Secret
from gps_venue_aevo import signing
from gps_venue_aevo.transport import Transport
from gps_venue_aevo.config import MAINNET_DOMAIN, Settings
from gps_venue_aevo.orders import order_body
from gps_venue_aevo.backend import AevoBackend


def test_place_fills_against_the_book_and_is_recorded_before_send(aevo_backend, fake_aevo, new_order):
    seen = []
    order = new_order(quantity="0.3").with_updates(
        before_send=lambda o: seen.append((o.venue_order_id, dict(o.venue_data), len(fake_aevo.orders_received))))
    snap = aevo_backend.place(order)
    sent = lambda order: order.with_updates(venue_order_id=seen[0][0], venue_data=seen[0][1])  # noqa: E731
    assert snap.status is VenueOrderStatus.FILLED and snap.filled_quantity == Decimal("0.3")
    # The id was recorded before the POST left, and it is the id Aevo (the fake) assigned.
    assert seen == [(sent(order).venue_order_id, sent(order).venue_data, 0)]
    assert snap.venue_order_id == sent(order).venue_order_id
    assert sent(order).venue_data["salt"] == str(signing.salt_for(order.client_order_id))
    accepted = fake_aevo.orders_for(sent(order).venue_data["salt"])
    assert [o["order_id"] for o in accepted] == [sent(order).venue_order_id]
    # The fake recovered the registered signing key (not the wallet) from the signature.
    assert fake_aevo.orders[sent(order).venue_order_id]["_signer"] == signing.address_of(
        aevo_backend._signer.signing_key.reveal()).lower()


def test_lost_reply_is_unknown_and_settled_by_order_id(aevo_backend, fake_aevo, new_order, sent):
    fake_aevo.inject("drop_after")
    order = new_order()
    with pytest.raises(OutcomeUnknown):
        aevo_backend.place(order)
    snap = aevo_backend.status(sent(order))
    assert snap.status is VenueOrderStatus.FILLED and snap.venue_order_id == sent(order).venue_order_id
    assert len(fake_aevo.orders_received) == 1 and len(fake_aevo.orders) == 1


def test_connection_dropped_before_acceptance_is_unknown_then_not_found(aevo_backend, fake_aevo, new_order, sent):
    fake_aevo.inject("drop_before")
    order = new_order()
    with pytest.raises(OutcomeUnknown):
        aevo_backend.place(order)
    with pytest.raises(OrderNotFound):
        aevo_backend.status(sent(order))
    assert fake_aevo.orders == {}


def test_read_timeout_after_sending_is_unknown_and_the_order_is_found(fake_aevo, aevo_env, new_order, sent):
    client = Transport(Settings(fake_aevo.url, False, MAINNET_DOMAIN), timeout=(2.0, 0.2))
    service = AevoBackend(client.settings, client)
    service.authenticate({k: Secret(v) for k, v in aevo_env.items()})
    fake_aevo.inject("latency", seconds=0.6)
    order = new_order()
    with pytest.raises(OutcomeUnknown):
        service.place(order)
    fake_aevo.inject("latency", method="GET", path="/orders/*", seconds=0)  # let the POST finish first
    found = None
    for _ in range(50):
        try:
            found = service.status(sent(order))
            break
        except OrderNotFound:
            threading.Event().wait(0.05)
    assert found is not None and found.venue_order_id == sent(order).venue_order_id
    assert len(fake_aevo.orders) == 1


def test_rate_limit_is_refused_with_retry_after_and_a_retry_keeps_the_order_id(aevo_backend, fake_aevo, new_order, sent):
    fake_aevo.inject("rate_limit", retry_after_ns=2_500_000_000)
    order = new_order()
    with pytest.raises(RateLimited) as caught:
        aevo_backend.place(order)
    assert caught.value.retry_after == 2.5
    first_id = sent(order).venue_order_id
    assert fake_aevo.orders == {}
    snap = aevo_backend.place(order)  # the core may retry after a definite refusal
    assert snap.venue_order_id == first_id == sent(order).venue_order_id
    assert len(fake_aevo.orders) == 1


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_error_on_place_is_unknown_never_rejected(aevo_backend, fake_aevo, new_order, status, sent):
    fake_aevo.inject("server_error", status=status)
    order = new_order()
    with pytest.raises(OutcomeUnknown) as caught:
        aevo_backend.place(order)
    assert not isinstance(caught.value, OrderRejected)
    with pytest.raises(OrderNotFound):
        aevo_backend.status(sent(order))


def test_safe_reads_are_retried(aevo_backend, fake_aevo, new_order, sent):
    order = new_order()
    aevo_backend.place(order)
    fake_aevo.inject("server_error", method="GET", path="/orders/*")
    fake_aevo.inject("rate_limit", method="GET", path="/orderbook", retry_after_ns=1_000_000)
    assert aevo_backend.status(sent(order)).status is VenueOrderStatus.FILLED
    assert aevo_backend.order_book(order.instrument, 3).asks


def test_a_failed_read_never_says_the_outcome_is_unknown(aevo_backend, fake_aevo, new_order):
    """'The outcome is unknown' is for orders; a 503 on GET /orderbook just failed."""
    order = new_order()
    fake_aevo.inject("server_error", method="GET", path="/orderbook", status=503, times=10)
    with pytest.raises(OutcomeUnknown) as caught:
        aevo_backend.order_book(order.instrument, 3)
    assert "HTTP 503" in str(caught.value) and "outcome" not in str(caught.value)
    fake_aevo.inject("server_error", method="POST", path="/orders", status=503)
    with pytest.raises(OutcomeUnknown, match="the outcome is unknown"):
        aevo_backend.place(order)
    assert fake_aevo.orders == {}


def test_more_than_six_decimals_is_refused_before_sending(aevo_backend, fake_aevo, new_order, sent):
    order = new_order()
    fine_tick = dataclasses.replace(order.instrument, tick_size=Decimal("0.0000001"))
    order = order.with_updates(instrument=fine_tick, limit_price=order.limit_price + Decimal("0.0000001"))
    with pytest.raises(InvalidOrder, match="more than 6 decimals"):
        aevo_backend.place(order)
    assert fake_aevo.orders_received == [] and sent(order).venue_order_id is None


@pytest.mark.parametrize("change, message", [
    ({"limit_price": Decimal("100.25")}, "price_step"),
    ({"quantity": Decimal("0.015")}, "amount_step"),
])
def test_off_step_orders_are_refused_before_sending(aevo_backend, fake_aevo, new_order, change, message):
    order = new_order().with_updates(**change)
    with pytest.raises(InvalidOrder, match=message):
        aevo_backend.place(order)
    assert fake_aevo.orders_received == []


def test_unregistered_signing_key_is_refused_at_authentication(fake_aevo, aevo_env):
    from eth_account import Account

    env = dict(aevo_env, AEVO_SIGNING_KEY="0x" + bytes(Account.create().key).hex())
    service = AevoBackend(Settings(fake_aevo.url, False, MAINNET_DOMAIN))
    with pytest.raises(AuthenticationError, match="not registered"):
        service.authenticate({k: Secret(v) for k, v in env.items()})


def test_expired_signing_key_is_refused_at_authentication(fake_aevo):
    env = fake_aevo.create_account(expiry_ns=1_000_000_000)
    service = AevoBackend(Settings(fake_aevo.url, False, MAINNET_DOMAIN))
    with pytest.raises(AuthenticationError, match="expired"):
        service.authenticate({k: Secret(v) for k, v in env.items()})


def test_signing_key_revoked_after_authentication_is_a_definitive_refusal(aevo_backend, fake_aevo, aevo_env, new_order):
    """A documented authentication code in Aevo's body: the order was refused before anything was done."""
    fake_aevo.accounts[aevo_env["AEVO_API_KEY"]].signing_keys.clear()
    with pytest.raises(OrderRejected, match="register a signing key") as caught:
        aevo_backend.place(new_order())
    assert caught.value.code == "ORDER_INVALID_SIGNING_KEY" and fake_aevo.orders == {}


def _raw_post(service: AevoBackend, order, *, signing_key: str, maker: str | None = None, signature: str | None = None):
    fields = service._fields(order, maker or service._signer.maker)
    signed = signing.sign_order(fields, MAINNET_DOMAIN, signing_key)
    if signature is not None:
        signed = signing.SignedOrder(signed.order_id, signature)
    return service.transport.create_order(order_body(order, fields, signed))


def test_fake_rejects_bad_signatures_and_wrong_makers(aevo_backend, fake_aevo, aevo_env, new_order):
    from eth_account import Account

    stranger = "0x" + bytes(Account.create().key).hex()
    order = new_order()
    with pytest.raises(AuthenticationError) as caught:
        _raw_post(aevo_backend, order, signing_key=stranger)
    assert caught.value.code == "ORDER_INVALID_SIGNING_KEY"
    good_key = aevo_env["AEVO_SIGNING_KEY"]
    with pytest.raises(AuthenticationError) as caught:
        _raw_post(aevo_backend, order, signing_key=good_key, signature="0x" + "11" * 65)
    assert caught.value.code in ("ORDER_INVALID_SIGNATURE", "ORDER_INVALID_SIGNING_KEY")
    with pytest.raises(AuthenticationError) as caught:
        _raw_post(aevo_backend, order, signing_key=good_key, signature="0x1234")
    assert caught.value.code == "ORDER_INVALID_SIGNATURE"
    with pytest.raises(AuthenticationError) as caught:
        _raw_post(aevo_backend, order, signing_key=good_key, maker=Account.create().address)
    assert caught.value.code == "ORDER_INVALID_MAKER"
    assert fake_aevo.orders == {} and len(fake_aevo.orders_received) == 4


def test_fake_checks_the_hmac_over_the_exact_body(aevo_backend, fake_aevo, new_order):
    import requests

    from gps_venue_aevo import auth

    order = new_order()
    fields = aevo_backend._fields(order, aevo_backend._signer.maker)
    signed = signing.sign_order(fields, MAINNET_DOMAIN, aevo_backend._signer.signing_key.reveal())
    body = order_body(order, fields, signed)
    api = aevo_backend.transport._api_key
    headers = auth.auth_headers(api.key.reveal(), api.secret.reveal(), "POST", "/orders", body)
    spaced = body.replace(b",", b", ")  # same JSON, different bytes
    reply = requests.post(fake_aevo.url + "/orders", data=spaced, headers=headers, timeout=5)
    assert reply.status_code == 401 and reply.json() == {"error": "INVALID_SIGNATURE"}
    assert fake_aevo.orders == {}


def test_wrong_api_secret_fails_authentication(fake_aevo, aevo_env):
    env = dict(aevo_env, AEVO_API_SECRET="not-the-secret")
    service = AevoBackend(Settings(fake_aevo.url, False, MAINNET_DOMAIN))
    with pytest.raises(AuthenticationError):
        service.authenticate({k: Secret(v) for k, v in env.items()})


def test_missing_credentials_are_named(fake_aevo, aevo_env):
    service = AevoBackend(Settings(fake_aevo.url, False, MAINNET_DOMAIN))
    partial = {"AEVO_API_KEY": Secret(aevo_env["AEVO_API_KEY"])}
    with pytest.raises(AuthenticationError) as caught:
        service.authenticate(partial)
    for name in ("AEVO_API_SECRET", "AEVO_SIGNING_KEY", "AEVO_WALLET_ADDRESS"):
        assert name in str(caught.value)


def test_place_without_credentials_is_refused_before_sending(fake_aevo, aevo_backend, new_order):
    order = new_order()
    anonymous = AevoBackend(Settings(fake_aevo.url, False, MAINNET_DOMAIN))
    with pytest.raises(OrderRejected, match="not sent.*AEVO_SIGNING_KEY"):
        anonymous.place(order)
    assert fake_aevo.orders_received == []


def test_cancel_of_a_filled_order_is_not_open(aevo_backend, new_order, sent):
    order = new_order()
    assert aevo_backend.place(order).status is VenueOrderStatus.FILLED
    with pytest.raises(OrderNotOpen):
        aevo_backend.cancel(sent(order))


def test_cancel_of_a_resting_order_and_of_a_cancelled_one(aevo_backend, fake_aevo, new_order, sent):
    name = fake_aevo.option_names("BTC", call=True)[4]
    bid = fake_aevo.market(name).bids[0][0]
    order = new_order(name=name, price=str(bid))
    assert aevo_backend.place(order).status is VenueOrderStatus.OPEN
    after = aevo_backend.cancel(sent(order))
    assert after.status is VenueOrderStatus.CANCELLED and after.filled_quantity == 0
    with pytest.raises(OrderNotOpen):
        aevo_backend.cancel(sent(order))


def test_cancel_of_an_unknown_order_is_not_found(aevo_backend, new_order, sent):
    order = new_order().with_updates(venue_order_id="0x" + "ab" * 32)
    with pytest.raises(OrderNotFound):
        aevo_backend.cancel(sent(order))


def test_partial_fill_then_rest_then_filled(aevo_backend, fake_aevo, new_order, sent):
    fake_aevo.inject("partial_fill", fill="0.04")
    order = new_order(quantity="0.1")
    snap = aevo_backend.place(order)
    assert snap.status is VenueOrderStatus.OPEN and snap.filled_quantity == Decimal("0.04")
    fake_aevo.fill(sent(order).venue_order_id)
    done = aevo_backend.status(sent(order))
    assert done.status is VenueOrderStatus.FILLED and done.filled_quantity == Decimal("0.1")


def test_partial_fill_then_cancel_keeps_the_fill(aevo_backend, fake_aevo, new_order, sent):
    fake_aevo.inject("partial_fill", fill="0.05")
    order = new_order(quantity="0.2")
    aevo_backend.place(order)
    after = aevo_backend.cancel(sent(order))
    assert after.status is VenueOrderStatus.CANCELLED and after.filled_quantity == Decimal("0.05")
    assert after.average_price == order.limit_price


def test_injected_reject_maps_to_the_taxonomy(aevo_backend, fake_aevo, new_order):
    fake_aevo.inject("reject", code="INSUFFICIENT_AVAILABLE_MARGIN")
    with pytest.raises(InsufficientFunds):
        aevo_backend.place(new_order())
    assert fake_aevo.orders == {}


def test_ioc_without_liquidity_is_rejected_and_partial_ioc_is_cancelled(aevo_backend, fake_aevo, new_order):
    name = fake_aevo.option_names("BTC", call=True)[4]
    bid = fake_aevo.market(name).bids[0][0]
    with pytest.raises(OrderRejected) as caught:
        aevo_backend.place(new_order(name=name, price=str(bid), time_in_force=TimeInForce.IOC))
    assert caught.value.code == "IOC_ORDER_REJECTED"
    best = list(fake_aevo.market(name).asks[0])
    order = new_order(name=name, quantity=str(best[1] + Decimal("1")), price=str(best[0]),
                      time_in_force=TimeInForce.IOC, cid="gps-test-L2-1")
    snap = aevo_backend.place(order)
    assert snap.status is VenueOrderStatus.CANCELLED and snap.filled_quantity == best[1]


def test_reduce_only_unwind(aevo_backend, fake_aevo, new_order):
    name = fake_aevo.option_names("ETH", call=False)[10]
    assert aevo_backend.place(new_order(name=name, quantity="1")).status is VenueOrderStatus.FILLED
    with pytest.raises(InvalidOrder):
        aevo_backend.place(new_order(name=name, quantity="1", reduce_only=True, cid="gps-test-U0-1"))
    unwind = new_order(name=name, side=Side.SELL, quantity="1", reduce_only=True, time_in_force=TimeInForce.IOC,
                       cid="gps-test-U1-1")
    assert aevo_backend.place(unwind).status is VenueOrderStatus.FILLED


def test_concurrent_legs_each_reach_the_venue_once(aevo_backend, fake_aevo, new_order, sent):
    names = fake_aevo.option_names("BTC", call=True)[3:6]
    orders = [new_order(name=n, cid=f"gps-conc-L{i}-1") for i, n in enumerate(names, 1)]
    results: dict[str, object] = {}

    def place(o):
        results[o.client_order_id] = aevo_backend.place(o)

    threads = [threading.Thread(target=place, args=(o,)) for o in orders]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.status is VenueOrderStatus.FILLED for r in results.values())
    assert len(fake_aevo.orders_received) == 3 and len(fake_aevo.orders) == 3
    for o in orders:
        assert len(fake_aevo.orders_for(sent(o).venue_data["salt"])) == 1


def test_closed_orders_missing_from_get_orders_are_found_in_order_history(aevo_backend, fake_aevo, new_order, sent):
    fake_aevo.forget_closed = True
    order = new_order(quantity="0.2")
    fake_aevo.inject("drop_after")
    with pytest.raises(OutcomeUnknown):
        aevo_backend.place(order)
    snap = aevo_backend.status(sent(order))
    assert snap.status is VenueOrderStatus.FILLED and snap.filled_quantity == Decimal("0.2")
    assert snap.average_price == order.limit_price  # order-history has no avg_price: the limit bounds it
    with pytest.raises(OrderNotOpen):
        aevo_backend.cancel(sent(order))
    never_sent = new_order(cid="gps-test-L9-1").with_updates(venue_order_id="0x" + "cd" * 32,
                                                              venue_data={"timestamp": sent(order).venue_data["timestamp"]})
    with pytest.raises(OrderNotFound):
        aevo_backend.status(never_sent)
    assert len(fake_aevo.orders) == 1


def test_connection_refused_is_a_network_error_not_unknown(aevo_env):
    import socket

    from gps_core.errors import NetworkError

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    service = AevoBackend(Settings(f"http://127.0.0.1:{port}", False, MAINNET_DOMAIN))
    from gps_venue_aevo.transport import ApiKey

    service.transport.set_api_key(ApiKey(Secret(aevo_env["AEVO_API_KEY"]), Secret(aevo_env["AEVO_API_SECRET"])))
    with pytest.raises(NetworkError):
        service.transport.create_order(b"{}")
    with pytest.raises(NetworkError):
        service.transport.markets("BTC")
