"""Fixtures for the Aevo plugin tests: a fake Aevo on 127.0.0.1 and a service pointed at it."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from gps_core.instruments import OptionKey
from gps_core.model import OrderRequest, Side
from gps_core.secrets import Secret
from gps_venue_aevo.config import MAINNET_DOMAIN, Settings
from gps_venue_aevo.testing.fake_server import FakeAevo, serve
from gps_venue_aevo.backend import AevoBackend

HERE = Path(__file__).parent


@pytest.fixture(scope="session")
def aevo_vectors() -> dict:
    """Aevo's backend signing/HMAC vectors, vendored next to the tests."""
    return json.loads((HERE / "data" / "aevo-backend-vectors.json").read_text())


@pytest.fixture(scope="session")
def _aevo_server():
    # One server for the session (stopping one waits out its 0.5 s poll); each test resets its state.
    server = serve(FakeAevo())
    yield server
    server.stop()


@pytest.fixture
def fake_aevo(_aevo_server) -> FakeAevo:
    """A fake Aevo with fresh state, listening at ``fake_aevo.url``."""
    fake = _aevo_server.state.reset()
    fake.url = _aevo_server.url
    return fake


@pytest.fixture
def aevo_env(fake_aevo) -> dict[str, str]:
    """Throwaway credentials registered with the fake."""
    return fake_aevo.create_account()


@pytest.fixture
def aevo_backend(fake_aevo, aevo_env) -> AevoBackend:
    """An authenticated service talking to the fake."""
    service = AevoBackend(Settings(fake_aevo.url, False, MAINNET_DOMAIN))
    service.authenticate({k: Secret(v) for k, v in aevo_env.items()})
    return service


@pytest.fixture
def new_order(aevo_backend, fake_aevo, recorded):
    """Make an order on a fake instrument (priced to take the best level unless ``price`` is given).

    Its ``before_send`` keeps what the plugin records before sending it in ``recorded``, as the
    engine keeps it (an ``OrderRequest`` never changes: the recorded order is a new one).
    """

    def make(**kwargs) -> OrderRequest:
        return make_order(aevo_backend, fake_aevo, **kwargs).with_updates(before_send=record_into(recorded))

    return make


def record_into(recorded: dict):
    """A ``before_send`` that keeps each recorded order in ``recorded`` by client order id."""
    return lambda order: recorded.__setitem__(order.client_order_id, order)


@pytest.fixture
def recorded() -> dict:
    """Orders as the plugin recorded them before sending (``record_before_send``), by client order id."""
    return {}


@pytest.fixture
def sent(recorded):
    """``sent(order)``: ``order`` as the plugin recorded it before sending it (``order`` if nothing was)."""
    return lambda order: recorded.get(order.client_order_id, order)


def make_order(service: AevoBackend, fake: FakeAevo, *, name: str | None = None, side: Side = Side.BUY,
               quantity: str = "0.1", price: str | None = None, cid: str = "gps-test-L1-1", **kwargs) -> OrderRequest:
    name = name or fake.option_names("BTC", call=True)[4]
    instrument = service.find(OptionKey.parse(name))
    assert instrument is not None
    if price is None:
        market = fake.market(name)
        price_dec = market.asks[0][0] if side is Side.BUY else market.bids[0][0]
    else:
        price_dec = Decimal(price)
    return OrderRequest(cid, instrument, side, Decimal(quantity), price_dec, **kwargs)
