"""Canary secrets must never show up in logs, reprs, exceptions or return values."""

from __future__ import annotations

import logging
import socket

import pytest

from gps_core.errors import VenueError
from gps_core.instruments import OptionKey
from gps_core.model import Side
from gps_core.secrets import Secret
from gps_venue_deribit import DeribitVenue
from gps_venue_deribit.backend import DeribitBackend
from gps_venue_deribit.testing.fake_exchange import FakeExchange
from gps_venue_deribit.testing.fake_server import FakeDeribit

CANARY_ID = "canary-client-id-7f3a"
CANARY_SECRET = "CANARY-SECRET-d41d8cd98f00b204"


@pytest.mark.parametrize("auth", ["signature", "token"])
def test_secrets_and_tokens_never_leak(caplog, new_order, auth, tmp_path):
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    with FakeDeribit(FakeExchange(client_id=CANARY_ID, client_secret=CANARY_SECRET)) as server:
        client = DeribitBackend({"DERIBIT_BASE_URL": server.url, "DERIBIT_AUTH": auth, "GPS_HOME": str(tmp_path)})
        venue = DeribitVenue(client)
        result = venue.gps_authenticate(credentials={"DERIBIT_CLIENT_ID": Secret(CANARY_ID),
                                                     "DERIBIT_CLIENT_SECRET": Secret(CANARY_SECRET)})
        seen += [repr(result), str(result), repr(venue), repr(client), repr(client._tokens), repr(client.transport)]
        tokens = list(server.state._tokens) + list(server.state._refresh)
        assert tokens
        inst = venue.gps_find_instrument(key=OptionKey.parse(server.state.instrument_names("BTC")[0]))
        order = new_order(inst, Side.SELL, "0.1", "0.5")
        seen.append(repr(venue.gps_place(order=order)))
        seen.append(repr(venue.gps_order_status(order=order)))
        errors: list[BaseException] = []
        if auth == "signature":
            seen.append(repr(client.orders._signer))
            assert CANARY_SECRET not in client.orders._signer.header("GET", "/api/v2/private/x", "")
            server.state.client_secret = CANARY_SECRET + "-rotated"  # every signature is refused now
            with pytest.raises(VenueError) as caught:
                venue.gps_place(order=new_order(inst, Side.SELL, "0.1", "0.5"))
            errors.append(caught.value)
            server.state.client_secret = CANARY_SECRET
        faults = ("expire_token",) if auth == "token" else ()
        for fault in faults + ("drop_after", "http5xx", "garbage", "http429"):
            server.state.faults.inject(fault, method="private/sell")
            with pytest.raises(VenueError) as caught:
                venue.gps_place(order=new_order(inst, Side.SELL, "0.1", "0.5"))
            errors.append(caught.value)
        with pytest.raises(VenueError) as caught:  # wrong secret: refused login
            DeribitBackend({"DERIBIT_BASE_URL": server.url}).authenticate(
                {"DERIBIT_CLIENT_ID": Secret(CANARY_ID), "DERIBIT_CLIENT_SECRET": Secret(CANARY_SECRET + "x")})
        errors.append(caught.value)
        tokens += list(server.state._tokens) + list(server.state._refresh)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(VenueError) as caught:
        DeribitBackend({"DERIBIT_BASE_URL": f"http://127.0.0.1:{port}"}).authenticate(
            {"DERIBIT_CLIENT_ID": Secret(CANARY_ID), "DERIBIT_CLIENT_SECRET": Secret(CANARY_SECRET)})
    errors.append(caught.value)
    for exc in errors:
        seen += [str(exc), repr(exc), exc.message]
        seen += [str(e) for e in (exc.__cause__, exc.__context__) if e is not None]
    seen += [record.getMessage() for record in caplog.records]
    seen += [path.read_text() for path in tmp_path.rglob("*") if path.is_file()]  # the instrument cache
    assert any(tmp_path.rglob("deribit-instruments-*.json"))
    seen.append(caplog.text)
    text = "\n".join(seen)
    assert CANARY_SECRET not in text
    for token in tokens:
        assert token not in text
    # no header value: neither a bearer token nor a signature (login param or per-request header)
    assert "Bearer" not in text and '"signature"' not in text and "sig=" not in text
