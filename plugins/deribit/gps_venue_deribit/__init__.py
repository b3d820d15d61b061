"""gps venue plugin for Deribit options (API v2, JSON-RPC over HTTPS): BTC and ETH inverse options
and the linear USDC-settled options (``BTC_USDC-...``, ``SOL_USDC-...``, ``XRP_USDC-...``).

How an option is addressed (:mod:`gps_venue_deribit.listing`): ``BTC-25DEC26-95000-C`` is the
inverse contract; ``BTC_USDC-25DEC26-95000-C`` the linear one; a plain name on a coin Deribit
lists only as linear (``SOL-25DEC26-140-C``) finds ``SOL_USDC-25DEC26-140-C``.

This module is what the ``gps.venues`` entry point loads, so it stays light: ``requests``
and the backend modules are imported on the first hook that needs the network.
Configuration comes from the environment when that backend is made: ``DERIBIT_BASE_URL``
(wins), ``DERIBIT_TESTNET=1``, ``DERIBIT_HTTP_FORM=post|get``; credentials come only
through ``gps_authenticate``.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Mapping

from gps_core.api import hookimpl
from gps_core.api import Capability, ClientIdKind, VenueInfo

from .config import CLIENT_ID_ENV, CLIENT_SECRET_ENV, VENUE

if TYPE_CHECKING:
    from .backend import DeribitBackend

__version__ = "0.1.0"
__all__ = ["DeribitVenue", "VENUE_INFO"]

VENUE_INFO = VenueInfo(
    name=VENUE,
    title="Deribit",
    # BTC and ETH: inverse and linear; the others linear only (Deribit's support and education
    # pages name SOL, XRP, AVAX and TRX; the live USDC listing decides what is found).
    underlyings=("BTC", "ETH", "SOL", "XRP", "AVAX", "TRX"),
    price_currencies=("BTC", "ETH", "USDC"),
    client_id_kind=ClientIdKind.LABEL,
    client_id_max_length=64,
    capabilities=frozenset({
        Capability.GTC,
        Capability.IOC,
        Capability.POST_ONLY,
        Capability.REDUCE_ONLY,
        Capability.LOOKUP_BY_CLIENT_ID,
        Capability.VALID_UNTIL,
        Capability.CANCEL_BY_CLIENT_ID,
    }),
    credential_env=(CLIENT_ID_ENV, CLIENT_SECRET_ENV),
    hookspec_version=1,  # the gps hook API this plugin is built against
)


class DeribitVenue:
    """The Deribit hook implementations; one instance per gps process (thread-safe)."""

    def __init__(self, backend: "DeribitBackend | None" = None):
        self._backend = backend
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"DeribitVenue(backend={self._backend!r})"

    @property
    def backend(self) -> "DeribitBackend":
        """What the hooks do (:mod:`gps_venue_deribit.backend`), made on first use from the environment then."""
        with self._lock:
            if self._backend is None:
                from .backend import DeribitBackend

                self._backend = DeribitBackend()
            return self._backend

    @hookimpl
    def gps_venue_info(self) -> VenueInfo:
        return VENUE_INFO

    @hookimpl
    def gps_authenticate(self, credentials: Mapping):
        return self.backend.authenticate(credentials)

    @hookimpl
    def gps_find_instrument(self, key):
        """Deribit's contract for ``key``: ``BTC-...`` the inverse one, ``BTC_USDC-...`` the linear one,
        a plain ``SOL-...`` the linear ``SOL_USDC-...`` (see :func:`gps_venue_deribit.listing.deribit_key`)."""
        if key.underlying not in VENUE_INFO.underlyings:
            return None
        return self.backend.market.find(key)

    @hookimpl
    def gps_list_instruments(self, underlying: str):
        """``BTC``/``ETH``: the inverse options; ``BTC_USDC``, ``SOL``, ``SOL_USDC``...: the linear ones."""
        if underlying.upper().partition("_")[0] not in VENUE_INFO.underlyings:
            return []
        return self.backend.market.list(underlying)

    @hookimpl
    def gps_order_book(self, instrument, depth: int):
        return self.backend.market.order_book(instrument, depth)

    @hookimpl
    def gps_place(self, order):
        return self.backend.orders.place(order)

    @hookimpl(optionalhook=True)
    def gps_prepare_place(self, order):
        """The order signed and ready to write on a warmed connection, or ``None`` (see ``Orders.prepare_place``)."""
        return self.backend.orders.prepare_place(order)

    @hookimpl
    def gps_order_status(self, order):
        return self.backend.orders.status(order)

    @hookimpl
    def gps_cancel(self, order):
        return self.backend.orders.cancel(order)

    @hookimpl(optionalhook=True)
    def gps_positions(self, underlying):
        """Open option positions from ``private/get_positions`` (see :mod:`gps_venue_deribit.positions`)."""
        return self.backend.orders.positions(underlying)

    @hookimpl(optionalhook=True)
    def gps_combo_offer(self, legs, create: bool, depth: int):
        """The combo book for ``legs`` (``public/get_combos``; ``private/create_combo`` when ``create``);
        ``None`` with ``DERIBIT_COMBOS=off``."""
        if not self.backend.settings.combos:
            return None
        return self.backend.combos.offer(list(legs), create=create, depth=depth)
