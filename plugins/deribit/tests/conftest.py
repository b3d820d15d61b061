"""Fixtures for the Deribit plugin tests: a fake Deribit server and a client logged in to it."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest

from gps_core.instruments import OptionKey
from gps_core.model import OrderRequest, Side, TimeInForce
from gps_core.secrets import Secret
from gps_venue_deribit.backend import DeribitBackend
from gps_venue_deribit.testing.fake_exchange import FakeExchange
from gps_venue_deribit.testing.fake_server import FakeDeribit

CLIENT_ID = "gps-fake-client"
CLIENT_SECRET = "gps-fake-secret"
_labels = itertools.count(1)


@pytest.fixture
def server():
    with FakeDeribit(FakeExchange(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)) as running:
        yield running


def _credentials(client_id: str = CLIENT_ID, secret: str = CLIENT_SECRET) -> dict:
    return {"DERIBIT_CLIENT_ID": Secret(client_id), "DERIBIT_CLIENT_SECRET": Secret(secret)}


@pytest.fixture
def credentials():
    """``credentials(client_id, secret)`` -> the mapping gps_authenticate receives."""
    return _credentials


@pytest.fixture
def make_client(server):
    """Make a client for the fake server (``form``: post/get; ``auth``: signature/token; extra
    TokenManager options)."""
    made = []

    def make(form: str = "post", login: bool = True, auth: str = "signature", **token_options) -> DeribitBackend:
        client = DeribitBackend({"DERIBIT_BASE_URL": server.url, "DERIBIT_HTTP_FORM": form, "DERIBIT_AUTH": auth})
        if login:
            client.authenticate(_credentials(), **token_options)
        made.append(client)
        return client

    return make


@pytest.fixture
def client(make_client) -> DeribitBackend:
    return make_client()


@pytest.fixture
def token_client(make_client) -> DeribitBackend:
    """A client whose private calls carry a bearer token (``DERIBIT_AUTH=token``)."""
    return make_client(auth="token")


@pytest.fixture
def instrument(client, server):
    """Look up a listed BTC option of the fake chain by strike and type in its third expiry."""

    def find(strike: int = 100000, letter: str = "C", currency: str = "BTC"):
        names = sorted({n.split("-")[1] for n in server.state.instrument_names(currency)},
                       key=lambda code: OptionKey.parse(f"{currency}-{code}-1-C").expiry)
        key = OptionKey.parse(f"{currency}-{names[2]}-{strike}-{letter}")
        found = client.market.find(key)
        assert found is not None, key
        return found

    return find


def _new_order(instrument, side: Side = Side.BUY, quantity: str = "0.1", price: str = "0.0650", **extra) -> OrderRequest:
    return OrderRequest(
        client_order_id=f"gps-20261124T000000-test{next(_labels):04d}-L1-1",
        instrument=instrument,
        side=side,
        quantity=Decimal(quantity),
        limit_price=Decimal(price),
        time_in_force=extra.pop("time_in_force", TimeInForce.GTC),
        **extra,
    )


@pytest.fixture
def new_order():
    """``new_order(instrument, side, quantity, price, **fields)``: a fresh client order id each call."""
    return _new_order
