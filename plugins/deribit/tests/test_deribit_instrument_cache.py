"""The on-disk instrument cache: warm runs skip the instrument round trip, and a cached row
never prices a quote or lets a wrong instrument or tick go unnoticed."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from decimal import Decimal

import pytest

from gps_core.errors import OrderRejected, VenueError
from gps_core.instruments import OptionKey
from gps_core.model import Side
from gps_venue_deribit import wire
from gps_venue_deribit.backend import DeribitBackend
from gps_venue_deribit.instrument_cache import InstrumentCache, cache_path

D = Decimal


@pytest.fixture
def home(tmp_path):
    return tmp_path / "home"


@pytest.fixture
def new_client(server, home, credentials):
    def make(login: bool = False) -> DeribitBackend:
        client = DeribitBackend({"DERIBIT_BASE_URL": server.url, "GPS_HOME": str(home)})
        if login:
            client.authenticate(credentials())
        return client

    return make


def _key(server, strike: int = 100000, letter: str = "C") -> OptionKey:
    names = sorted({n.split("-")[1] for n in server.state.instrument_names("BTC")},
                   key=lambda code: OptionKey.parse(f"BTC-{code}-1-C").expiry)
    return OptionKey.parse(f"BTC-{names[2]}-{strike}-{letter}")


def _file(home, server):
    return cache_path(home / "cache", server.url)


def _entries(home, server) -> dict:
    return wire.loads(_file(home, server).read_bytes())["instruments"]


def test_a_second_process_finds_the_instrument_without_asking(server, new_client, home):
    key = _key(server)
    first = new_client().market.find(key)
    assert server.state.calls["public/get_instrument"] == 1 and server.state.calls["public/get_instruments"] == 0
    assert first.symbol in _entries(home, server)
    again = new_client().market.find(key)  # a new client: what a new `gps` process does
    assert again == first
    assert server.state.calls["public/get_instrument"] == 1 and server.state.calls["public/get_instruments"] == 0


def test_an_entry_older_than_the_ttl_is_fetched_again(server, home):
    key = _key(server)
    wall = [1_000_000.0]
    path = _file(home, server)
    client = DeribitBackend({"DERIBIT_BASE_URL": server.url})
    client.market._disk = InstrumentCache(path, server.url, ttl=60, wall=lambda: wall[0])
    client.market.find(key)
    client.market._disk = InstrumentCache(path, server.url, ttl=60, wall=lambda: wall[0] + 59)
    client.market.find(key)
    assert server.state.calls["public/get_instrument"] == 1
    client.market._disk = InstrumentCache(path, server.url, ttl=60, wall=lambda: wall[0] + 61)
    client.market.find(key)
    assert server.state.calls["public/get_instrument"] == 2


def _poison(home, server, name: str, **changes) -> None:
    """Rewrite the cached row of ``name`` as an older listing might have said it."""
    path = _file(home, server)
    data = wire.loads(path.read_bytes())
    data["instruments"][name]["row"].update(changes)
    path.write_text(wire.dumps(data))


def test_a_stale_cached_tick_never_prices_a_quote(server, new_client, home):
    key = _key(server)
    real = new_client().market.find(key)
    _poison(home, server, real.symbol, tick_size=D("0.01"), tick_size_steps=[])
    market = new_client().market
    stale = market.find(key)
    assert stale.tick_size == D("0.01")  # the cache answered find...
    book = market.order_book(stale, 5)
    assert book.instrument == real  # ...but the book is priced on the row fetched with it
    assert _entries(home, server)[real.symbol]["row"]["tick_size"] == real.tick_size  # and the cache is mended


def test_an_inactive_or_expired_cached_row_is_not_used(server, new_client, home):
    key = _key(server)
    symbol = new_client().market.find(key).symbol
    _poison(home, server, symbol, is_active=False)
    assert new_client().market.find(key).is_active  # asked the venue again
    assert server.state.calls["public/get_instrument"] == 2
    _poison(home, server, symbol, expiration_timestamp=1_000_000_000_000)  # 2001: expired
    new_client().market.find(key)
    assert server.state.calls["public/get_instrument"] == 3


def test_a_book_of_an_instrument_the_venue_no_longer_trades_is_refused(server, new_client):
    key = _key(server)
    market = new_client().market
    inst = market.find(key)
    server.state.instruments[inst.symbol].row["is_active"] = False
    with pytest.raises(VenueError, match="not open for trading"):
        market.order_book(inst, 5)
    del server.state.instruments[inst.symbol]
    with pytest.raises(VenueError, match="no longer listed"):
        market.order_book(inst, 5)


def test_an_off_tick_refusal_forgets_the_cached_row(server, new_client, home, new_order):
    client = new_client(login=True)
    real = client.market.find(_key(server))
    believed = real.__class__(**{**real.__dict__, "tick_size": D("0.00001"), "tick_steps": ()})
    order = new_order(believed, Side.SELL, "0.1", "0.50001")
    with pytest.raises(OrderRejected) as caught:
        client.orders.place(order)
    assert caught.value.code == 10043 and server.state.order_count(order.client_order_id) == 0
    assert real.symbol not in _entries(home, server)


def test_an_unknown_name_falls_back_to_the_listing(server, new_client):
    key = _key(server, strike=123457)
    assert new_client().market.find(key) is None
    assert server.state.calls["public/get_instruments"] == 1


def test_a_torn_or_foreign_file_reads_as_empty(server, new_client, home):
    key = _key(server)
    path = _file(home, server)
    path.parent.mkdir(parents=True)
    path.write_text('{"version": 1, "base_url": "' + server.url + '", "instruments": {"BTC-')
    assert new_client().market.find(key) is not None
    assert key.name in _entries(home, server)  # rewritten whole
    data = json.loads(path.read_text())
    data["base_url"] = "https://www.deribit.com"  # another venue's rows are never used
    path.write_text(json.dumps(data))
    new_client().market.find(key)
    assert server.state.calls["public/get_instrument"] == 2
    assert cache_path(home, "https://www.deribit.com") != cache_path(home, "https://test.deribit.com")


WRITER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from gps_venue_deribit.instrument_cache import InstrumentCache
    cache = InstrumentCache(Path(sys.argv[1]), "http://fake")
    for n in range(40):
        cache.store(f"{sys.argv[2]}-{n}", {"instrument_name": f"{sys.argv[2]}-{n}", "kind": "option"})
""")


def test_two_processes_writing_at_once_keep_every_entry(tmp_path):
    path = tmp_path / "cache" / "deribit-instruments-x.json"
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), name]) for name in ("A", "B")]
    for writer in writers:
        assert writer.wait(timeout=60) == 0
    entries = InstrumentCache(path, "http://fake")._read()
    assert set(entries) == {f"{name}-{n}" for name in ("A", "B") for n in range(40)}
    assert not list(path.parent.glob("*.tmp"))
