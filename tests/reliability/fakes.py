"""Test-side extensions of the Deribit and Aevo fake servers: faults aimed at one instrument.

The fakes arm faults per method or path, so with legs placed concurrently a fault would hit
whichever leg arrives first. These subclasses aim a fault at one instrument (the faulted leg)
and add a cancel that loses the race to a fill. The book of record stays the fakes' own.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from dataclasses import dataclass

from gps_core.testing.server import LocalServer
from gps_venue_aevo.testing.fake_server import FakeAevo, FakeAevoHandler, _error
from gps_venue_deribit.testing.fake_exchange import FakeExchange, Faults, RpcError
from gps_venue_deribit.testing.fake_server import DeribitHandler, FakeDeribit

#: The instrument of the request the current server thread is handling.
_current = threading.local()


def _serve_fast(server: LocalServer, name: str) -> LocalServer:
    # serve_forever's default 0.5 s poll would make every stop() wait up to half a second.
    server._thread = threading.Thread(target=server._server.serve_forever, kwargs={"poll_interval": 0.02},
                                      name=name, daemon=True)
    server._thread.start()
    return server


# --- Deribit ------------------------------------------------------------------------------


@dataclass
class AimedFault:
    """A fault for the next ``times`` order placements on one instrument (what the handler reads)."""

    kind: str
    times: int
    options: dict


PLACE_METHODS = ("private/buy", "private/sell")


class AimedFaults(Faults):
    """Deribit faults, plus faults that fire only for order placements on one instrument."""

    def __init__(self):
        super().__init__()
        self._aimed: list[tuple[str, AimedFault]] = []

    def aim(self, symbol: str, kind: str, times: int = 1, **options) -> None:
        if kind not in self.KINDS:
            raise ValueError(f"unknown fault {kind!r}")
        with self._lock:
            self._aimed.append((symbol, AimedFault(kind, times, options)))

    def take(self, method: str) -> list:
        fired = super().take(method)
        symbol = getattr(_current, "instrument", None)
        if method not in PLACE_METHODS:
            return fired
        with self._lock:
            for aimed_at, fault in list(self._aimed):
                if aimed_at == symbol and fault.kind not in {f.kind for f in fired}:
                    fired.append(fault)
                    fault.times -= 1
                    if fault.times <= 0:
                        self._aimed.remove((aimed_at, fault))
        return fired


class RacingExchange(FakeExchange):
    """A fake Deribit account where a cancel of an order on a ``racing`` instrument fills it first."""

    def __post_init__(self):
        super().__post_init__()
        self.racing: set[str] = set()

    def cancel(self, order_id) -> dict:
        with self.lock:
            order = self.orders.get(str(order_id))
            if order is not None and order["order_state"] == "open" and order["instrument_name"] in self.racing:
                self.racing.discard(order["instrument_name"])
                self.fill(order["order_id"])
                raise RpcError(11044, "not_open_order")
        return super().cancel(order_id)


class _AimedDeribitHandler(DeribitHandler):
    def _handle(self, method, params, request_id, *, get):
        _current.instrument = params.get("instrument_name")
        try:
            super()._handle(method, params, request_id, get=get)
        finally:
            _current.instrument = None


class AimedDeribit(FakeDeribit):
    """The fake Deribit server with :class:`AimedFaults` and :class:`RacingExchange`."""

    def __init__(self, exchange: RacingExchange):
        exchange.faults = AimedFaults()
        LocalServer.__init__(self, _AimedDeribitHandler, state=exchange)

    def start(self) -> "AimedDeribit":
        return _serve_fast(self, "fake-deribit")


# --- Aevo ---------------------------------------------------------------------------------


class AimedAevo(FakeAevo):
    """A fake Aevo whose faults can be aimed at one instrument, with a cancel that can lose a race."""

    def _fresh(self, testnet, now) -> None:
        super()._fresh(testnet, now)
        self.aimed: dict[int, list] = defaultdict(list)  # instrument id -> faults
        self.racing: set[int] = set()

    def aim(self, symbol: str, kind: str, *, method: str = "POST", path: str = "/orders", times: int = 1, **params):
        """Like :meth:`inject`, for requests whose order is on ``symbol`` only."""
        fault = self.inject(kind, method=method, path=path, times=times, **params)
        with self.lock:
            self.faults.remove(fault)
            self.aimed[self.market(symbol).instrument_id].append(fault)
        return fault

    def _take_fault(self, method: str, path: str):
        instrument = getattr(_current, "instrument", None)
        with self.lock:
            for fault in self.aimed.get(instrument, []):
                if fault.matches(method, path):
                    fault.times -= 1
                    return fault
        return super()._take_fault(method, path)

    def delete_order(self, account, order_id: str) -> dict:
        with self.lock:
            order = self.orders.get(order_id.lower())
            if order is not None and order["order_status"] in ("opened", "partial") \
                    and int(order["instrument_id"]) in self.racing:
                self.racing.discard(int(order["instrument_id"]))
                self.fill(order["order_id"])
                raise _error("ORDER_EXISTS_MATCHED")
        return super().delete_order(account, order_id)


class _AimedAevoHandler(FakeAevoHandler):
    def read_body(self) -> bytes:
        body = super().read_body()
        _current.instrument = None
        try:
            data = json.loads(body) if body else None
            if isinstance(data, dict) and "instrument" in data:
                _current.instrument = int(data["instrument"])
        except (ValueError, TypeError):
            pass
        return body


def serve_aevo(fake: AimedAevo) -> LocalServer:
    """Start ``fake`` on 127.0.0.1 (a free port); stop it with ``.stop()``."""
    return _serve_fast(LocalServer(_AimedAevoHandler, state=fake), "fake-aevo")


# --- hostile replies ----------------------------------------------------------------------

#: How a hostile venue mangles its order objects: mode -> {field kind: bad value}.
HOSTILE_MODES = ("missing_fields", "wrong_types", "nan", "negative_fill", "overfill", "unknown_status")


def _mangle(order: dict, mode: str, *, filled: str, amount: str, status: str) -> dict:
    order = dict(order)
    if mode == "missing_fields":
        order.pop(filled, None)
        order.pop(status, None)
    elif mode == "wrong_types":
        order[filled] = ["lots"]
        order[amount] = {"n": 1}
    elif mode == "nan":
        order[filled] = "NaN"
    elif mode == "negative_fill":
        order[filled] = "-0.1"
    elif mode == "overfill":
        order[filled] = "1000"
    elif mode == "unknown_status":
        order[status] = "zombie"
    return order


class HostileExchange(RacingExchange):
    """A fake Deribit whose order replies for ``hostile`` instruments are mangled by ``mode``."""

    def __post_init__(self):
        super().__post_init__()
        self.hostile: dict[str, str] = {}  # instrument -> mode

    def _mangled(self, order: dict) -> dict:
        mode = self.hostile.get(order.get("instrument_name"))
        if mode is None:
            return order
        return _mangle(order, mode, filled="filled_amount", amount="amount", status="order_state")

    def place(self, *args, **kwargs):
        result = super().place(*args, **kwargs)
        return {**result, "order": self._mangled(result["order"])}

    def order_state(self, order_id):
        return self._mangled(super().order_state(order_id))

    def by_label(self, currency, label):
        return [self._mangled(o) for o in super().by_label(currency, label)]

    def cancel(self, order_id):
        return self._mangled(super().cancel(order_id))


class HostileAevo(AimedAevo):
    """A fake Aevo whose order replies for ``hostile`` instruments are mangled by ``mode``."""

    def _fresh(self, testnet, now) -> None:
        super()._fresh(testnet, now)
        self.hostile: dict[str, str] = {}

    def _public(self, order: dict) -> dict:
        public = FakeAevo._public(order)
        mode = self.hostile.get(order.get("instrument_name"))
        if mode is None:
            return public
        return _mangle(public, mode, filled="filled", amount="amount", status="order_status")
