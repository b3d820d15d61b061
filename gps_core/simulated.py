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
from typing import TYPE_CHECKING, Any, Iterable

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
        self._waives: dict[str, bool] = {}  # combo symbol -> whether the venue waives the cheaper fee group
        self._underlying: dict[str, Any] = {}  # leg symbol -> one contract's underlying value, as last read

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
        from .paper.combo_fees import leg_reference_prices

        book = self.real.order_book(order.instrument, BOOK_DEPTH)
        if order.instrument.is_combo:
            # Leg prices as the venue splits a combo trade, fees as its leg trades charge them
            # (:mod:`gps_core.paper.combo_fees`).
            leg_prices = leg_reference_prices(order, self._leg_book)
            return self._combo_fees(order, self.broker.place(order, book, leg_prices=leg_prices))
        return self.broker.place(order, book)

    def _leg_instrument(self, symbol: str):
        """A combo leg's own instrument (its fees, its book), as the plan found it or asked of the venue."""
        if symbol not in self._listed:
            from .instruments import OptionKey

            try:
                self.gps_find_instrument(OptionKey.parse(symbol))
            except Exception:  # noqa: BLE001 - not an option name the venue can be asked about
                return None
        return self._listed.get(symbol)

    def _leg_book(self, symbol: str):
        """A combo leg's real book (its best level), or ``None`` when the leg is not known."""
        listed = self._leg_instrument(symbol)
        if listed is None:
            return None
        book = self.real.order_book(listed, 1)
        self._underlying[symbol] = book.underlying_value()
        return book

    def _combo_fees(self, order: OrderRequest, snapshot: OrderSnapshot) -> OrderSnapshot:
        """A paper combo fill charged each leg's own fees, as the real venue's leg trades are."""
        from .model import ComboLeg
        from .paper.combo_fees import with_leg_fees

        if not order.instrument.is_combo or not snapshot.leg_fills:
            return snapshot
        legs = {f.symbol: self._leg_instrument(f.symbol) for f in snapshot.leg_fills}
        waives = self._waives.get(order.instrument.symbol)
        if waives is None:  # read back after a restart: ask the venue's offer again (public data)
            offer = self.real.combo_offer([ComboLeg(leg.symbol, leg.ratio) for leg in order.instrument.combo_legs],
                                          create=False, depth=1) if self.real.offers_combos else None
            waives = self._waives.setdefault(order.instrument.symbol, bool(offer and offer.waives_cheaper_side))

        def underlying(instrument) -> Any:
            if instrument.symbol not in self._underlying:
                self._leg_book(instrument.symbol)
            return self._underlying[instrument.symbol]

        return with_leg_fees(snapshot, order, {s: i for s, i in legs.items() if i is not None}, underlying,
                             waives_cheaper_side=waives)

    @hookimpl
    def gps_order_status(self, order: OrderRequest) -> OrderSnapshot:
        return self._combo_fees(order, self.broker.status(order))

    @hookimpl
    def gps_cancel(self, order: OrderRequest) -> OrderSnapshot:
        return self._combo_fees(order, self.broker.cancel(order))

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
        offer = self.real.combo_offer(legs, create=False, depth=depth)
        if offer is not None:
            self._waives[offer.instrument.symbol] = bool(offer.waives_cheaper_side)
        return offer


def simulated(venue: "Venue", home: Path, faults: str | None = None,
              plugins: Iterable[tuple[str, Any]] = ()) -> "Venue":
    """``venue`` for a dry run: the facade over a :class:`SimulatedVenue` of it, under the same name.

    ``plugins``: the real host's non-venue plugins (``PluginHost.non_venue_plugins``), registered
    alongside, so their wrappers (a risk guard on ``gps_place``) see dry-run orders too.
    """
    from .plugins import PluginHost

    plugin = SimulatedComboVenue if venue.offers_combos else SimulatedVenue
    host = PluginHost(environ={})
    host.register(plugin(venue, home, faults), venue.name)
    for name, other in plugins:
        host.register(other, name, venue=False)
    return host.venue(venue.name)
