"""gps venue plugin for Aevo options (entry point ``aevo`` in the ``gps.venues`` group).

This module stays light: it imports only gps's model and hook markers. ``requests``,
``eth_account`` and the client code load on the first hook call that needs them, so
``gps --help`` and ``gps venues`` stay fast.
"""

from __future__ import annotations

import threading

from gps_core.api import hookimpl
from gps_core.api import Capability, ClientIdKind, VenueInfo

from .config import CREDENTIAL_ENV, VENUE

__version__ = "0.1.0"

VENUE_INFO = VenueInfo(
    name=VENUE,
    title="Aevo",
    underlyings=("BTC", "ETH"),
    price_currencies=("USD",),
    client_id_kind=ClientIdKind.DERIVED,
    # The client order id is hashed into the order's salt, so any length works; the core's ids are short.
    client_id_max_length=128,
    capabilities=frozenset({Capability.GTC, Capability.IOC, Capability.POST_ONLY, Capability.REDUCE_ONLY}),
    credential_env=CREDENTIAL_ENV,
    hookspec_version=1,  # the gps hook API this plugin is built against
)


class AevoVenue:
    """The Aevo venue. The core instantiates it once per process; every hook is thread-safe."""

    def __init__(self, backend=None):
        self._backend_instance = backend
        self._lock = threading.Lock()
        self._signing_import: threading.Thread | None = None

    def __repr__(self) -> str:
        return "AevoVenue()"

    def _backend(self):
        with self._lock:
            if self._backend_instance is None:
                from .backend import AevoBackend

                self._backend_instance = AevoBackend()
            return self._backend_instance

    def _signing_ready(self) -> None:
        """Import the signing code (eth-account, ~0.6-1.3 s) on a thread of its own and wait for it.

        Only authentication asks for it: a quote never signs, so `gps quote` never pays (or
        competes with) the import. `gps execute` authenticates alongside its quotes, so the import
        overlaps them and the first Aevo order never waits for it after the plan is made.
        """
        with self._lock:
            if self._signing_import is None:
                self._signing_import = threading.Thread(target=_import_signing, name="aevo-signing-import",
                                                        daemon=True)
                self._signing_import.start()
        self._signing_import.join()

    @hookimpl
    def gps_venue_info(self):
        return VENUE_INFO

    @hookimpl
    def gps_authenticate(self, credentials):
        self._signing_ready()  # authentication comes before any order: finish the import here
        return self._backend().authenticate(credentials)

    @hookimpl
    def gps_find_instrument(self, key):
        if key.underlying not in VENUE_INFO.underlyings:
            return None
        return self._backend().find(key)

    @hookimpl
    def gps_list_instruments(self, underlying):
        if underlying.upper() not in VENUE_INFO.underlyings:
            return []
        return self._backend().live_instruments(underlying)

    @hookimpl
    def gps_order_book(self, instrument, depth):
        return self._backend().order_book(instrument, depth)

    @hookimpl
    def gps_place(self, order):
        return self._backend().place(order)

    @hookimpl
    def gps_order_status(self, order):
        return self._backend().status(order)

    @hookimpl
    def gps_cancel(self, order):
        return self._backend().cancel(order)

    @hookimpl(optionalhook=True)
    def gps_positions(self, underlying):
        """Open option positions from ``GET /positions`` (see :mod:`gps_venue_aevo.positions`)."""
        return self._backend().positions(underlying)


def _import_signing() -> None:
    import eth_account  # noqa: F401 - loaded for its side effect: a warm import

    from . import signing  # noqa: F401
