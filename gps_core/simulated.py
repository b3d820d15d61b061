"""The venue ``--dry-run`` trades on: a real venue's public market data, fills simulated on paper.

:class:`SimulatedVenue` is an ordinary venue plugin: it implements the venue hooks of
:mod:`gps_core.hookspecs` and is called through the same per-venue facade,
:class:`gps_core.plugins.Venue`, as every installed venue. So an order of a dry run takes the
path of a live one, engine -> ``Venue.place`` -> ``gps_place``, and ends in
:class:`~gps_core.paper.PaperBroker` where a live one ends in the venue's HTTP API. Prices,
instruments and books come from the real venue (its public calls only); orders, fills and
positions are the paper store's, ``$GPS_HOME/paper/<venue>.json``. A real venue that offers
combo books (``gps_combo_offer``) is simulated with them: its listed combo and real combo book,
from public data (nothing is created at the venue), filled on paper.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .hookspecs import hookimpl
from .model import AuthResult, OrderBook, OrderRequest, OrderSnapshot, Position, VenueInfo

if TYPE_CHECKING:
    from .plugins import Venue

#: Book depth a simulated order is matched against (the real venue's public book).
BOOK_DEPTH = 10


class SimulatedVenue:
    """The hook implementations of one real venue's simulation (``--dry-run``).

    :param real: the real venue's facade; only its public market data is asked.
    :param home: ``GPS_HOME``: the paper store is ``home/paper/<venue>.json``.
    :param faults: a :class:`~gps_core.paper.FaultPlan` spec (``GPS_PAPER_FAULTS``), or ``None``.
    """

    def __init__(self, real: "Venue", home: Path, faults: str | None = None):
        from .config import ensure_dir
        from .paper import FaultPlan, PaperBroker

        self.real = real
        plan = FaultPlan.parse(faults) if faults else None
        self.broker = PaperBroker(ensure_dir(home / "paper") / f"{real.name}.json", real.name, plan)
        self._listed: dict[str, Any] = {}  # venue symbol -> instrument found, for a combo's legs

    def __repr__(self) -> str:
        return f"SimulatedVenue({self.real.name!r})"

    @hookimpl
    def gps_venue_info(self) -> VenueInfo:
        return replace(self.real.info, paper=True)

    @hookimpl
    def gps_authenticate(self, credentials) -> AuthResult:
        return AuthResult(venue=self.real.name, account="paper", detail="dry run: orders are simulated on paper")

    @hookimpl
    def gps_find_instrument(self, key):
        instrument = self.real.find_instrument(key)
        if instrument is not None:
            self._listed[instrument.symbol] = instrument
        return instrument

    @hookimpl
    def gps_list_instruments(self, underlying: str):
        return self.real.list_instruments(underlying)

    @hookimpl
    def gps_order_book(self, instrument, depth: int) -> OrderBook:
        return self.real.order_book(instrument, depth)

    @hookimpl
    def gps_place(self, order: OrderRequest) -> OrderSnapshot:
        book = self.real.order_book(order.instrument, BOOK_DEPTH)
        if order.instrument.is_combo:
            return self.broker.place(order, book, leg_prices=self._leg_prices(order))
        return self.broker.place(order, book)

    def _leg_prices(self, order: OrderRequest) -> dict:
        """Each combo leg's touch on its real book (ask bought, bid sold): the per-leg prices of its paper fills."""
        prices = {}
        for leg in order.instrument.combo_legs:
            listed = self._listed.get(leg.symbol)
            if listed is None:
                continue  # the first leg takes the difference to the combo's price
            book = self.real.order_book(listed, 1)
            levels = book.asks if leg.ratio * order.side.sign > 0 else book.bids
            if levels:
                prices[leg.symbol] = levels[0].price
        return prices

    @hookimpl
    def gps_order_status(self, order: OrderRequest) -> OrderSnapshot:
        return self.broker.status(order)

    @hookimpl
    def gps_cancel(self, order: OrderRequest) -> OrderSnapshot:
        return self.broker.cancel(order)

    @hookimpl
    def gps_positions(self, underlying: str | None) -> list[Position]:
        """The paper store's net positions (no marks: the real venue's are not asked)."""
        return [p for p in self.broker.positions()
                if underlying is None or (p.key is not None and p.key.underlying == underlying.upper())]


class SimulatedComboVenue(SimulatedVenue):
    """A :class:`SimulatedVenue` of a venue that offers combo books: it offers them too."""

    @hookimpl
    def gps_combo_offer(self, legs, create: bool, depth: int):
        """The real venue's combo for ``legs`` with its real book, from public data only.

        A dry run creates nothing at the venue (``create`` is ignored): a combo the venue does
        not list yet is not offered, and the plan says so.
        """
        return self.real.combo_offer(legs, create=False, depth=depth)


def simulated(venue: "Venue", home: Path, faults: str | None = None) -> "Venue":
    """``venue`` for a dry run: the facade over a :class:`SimulatedVenue` of it, under the same name."""
    from .plugins import PluginHost

    plugin = SimulatedComboVenue if venue.offers_combos else SimulatedVenue
    host = PluginHost(environ={})
    host.register(plugin(venue, home, faults), venue.name)
    return host.venue(venue.name)
