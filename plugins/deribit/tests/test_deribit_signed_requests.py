"""Per-request signatures (``deri-hmac-sha256``): what the fake Deribit accepts and refuses.

Every check is at the fake's book of record (``order_count``) or its signature counters: a
refused signature must mean that nothing was placed.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import pytest

from gps_core.errors import AuthenticationError, VenueUnavailable
from gps_core.model import Side, VenueOrderStatus
from gps_core.secrets import Secret
from gps_venue_deribit.auth import RequestSigner, request_signature
from gps_venue_deribit.orders import order_params

EXAMPLES = Path(__file__).parent / "data" / "signature_vector.json"


def test_the_documented_vector():
    """The HTTP signature vector in the venue notes (computed with ccxt's deribit.sign(), secret ``ABCD``)."""
    vector = json.loads(EXAMPLES.read_text())
    uri = vector["uri"]
    assert request_signature("ABCD", 1554883365000, "1554883365000", "GET", uri, "") == vector["sig"]
    signer = RequestSigner(Secret("AAAAAAAAAAA"), Secret("ABCD"), wall_ms=lambda: 1554883365000,
                           nonce=lambda: "1554883365000")
    assert signer.header("GET", uri, "") == vector["authorization"]


@pytest.mark.parametrize("form", ["post", "get"])
def test_signed_orders_are_accepted_without_any_token(server, make_client, instrument, new_order, form):
    client = make_client(form)
    order = new_order(instrument(), Side.SELL, "0.1", "0.5")
    before = server.state.signatures["accepted"]
    assert client.orders.place(order).status is VenueOrderStatus.OPEN
    assert client.orders.status(order).client_order_id == order.client_order_id
    assert server.state.signatures["accepted"] == before + 2 and server.state.signatures["refused"] == 0
    assert server.state.order_count(order.client_order_id) == 1


def test_a_signature_made_with_another_secret_places_nothing(server, make_client, instrument, new_order):
    client = make_client()
    order = new_order(instrument(), Side.SELL, "0.1", "0.5")
    server.state.client_secret = "rotated-at-the-venue"
    with pytest.raises(VenueUnavailable) as caught:
        client.orders.place(order)
    assert caught.value.code == 13009
    assert server.state.received[order.client_order_id] == 1 and server.state.order_count(order.client_order_id) == 0
    assert server.state.signatures["refused"] == 1


def _signed_sell(client, order, signer):
    params = order_params(order)
    return client.transport.prepare("private/sell", params, signer=signer)


def test_a_replayed_request_is_refused_and_places_nothing_more(server, make_client, instrument, new_order, credentials):
    client = make_client()
    order = new_order(instrument(), Side.SELL, "0.1", "0.5")
    creds = credentials()
    call = _signed_sell(client, order, RequestSigner(creds["DERIBIT_CLIENT_ID"], creds["DERIBIT_CLIENT_SECRET"]))
    client.transport.send(call)
    with pytest.raises(AuthenticationError) as caught:  # same nonce, same timestamp: a replay
        client.transport.send(call)
    assert caught.value.code == 13009
    assert server.state.order_count(order.client_order_id) == 1


def test_a_changed_body_or_a_stale_timestamp_is_refused(server, make_client, instrument, new_order, credentials):
    client = make_client()
    inst = instrument()
    creds = credentials()
    signer = RequestSigner(creds["DERIBIT_CLIENT_ID"], creds["DERIBIT_CLIENT_SECRET"])
    order = new_order(inst, Side.SELL, "0.1", "0.5")
    call = _signed_sell(client, order, signer)
    tampered = replace(call, body=call.body.replace(b'"amount":0.1', b'"amount":0.2'))
    assert tampered.body != call.body
    with pytest.raises(AuthenticationError):
        client.transport.send(tampered)
    late = RequestSigner(creds["DERIBIT_CLIENT_ID"], creds["DERIBIT_CLIENT_SECRET"],
                         wall_ms=lambda: int(time.time() * 1000) - 120_000)
    stale = new_order(inst, Side.SELL, "0.1", "0.5")
    with pytest.raises(AuthenticationError):
        client.transport.send(_signed_sell(client, stale, late))
    assert server.state.order_count(order.client_order_id) == 0 and server.state.order_count(stale.client_order_id) == 0
    assert server.state.signatures["refused"] == 2


def test_a_prepared_call_shows_no_header(make_client, instrument, new_order, credentials):
    client = make_client()
    creds = credentials()
    call = _signed_sell(client, new_order(instrument(), Side.SELL, "0.1", "0.5"),
                        RequestSigner(creds["DERIBIT_CLIENT_ID"], creds["DERIBIT_CLIENT_SECRET"]))
    assert call.headers["Authorization"].startswith("deri-hmac-sha256 id=")
    assert "sig=" not in repr(call) and "gps-fake-secret" not in call.headers["Authorization"]


def test_a_netrc_entry_for_the_host_never_replaces_the_signature(server, make_client, instrument, new_order,
                                                                 tmp_path, monkeypatch):
    """requests would put ~/.netrc credentials for the host into Authorization; the plugin's session
    reads no netrc, so the signed header is what arrives."""
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password something\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    client = make_client()
    order = new_order(instrument(), Side.SELL, "0.1", "0.5")
    assert client.orders.place(order).status is VenueOrderStatus.OPEN
    assert server.state.order_count(order.client_order_id) == 1 and server.state.signatures["refused"] == 0


def test_the_session_takes_the_proxy_for_its_url_from_the_environment_once(monkeypatch):
    from gps_core.http import new_session

    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    assert new_session(url="https://www.deribit.com").proxies.get("https") == "http://proxy.example:3128"
    local = new_session(url="http://127.0.0.1:8080")
    assert not local.trust_env and "http" not in local.proxies and "https" not in local.proxies
