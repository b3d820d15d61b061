"""gps venue plugin ``dryrun``: paper trading on an offline BTC/ETH/SOL option market.

No network, no credentials, no money. Orders are matched by :class:`gps_core.paper.PaperBroker`
against the computed market of :mod:`gps_venue_dryrun.market` and kept in
``$GPS_HOME/dryrun/orders.json``, so ``gps status`` and ``gps cancel`` in a later process
see them. ``GPS_DRYRUN_FAULTS`` injects venue faults (see the README),
``GPS_DRYRUN_ASOF=YYYY-MM-DD`` pins the market's date and ``GPS_DRYRUN_INDEX="BTC=67000"``
sets index levels. Any strike and expiry a strategy asks for is listed on demand while it
has not expired at the market's clock.

This module is the entry point and stays light: the market and the paper engine are
imported on first use.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

from gps_core.hookspecs import hookimpl
from gps_core.model import AuthResult, Capability, ClientIdKind, VenueInfo

from .config import COMBOS_ENV, FAULTS_ENV, VENUE

if TYPE_CHECKING:
    from gps_core.paper import PaperBroker

__all__ = ["DryRunVenue", "VENUE", "VENUE_INFO"]
__version__ = "0.1.0"

VENUE_INFO = VenueInfo(
    name=VENUE,
    title="Dry run (paper trading on an offline market)",
    underlyings=("BTC", "ETH", "SOL"),
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
    """The ``dryrun`` venue. Thread-safe; all state is in the paper store file.

    :param environ: where ``GPS_HOME``, ``GPS_DRYRUN_FAULTS`` and ``GPS_DRYRUN_ASOF`` are
        read from, on every call (default: the process environment).
    :param sleep: how injected latency waits (tests pass a recorder).
    """

    def __init__(self, environ: Mapping[str, str] | None = None, *, sleep: Callable[[float], None] | None = None):
        self._environ = environ
        self._sleep = sleep
        self._brokers: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return "DryRunVenue()"

    # --- configuration --------------------------------------------------------------------

    @property
    def environ(self) -> Mapping[str, str]:
        return os.environ if self._environ is None else self._environ

    def store_path(self) -> Path:
        """``$GPS_HOME/dryrun/orders.json``."""
        from gps_core.config import gps_home

        return gps_home(self.environ) / VENUE / "orders.json"

    def broker(self) -> "PaperBroker":
        """The paper broker for the current store path and fault spec."""
        from gps_core.config import ensure_dir
        from gps_core.paper import FaultPlan, PaperBroker

        path, spec = self.store_path(), self.environ.get(FAULTS_ENV, "")
        with self._lock:
            broker = self._brokers.get((str(path), spec))
            if broker is None:
                ensure_dir(path.parent)
                extra = {"sleep": self._sleep} if self._sleep else {}
                broker = PaperBroker(path, VENUE, FaultPlan.parse(spec), clock=self._market_clock, **extra)
                self._brokers[(str(path), spec)] = broker
            return broker

    def market(self):
        """The offline market for the current as-of date."""
        from .market import current_market

        return current_market(self.environ)

    def _market_clock(self):
        return self.market().clock()

    def _listed(self, instrument):
        """The market's own listing of ``instrument``; refuse anything it does not list."""
        from gps_core.errors import InvalidOrder

        listed = self.market().find(instrument.key)
        if listed is None:
            raise InvalidOrder(f"{instrument.symbol} is not listed (or has expired) on the dry-run market",
                               venue=VENUE)
        return listed

    # --- hooks ----------------------------------------------------------------------------

    @hookimpl
    def gps_venue_info(self) -> VenueInfo:
        return VENUE_INFO

    @hookimpl
    def gps_authenticate(self, credentials) -> AuthResult:
        # Paper trading needs no credentials; whatever was passed is ignored, never echoed.
        return AuthResult(venue=VENUE, account="paper", testnet=False, detail="paper trading, no credentials needed")

    @hookimpl
    def gps_find_instrument(self, key):
        if key.underlying.upper() not in VENUE_INFO.underlyings:
            return None
        return self.market().find(key)

    @hookimpl
    def gps_list_instruments(self, underlying: str):
        return self.market().instruments(underlying)

    @hookimpl
    def gps_order_book(self, instrument, depth: int):
        from gps_core.errors import VenueError

        if instrument.is_combo:
            from .combos import combo_book

            return combo_book(self.market(), instrument)
        listed = self.market().find(instrument.key)
        if listed is None:
            raise VenueError(f"{instrument.symbol} is not listed on the dry-run market", venue=VENUE)
        return self.market().book(listed, max(1, depth))

    @hookimpl
    def gps_place(self, order):
        if order.instrument.is_combo:
            from .combos import combo_book, leg_prices

            market = self.market()
            placed = self.broker().place(order, combo_book(market, order.instrument),
                                         leg_prices=leg_prices(market, order))
            return self._per_leg(order, placed)
        book = self.market().book(self._listed(order.instrument))
        return self.broker().place(order, book)

    @hookimpl
    def gps_order_status(self, order):
        self._settle_if_expired(order)
        return self._per_leg(order, self.broker().status(order))

    @hookimpl
    def gps_cancel(self, order):
        self._settle_if_expired(order)
        return self._per_leg(order, self.broker().cancel(order))

    @hookimpl
    def gps_positions(self, underlying):
        """The paper store's net positions, marked at the offline market's mark (its fair value on the
        tick, the ``mark_price`` its books and plans show; prices in USD)."""
        from dataclasses import replace
        from decimal import Decimal

        market = self.market()
        self._settle(market)
        found = []
        for position in self.broker().positions():
            if underlying and (position.key is None or position.key.underlying != underlying.upper()):
                continue
            listed = market.find(position.key) if position.key is not None else None
            mark = market.book(listed, 1).mark_price if listed is not None else None
            found.append(replace(position, mark_price=mark, usd_per_unit=Decimal(1)))
        return found

    @hookimpl
    def gps_settlements(self, underlying):
        """Positions settled at expiry (cash, at intrinsic value against the market's index), settling any now due."""
        from gps_core.paper.settlement import settlements

        self._settle(self.market())
        return [s for s in settlements(self.broker())
                if not underlying or (s.key is not None and s.key.underlying == underlying.upper())]

    def _settle(self, market):
        """Settle what has expired at the market's clock, as Deribit does at 08:00 UTC (see the README)."""
        from gps_core.paper.settlement import settle_expired

        return settle_expired(self.broker(), market.clock(),
                              lambda underlying: market.index(underlying) if underlying in market.specs else None)

    def _settle_if_expired(self, order):
        """An order on an expired instrument shows as cancelled at expiry. Nothing is settled here:
        an order read (``gps status``, ``gps cancel``) never settles a position (see the README)."""
        from gps_core.paper.settlement import cancel_expired_orders

        market = self.market()
        if order.instrument.is_expired(market.clock()):
            cancel_expired_orders(self.broker(), market.clock())

    @hookimpl
    def gps_combo_offer(self, legs, create: bool, depth: int):
        """A paper combo of ``legs``, quoted at exactly the legs' prices (see :mod:`gps_venue_dryrun.combos`)."""
        from .combos import offer

        if (self.environ.get(COMBOS_ENV) or "on").strip().lower() in ("off", "0", "no", "false"):
            return None
        return offer(self.market(), list(legs))

    def _per_leg(self, order, snapshot):
        """A combo order's snapshot with its fills per leg (at the leg prices stored with it); any other unchanged."""
        if not order.instrument.is_combo:
            return snapshot
        from .combos import with_leg_fills

        stored = next((o for o in self.broker().orders() if o.client_order_id == snapshot.client_order_id), None)
        return with_leg_fills(snapshot, order, stored)
