"""A minimal in-memory venue plugin for core tests: it records every hook call it receives."""

from __future__ import annotations

from decimal import Decimal as D

from gps_core.errors import OrderNotFound, OrderRejected
from gps_core.hookspecs import hookimpl
from gps_core.model import AuthResult, Capability, OrderSnapshot, VenueInfo, VenueOrderStatus

from builders import book, usd_instrument


class RecordingVenue:
    def __init__(self, name: str, ask: str = "100", **info):
        self.name, self.ask, self.calls, self.orders = name, D(ask), [], {}
        self.info = VenueInfo(name=name, underlyings=("BTC",), price_currencies=("USD",),
                              capabilities=frozenset({Capability.GTC}), **info)

    @hookimpl
    def gps_venue_info(self):
        return self.info

    @hookimpl
    def gps_authenticate(self, credentials):
        self.calls.append(("authenticate", sorted(credentials)))
        return AuthResult(self.name)

    @hookimpl
    def gps_find_instrument(self, key):
        self.calls.append(("find", key.name))
        return usd_instrument(self.name, key)

    @hookimpl
    def gps_list_instruments(self, underlying):
        return []

    @hookimpl
    def gps_order_book(self, instrument, depth):
        self.calls.append(("book", instrument.symbol))
        return book(instrument, bids=[(str(self.ask - 5), "10")], asks=[(str(self.ask), "10")])

    @hookimpl
    def gps_place(self, order):
        self.calls.append(("place", order.client_order_id))
        if order.venue != self.name:
            raise OrderRejected(f"{self.name} got an order routed to {order.venue}")
        snapshot = OrderSnapshot(order.client_order_id, f"{self.name}-{len(self.orders)}", VenueOrderStatus.FILLED,
                                 order.quantity, order.quantity, order.limit_price)
        self.orders[order.client_order_id] = snapshot
        return snapshot

    @hookimpl
    def gps_order_status(self, order):
        self.calls.append(("status", order.client_order_id))
        if order.client_order_id not in self.orders:
            raise OrderNotFound("no such order")
        return self.orders[order.client_order_id]

    @hookimpl
    def gps_cancel(self, order):
        self.calls.append(("cancel", order.client_order_id))
        raise OrderNotFound("no such order")


#: An instance, as an entry point may name one.
good_venue = RecordingVenue("good")
