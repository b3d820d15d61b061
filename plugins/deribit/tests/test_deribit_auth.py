"""Login, token refresh and re-login, against the fake server and the documented signature vector."""

from __future__ import annotations

import pytest

from gps_core.errors import AuthenticationError
from gps_core.model import Side
from gps_venue_deribit.auth import client_signature
from gps_venue_deribit.backend import DeribitBackend


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_client_signature_matches_the_documented_example():
    # Deribit's worked example: secret "ABCD", ts 1554883365000, nonce "fdbmmz79", data "".
    assert client_signature("ABCD", 1554883365000, "fdbmmz79", "") == (
        "e20c9cd5639d41f8bbc88f4d699c4baf94a4f0ee320e9a116b72743c449eb994")


def test_login_uses_client_signature_with_a_session_scope(server, make_client):
    client = make_client()
    assert server.state.grants == {"client_signature": 1}
    assert "session:gps" in client._tokens.scope


def test_token_is_refreshed_before_it_expires(server, make_client, instrument, new_order):
    server.state.token_lifetime = 10
    clock = Clock()
    inst = instrument()  # (the fixture's own client logs in too)
    client = make_client(auth="token", clock=clock)
    logins = server.state.grants["client_signature"]
    order = new_order(inst, Side.SELL, "0.1", "0.5")
    client.orders.place(order)
    clock.now += 7.9  # under 80% of the lifetime: same token
    client.orders.status(order)
    assert server.state.grants["refresh_token"] == 0
    clock.now += 0.2  # past 80%: refreshed before the next private call
    assert client.orders.status(order).client_order_id == order.client_order_id
    assert server.state.grants["refresh_token"] == 1 and server.state.grants["client_signature"] == logins


def test_failed_refresh_falls_back_to_a_fresh_login(server, make_client, instrument, new_order):
    server.state.token_lifetime = 10
    clock = Clock()
    inst = instrument()
    client = make_client(auth="token", clock=clock)
    logins = server.state.grants["client_signature"]
    order = new_order(inst, Side.SELL, "0.1", "0.5")
    client.orders.place(order)
    server.state.revoke_refresh_tokens()
    clock.now += 9
    client.orders.status(order)
    assert server.state.grants["refresh_token"] == 1 and server.state.grants["client_signature"] == logins + 1


def test_expired_token_on_a_safe_call_logs_in_once_and_retries(server, token_client, instrument, new_order):
    client = token_client
    order = new_order(instrument(), Side.SELL, "0.1", "0.5")
    client.orders.place(order)
    logins = server.state.grants["client_signature"]
    server.state.expire_tokens()
    assert client.orders.status(order).client_order_id == order.client_order_id
    assert server.state.grants["client_signature"] == logins + 1


def test_missing_credentials_name_both_variables(server, credentials):
    client = DeribitBackend({"DERIBIT_BASE_URL": server.url})
    with pytest.raises(AuthenticationError) as caught:
        client.authenticate({})
    assert "DERIBIT_CLIENT_ID" in str(caught.value) and "DERIBIT_CLIENT_SECRET" in str(caught.value)
    with pytest.raises(AuthenticationError, match="DERIBIT_CLIENT_SECRET"):
        client.authenticate({"DERIBIT_CLIENT_ID": credentials()["DERIBIT_CLIENT_ID"]})
    assert server.state.calls["public/auth"] == 0


def test_wrong_secret_is_refused(server, credentials):
    client = DeribitBackend({"DERIBIT_BASE_URL": server.url})
    with pytest.raises(AuthenticationError) as caught:
        client.authenticate(credentials(secret="not-the-secret"))
    assert caught.value.code == 13004


def test_private_calls_need_authentication_first(server, instrument, new_order):
    client = DeribitBackend({"DERIBIT_BASE_URL": server.url})
    with pytest.raises(AuthenticationError):
        client.orders.status(new_order(instrument()))


def test_settings_from_environment():
    from gps_venue_deribit.config import PRODUCTION_URL, TESTNET_URL, Settings

    assert Settings.from_environ({}).base_url == PRODUCTION_URL
    assert Settings.from_environ({"DERIBIT_TESTNET": "1"}).base_url == TESTNET_URL
    assert Settings.from_environ({"DERIBIT_TESTNET": "1"}).testnet
    override = Settings.from_environ({"DERIBIT_TESTNET": "1", "DERIBIT_BASE_URL": "http://127.0.0.1:9/api/v2/"})
    assert override.base_url == "http://127.0.0.1:9"
    assert Settings.from_environ({"DERIBIT_HTTP_FORM": "GET"}).http_form == "get"
