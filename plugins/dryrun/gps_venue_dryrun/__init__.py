"""gps venue plugin ``dryrun``: paper trading on an offline BTC/ETH/SOL option market.

No network, no credentials, no money. Orders are matched by :class:`gps_core.paper.PaperBroker`
against the computed market of :mod:`gps_venue_dryrun.market` and kept in
``$GPS_HOME/dryrun/orders.json``, so ``gps status`` and ``gps cancel`` in a later process
see them. ``GPS_DRYRUN_FAULTS`` injects venue faults (see the README),
``GPS_DRYRUN_ASOF=YYYY-MM-DD`` pins the market's date and ``GPS_DRYRUN_INDEX="BTC=67000"``
sets index levels. Any strike and expiry a strategy asks for is listed on demand while it
has not expired at the market's clock.

This module is the entry point and stays light: each hook is one line into
:mod:`gps_venue_dryrun.backend`; the market and the paper engine are imported on first use.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping

from gps_core.hookspecs import hookimpl
from gps_core.model import AuthResult, Capability, ClientIdKind, VenueInfo

from .config import UNDERLYINGS, VENUE

if TYPE_CHECKING:
    from gps_core.paper import PaperBroker

__all__ = ["DryRunVenue", "VENUE", "VENUE_INFO"]
__version__ = "0.1.0"

VENUE_INFO = VenueInfo(
    name=VENUE,
    title="Dry run (paper trading on an offline market)",
    underlyings=UNDERLYINGS,
    price_currencies=("USD",),
    client_id_kind=ClientIdKind.LOCAL,
    client_id_max_length=64,
    capabilities=frozenset({
        Capability.GTC,
        Capability.IOC,
        Capability.POST_ONLY,
        Capability.REDUCE_ONLY,
        Capability.LOOKUP_BY_CLIENT_ID,
    }),
    credential_env=(),
    paper=True,
    hookspec_version=1,  # the gps hook API this plugin is built against
)


class DryRunVenue:
    """The ``dryrun`` venue's hooks, each one line into :class:`~gps_venue_dryrun.backend.DryRunBackend`.

    :param environ: where ``GPS_HOME``, ``GPS_DRYRUN_FAULTS`` and ``GPS_DRYRUN_ASOF`` are
        read from, on every call (default: the process environment).
    :param sleep: how injected latency waits (tests pass a recorder).
    """

    def __init__(self, environ: Mapping[str, str] | None = None, *, sleep: Callable[[float], None] | None = None):
        from .backend import DryRunBackend

        self.backend = DryRunBackend(environ, sleep=sleep)

    def __repr__(self) -> str:
        return "DryRunVenue()"

    @property
    def environ(self) -> Mapping[str, str]:
        return self.backend.environ

    def store_path(self) -> Path:
        """``$GPS_HOME/dryrun/orders.json``."""
        return self.backend.store_path()

    def broker(self) -> "PaperBroker":
        """The paper broker for the current store path and fault spec."""
        return self.backend.broker()

    def market(self):
        """The offline market for the current as-of date."""
        return self.backend.market()

    @hookimpl
    def gps_venue_info(self) -> VenueInfo:
        return VENUE_INFO

    @hookimpl
    def gps_authenticate(self, credentials) -> AuthResult:
        return self.backend.authenticate(credentials)

    @hookimpl
    def gps_find_instrument(self, key):
        return self.backend.find_instrument(key)

    @hookimpl
    def gps_list_instruments(self, underlying: str):
        return self.backend.list_instruments(underlying)

    @hookimpl
    def gps_order_book(self, instrument, depth: int):
        return self.backend.order_book(instrument, depth)

    @hookimpl
    def gps_place(self, order):
        return self.backend.place(order)

    @hookimpl
    def gps_order_status(self, order):
        return self.backend.order_status(order)

    @hookimpl
    def gps_cancel(self, order):
        return self.backend.cancel(order)

    @hookimpl(optionalhook=True)
    def gps_positions(self, underlying):
        """The paper store's net positions, marked at the offline market's mark (prices in USD)."""
        return self.backend.positions(underlying)

    @hookimpl(optionalhook=True)
    def gps_settlements(self, underlying):
        """Positions settled at expiry (cash, at intrinsic value against the market's index)."""
        return self.backend.settlements(underlying)

    @hookimpl(optionalhook=True)
    def gps_combo_offer(self, legs, create: bool, depth: int):
        """A paper combo of ``legs``, quoted at exactly the legs' prices (see :mod:`gps_venue_dryrun.combos`)."""
        return self.backend.combo_offer(legs, create, depth)
