"""What the ``dryrun`` hooks do: the offline market, the paper broker and its store, settlement.

:class:`DryRunBackend` holds it all; :class:`gps_venue_dryrun.DryRunVenue`'s hooks are one line
each into it. The market is :mod:`gps_venue_dryrun.market`, the matching engine and its store
``$GPS_HOME/dryrun/orders.json`` are :class:`gps_core.paper.PaperBroker`'s, combos are
:mod:`gps_venue_dryrun.combos`.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

from gps_core.model import AuthResult

from .config import COMBOS_ENV, FAULTS_ENV, UNDERLYINGS, VENUE

if TYPE_CHECKING:
    from gps_core.paper import PaperBroker


class DryRunBackend:
    """The dry-run venue's state and behaviour. Thread-safe; all state is in the paper store file.

    :param environ: where ``GPS_HOME``, ``GPS_DRYRUN_FAULTS`` and ``GPS_DRYRUN_ASOF`` are
        read from, on every call (default: the process environment).
    :param sleep: how injected latency waits (tests pass a recorder).
    """

    def __init__(self, environ: Mapping[str, str] | None = None, *, sleep: Callable[[float], None] | None = None):
        self._environ = environ
        self._sleep = sleep
        self._brokers: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

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

    # --- what each hook does ------------------------------------------------------------

    def authenticate(self, credentials) -> AuthResult:
        # Paper trading needs no credentials; whatever was passed is ignored, never echoed.
        return AuthResult(venue=VENUE, account="paper", testnet=False, detail="paper trading, no credentials needed")

    def find_instrument(self, key):
        if key.underlying.upper() not in UNDERLYINGS:
            return None
        return self.market().find(key)

    def list_instruments(self, underlying: str):
        return self.market().instruments(underlying)

    def order_book(self, instrument, depth: int):
        from gps_core.errors import VenueError

        if instrument.is_combo:
            from .combos import combo_book

            return combo_book(self.market(), instrument)
        listed = self.market().find(instrument.key)
        if listed is None:
            raise VenueError(f"{instrument.symbol} is not listed on the dry-run market", venue=VENUE)
        return self.market().book(listed, max(1, depth))

    def place(self, order):
        if order.instrument.is_combo:
            from .combos import combo_book, leg_prices

            market = self.market()
            placed = self.broker().place(order, combo_book(market, order.instrument),
                                         leg_prices=leg_prices(market, order))
            return self._per_leg(order, placed)
        book = self.market().book(self._listed(order.instrument))
        return self.broker().place(order, book)

    def order_status(self, order):
        self._settle_if_expired(order)
        return self._per_leg(order, self.broker().status(order))

    def cancel(self, order):
        self._settle_if_expired(order)
        return self._per_leg(order, self.broker().cancel(order))

    def positions(self, underlying):
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

    def settlements(self, underlying):
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

    def combo_offer(self, legs, create: bool, depth: int):
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
