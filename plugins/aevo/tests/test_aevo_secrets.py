"""Canary credentials never show up in logs, reprs, exception texts or return values."""

from __future__ import annotations

import logging

import pytest

from gps_core.errors import GpsError
from gps_core.secrets import Secret
from gps_venue_aevo import AevoVenue
from gps_venue_aevo.config import MAINNET_DOMAIN, Settings
from gps_venue_aevo.backend import AevoBackend

CANARY_API_KEY = "canary-api-key-7f3a9c"
CANARY_SECRET = "canary-api-secret-b81d22e4"
# A valid secp256k1 key whose hex is a recognisable canary.
CANARY_SIGNING_KEY = "0x" + "c0ffee" * 10 + "beef"


def test_canary_secrets_appear_nowhere(fake_aevo, caplog, new_order, sent):
    from eth_account import Account

    wallet = Account.create().address
    signer = Account.from_key(CANARY_SIGNING_KEY).address
    fake_aevo.add_account(api_key=CANARY_API_KEY, api_secret=CANARY_SECRET, wallet=wallet, signing_key_address=signer)
    credentials = {"AEVO_API_KEY": Secret(CANARY_API_KEY), "AEVO_API_SECRET": Secret(CANARY_SECRET),
                   "AEVO_SIGNING_KEY": Secret(CANARY_SIGNING_KEY), "AEVO_WALLET_ADDRESS": Secret(wallet)}
    service = AevoBackend(Settings(fake_aevo.url, False, MAINNET_DOMAIN))
    venue = AevoVenue(service)
    texts: list[str] = []
    caplog.set_level(logging.DEBUG)

    result = venue.gps_authenticate(credentials=credentials)
    texts += [repr(result), str(result), repr(venue), repr(service), repr(service.transport),
              repr(service._signer), repr(service.transport._api_key)]
    order = new_order()
    # new_order's fixture service is another instance; place through the canary one.
    order = order.with_updates(instrument=service.find(order.instrument.key))
    snap = venue.gps_place(order=order)
    texts += [repr(snap), repr(sent(order)), repr(sent(order).venue_data)]
    texts.append(repr(venue.gps_order_status(order=sent(order))))

    failures = []
    fake_aevo.inject("drop_after")
    fake_aevo.inject("server_error", status=502)
    fake_aevo.inject("rate_limit")
    for cid in ("gps-c-L2-1", "gps-c-L3-1", "gps-c-L4-1"):
        with pytest.raises(GpsError) as caught:
            venue.gps_place(order=order.with_updates(client_order_id=cid, venue_order_id=None, venue_data={}))
        failures.append(caught.value)
    fake_aevo.accounts[CANARY_API_KEY].signing_keys.clear()
    with pytest.raises(GpsError) as caught:
        venue.gps_place(order=order.with_updates(client_order_id="gps-c-L5-1", venue_order_id=None, venue_data={}))
    failures.append(caught.value)
    bad = AevoBackend(Settings(fake_aevo.url, False, MAINNET_DOMAIN))
    with pytest.raises(GpsError) as caught:
        bad.authenticate(dict(credentials, AEVO_API_SECRET=Secret(CANARY_SECRET + "x")))
    failures.append(caught.value)
    with pytest.raises(GpsError) as caught:
        bad.authenticate(dict(credentials, AEVO_SIGNING_KEY=Secret(CANARY_SIGNING_KEY[:-2])))
    failures.append(caught.value)
    for exc in failures:
        texts += [str(exc), repr(exc), repr(exc.args), str(exc.__cause__), str(exc.__context__)]

    texts.append(caplog.text)
    everything = "\n".join(texts)
    for canary in (CANARY_SECRET, CANARY_SIGNING_KEY, CANARY_SIGNING_KEY[2:], CANARY_SIGNING_KEY[2:-2]):
        assert canary not in everything
    # The API key is sent as a header but never logged or put in a message either.
    assert CANARY_API_KEY not in everything
