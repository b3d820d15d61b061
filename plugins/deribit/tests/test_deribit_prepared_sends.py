"""Prepared orders (``gps_prepare_place``): signed ahead, written back-to-back, replies read after.

Drills for the fire phase against the fake Deribit, checked at the fake's book of record
(``received``: requests that reached it per label; ``order_count``: orders it holds):

* every prepared order is placed once;
* a reply lost after the write is settled by looking the order up by its label, never by
  sending it again;
* a connection broken before anything was written (provably nothing left): looked up, then
  sent again on today's path, and placed once;
* a connection the venue reset after the write: unknown, looked up, never re-sent;
* a stale keep-alive connection (the venue closed it): not used when seen before the
  prepare; closed after the prepare, the fire's outcome is unknown and nothing is written
  on a new connection;
* a plugin wrapping ``gps_place`` (a risk guard) turns the prepare path off.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest

import gps_core.engine as engine_module
from gps_core.engine import Engine, ExecutionOptions
from gps_core.errors import NetworkError, OrderRejected, OutcomeUnknown
from gps_core.hookspecs import hookimpl
from gps_core.journal import Journal, read_events
from gps_core.model import Side, VenueOrderStatus
from gps_core.orders import OrderState, TrackedOrder
from gps_core.plugins import PluginHost
from gps_venue_deribit import DeribitVenue
from gps_venue_deribit.raw import RawConnections, RawSend


@pytest.fixture
def fired(monkeypatch):
    """How many orders each engine fire phase prepared (the real prepare, counted)."""
    counts: list[int] = []
    real = engine_module.prepare_all

    def counting(items):
        prepared = real(items)
        counts.append(len(prepared))
        return prepared

    monkeypatch.setattr(engine_module, "prepare_all", counting)
    return counts


def _engine(client, tmp_path, name: str, *extra_plugins):
    host = PluginHost(environ={})
    host.register(DeribitVenue(client), "deribit")
    for number, plugin in enumerate(extra_plugins):
        host.register(plugin, f"extra-{number}", venue=False)
    journal = Journal(tmp_path, name)
    engine = Engine({"deribit": host.venue("deribit")}, journal, ExecutionOptions(unknown_grace=0.3),
                    sleep=lambda seconds: None)
    return engine, journal


def _events(tmp_path, journal, kind: str) -> list[dict]:
    return [e for e in read_events(journal.path) if e.get("event") == kind]


def test_prepared_orders_are_each_placed_once(server, client, instrument, new_order, fired, tmp_path):
    assert client.transport.warm() >= 3
    engine, journal = _engine(client, tmp_path, "three")
    orders = [TrackedOrder(request=new_order(instrument(strike), Side.SELL, "0.1", "0.5"), leg_index=n)
              for n, strike in enumerate((100000, 105000, 110000))]
    engine._submit_all(orders)
    journal.close()
    assert fired == [3]
    for order in orders:
        assert order.state is OrderState.ACCEPTED, order.state
        assert server.state.received[order.client_order_id] == 1
        assert server.state.order_count(order.client_order_id) == 1


def test_a_reply_lost_after_the_write_is_looked_up_never_resent(server, client, instrument, new_order, fired, tmp_path):
    assert client.transport.warm() >= 1
    server.state.faults.inject("drop_after", method="private/sell")
    engine, journal = _engine(client, tmp_path, "lost-reply")
    order = TrackedOrder(request=new_order(instrument(), Side.SELL, "0.1", "0.5"), leg_index=0)
    engine._submit_all([order])
    journal.close()
    assert fired == [1]
    assert server.state.received[order.client_order_id] == 1
    assert server.state.order_count(order.client_order_id) == 1
    assert order.state is OrderState.ACCEPTED  # found by its label
    assert _events(tmp_path, journal, "order_unknown")


def _break_after_prepare(monkeypatch, how):
    """Run ``how(prepared_send)`` on every prepared send between the prepare and the fire."""
    real = engine_module.prepare_all

    def breaking(items):
        prepared = real(items)
        for send in prepared.values():
            how(send._send)
        return prepared

    monkeypatch.setattr(engine_module, "prepare_all", breaking)


def test_a_connection_broken_before_the_write_is_looked_up_then_placed_once(server, client, instrument, new_order,
                                                                           monkeypatch, tmp_path):
    assert client.transport.warm() >= 1
    _break_after_prepare(monkeypatch, lambda raw: raw._sock.close())  # nothing can be written on it
    engine, journal = _engine(client, tmp_path, "broken-before")
    order = TrackedOrder(request=new_order(instrument(), Side.SELL, "0.1", "0.5"), leg_index=0)
    engine._submit_all([order])
    journal.close()
    assert _events(tmp_path, journal, "order_not_placed")  # provably not sent ...
    assert _events(tmp_path, journal, "order_retry")       # ... looked up, not found, sent again
    assert server.state.received[order.client_order_id] == 1
    assert server.state.order_count(order.client_order_id) == 1
    assert order.state is OrderState.ACCEPTED


def test_a_connection_reset_by_the_venue_after_the_write_is_unknown_and_never_resent(server, client, instrument,
                                                                                   new_order, fired, tmp_path):
    assert client.transport.warm() >= 1
    server.state.faults.inject("drop_before", method="private/sell")  # read, then closed unprocessed
    engine, journal = _engine(client, tmp_path, "reset-after")
    order = TrackedOrder(request=new_order(instrument(), Side.SELL, "0.1", "0.5"), leg_index=0)
    engine._submit_all([order])
    journal.close()
    assert fired == [1]
    assert server.state.received[order.client_order_id] == 1  # written once, never again
    assert server.state.order_count(order.client_order_id) == 0
    assert _events(tmp_path, journal, "order_unknown")
    assert not _events(tmp_path, journal, "order_retry")
    assert order.state is not OrderState.ACCEPTED


class _ClosingServer:
    """A local TCP server that accepts connections, reads nothing and closes them on request."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self.received = bytearray()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def wait_accepted(self, count: int) -> None:
        deadline = time.monotonic() + 5
        while len(self.accepted) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(self.accepted) >= count

    def close_all(self) -> None:
        for conn in self.accepted:
            conn.close()

    def stop(self) -> None:
        self.close_all()
        self.listener.close()


@pytest.fixture
def closing_server():
    running = _ClosingServer()
    yield running
    running.stop()


def _wait_readable(sock: socket.socket) -> None:
    import select

    readable, _, _ = select.select([sock], [], [], 5)
    assert readable


def test_a_keepalive_connection_the_venue_closed_is_not_used(closing_server):
    pool = RawConnections(f"http://127.0.0.1:{closing_server.port}", 2, 2)
    assert pool.warm(1) == 1
    closing_server.wait_accepted(1)
    closing_server.close_all()
    with pool._lock:
        idle = list(pool._idle)
    _wait_readable(idle[0])
    assert pool.take() is None  # seen closed: nothing is prepared on it, gps_place is used instead


def test_a_keepalive_connection_closed_after_the_prepare_is_unknown_and_not_resent(closing_server):
    pool = RawConnections(f"http://127.0.0.1:{closing_server.port}", 2, 2)
    assert pool.warm(1) == 1
    closing_server.wait_accepted(1)
    sock = pool.take()
    assert sock is not None
    send = RawSend(pool, sock, b"POST /api/v2/private/buy HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}",
                   "POST", "private/buy", finish=lambda reply: reply)
    closing_server.close_all()  # the venue closes the idle connection between prepare and fire
    _wait_readable(sock)
    try:
        send.fire()
    except NetworkError:
        pytest.fail("a write on an open connection may have left: it is never 'not sent'")
    except OutcomeUnknown:
        pass
    else:
        with pytest.raises(OutcomeUnknown):
            send.reply()
    time.sleep(0.05)
    assert len(closing_server.accepted) == 1  # nothing was written on a new connection
    assert pool.idle_count() == 0
    with pytest.raises(RuntimeError):
        send.fire()  # a prepared send is fired once


def test_a_write_on_a_closed_socket_is_provably_not_sent():
    pool = RawConnections("http://127.0.0.1:9", 1, 1)
    sock = socket.socket()
    sock.close()
    send = RawSend(pool, sock, b"GET / HTTP/1.1\r\n\r\n", "GET", "public/test", finish=lambda reply: reply)
    with pytest.raises(NetworkError, match="nothing was sent"):
        send.fire()


class _RiskGuard:
    """A plugin wrapping gps_place for every venue: it must see every order."""

    def __init__(self):
        self.seen: list[str] = []

    @hookimpl(wrapper=True)
    def gps_place(self, order):
        self.seen.append(order.client_order_id)
        if order.quantity > 1:
            raise OrderRejected("over the guard's limit")
        return (yield)


def test_a_plugin_wrapping_gps_place_turns_the_prepare_path_off(server, client, instrument, new_order, fired,
                                                               tmp_path):
    assert client.transport.warm() >= 1
    guard = _RiskGuard()
    engine, journal = _engine(client, tmp_path, "guarded", guard)
    orders = [TrackedOrder(request=new_order(instrument(), Side.SELL, quantity, "0.5"), leg_index=n)
              for n, quantity in enumerate(("0.1", "2"))]
    engine._submit_all(orders)
    journal.close()
    assert fired == [0]  # nothing prepared: every order went through gps_place and the guard
    assert sorted(guard.seen) == sorted(o.client_order_id for o in orders)
    assert orders[1].state is OrderState.REJECTED
    assert server.state.received[orders[1].client_order_id] == 0
    assert server.state.order_count(orders[0].client_order_id) == 1


def test_a_prepared_order_replies_as_gps_place_does(server, client, instrument, new_order):
    assert client.transport.warm() >= 1
    order = new_order(instrument(), Side.SELL, "0.1", "0.5")
    prepared = client.orders.prepare_place(order)
    assert prepared is not None and "sig=" not in repr(prepared)
    prepared.fire()
    snapshot = prepared.reply()
    assert snapshot.client_order_id == order.client_order_id and snapshot.status is VenueOrderStatus.OPEN
    assert server.state.order_count(order.client_order_id) == 1
