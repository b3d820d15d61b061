"""What the CLI commands do, without the CLI: pick venues, fetch quotes, ask venues about journaled orders.

Kept apart from :mod:`gps_core.cli` so scripts can use the same steps from Python.
"""

from __future__ import annotations

import os
import re
import threading
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from .codec import snapshot_to_json
from .config import gps_home
from .errors import AuthenticationError, BadInput, ConfigurationError, OrderNotFound, OrderNotOpen, VenueError
from .events import Event, JournaledOrder, execution_mode, replay
from .journal import Journal, read_events
from .model import OrderSnapshot
from .orders import state_from_snapshot
from .plugins import PluginHost, Venue, load_host
from .routing import Market, Quote, short_line, unpriced_venues
from .secrets import load_credentials, register_secret_values
from .strategy import Strategy, require_traded_underlyings

DEFAULT_DEPTH = 10


@dataclass
class Context:
    """Environment, state directory and plugins for one gps process."""

    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    _host: PluginHost | None = None
    #: venue name -> its authentication started early (:meth:`authenticate_soon`)
    _early: dict = field(default_factory=dict, repr=False)
    _early_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def home(self) -> Path:
        return gps_home(self.environ)

    @property
    def host(self) -> PluginHost:
        if self._host is None:
            self._host = load_host(self.environ)
        return self._host

    def select_venues(self, selection: str, *, mixed: bool = False) -> list[Venue]:
        """The venues ``--venue`` names, all of one kind: never paper and live together.

        ``mixed=True`` (``gps chain``, which only reads prices) takes a list that mixes kinds.

        ``auto`` is every working live venue, or every paper venue when no live one is
        installed; a name or a comma-separated list is taken as given, but a list that mixes
        paper and live venues raises :class:`BadInput` (a live strategy must not have a leg on
        paper). Raises :class:`ConfigurationError` when a venue is not installed or none is.
        """
        if selection == "auto":
            venues = self.host.venues()
            if not venues:
                raise ConfigurationError("no venue is installed: gps install dryrun")
            live = [v for v in venues if not v.info.paper]
            return live or venues
        names = [n.strip() for n in selection.split(",") if n.strip()]
        if not names:
            raise BadInput("--venue needs a venue name or 'auto'")
        venues = [self.host.venue(name) for name in dict.fromkeys(names)]
        if not mixed:
            refuse_mixed_kinds(venues)
        return venues

    def authenticate_soon(self, venues: Sequence[Venue]) -> None:
        """Start authenticating each live venue in the background, so a login round trip runs
        alongside the quotes instead of after them. Nothing is reported here: a venue's outcome
        (success or its error) is taken by the next :meth:`authenticate` of that venue, so a
        venue the plan does not use never fails the run."""
        for venue in venues:
            if venue.authenticated or venue.info.paper:
                continue
            with self._early_lock:
                if venue.name in self._early:
                    continue
                future: Future = Future()
                self._early[venue.name] = future

            def run(venue=venue, future=future) -> None:
                try:
                    self._authenticate_now(venue)
                except BaseException as exc:  # noqa: BLE001 - handed to authenticate()
                    future.set_exception(exc)
                else:
                    future.set_result(None)

            threading.Thread(target=run, name=f"gps-auth-{venue.name}", daemon=True).start()

    def authenticate(self, venue: Venue) -> None:
        """Give a live venue its credentials (environment, then ``credentials.toml``); waits
        for (and raises the error of) an authentication :meth:`authenticate_soon` started."""
        if venue.info.paper:
            return
        with self._early_lock:
            early = self._early.pop(venue.name, None)
        if early is not None:
            early.result()
            return
        if venue.authenticated:
            return
        self._authenticate_now(venue)

    def _authenticate_now(self, venue: Venue) -> None:
        if venue.authenticated:
            return
        credentials = load_credentials(venue.info.credential_env, self.home, self.environ)
        register_secret_values(credentials.values())
        try:
            venue.authenticate(credentials)
        except AuthenticationError:
            raise
        except VenueError:
            raise  # a failed venue call (could not connect, timed out): exit 1, not bad credentials
        except Exception as exc:  # noqa: BLE001
            raise AuthenticationError(f"authentication failed: {exc}", venue=venue.name) from exc


def refuse_mixed_kinds(venues: Sequence[Any]) -> None:
    """Raise :class:`BadInput` when ``venues`` has both paper and live venues."""
    paper = [v.name for v in venues if v.info.paper]
    live = [v.name for v in venues if not v.info.paper]
    if paper and live:
        raise BadInput(f"--venue mixes paper ({', '.join(paper)}) and live ({', '.join(live)}) venues; "
                       "a strategy runs on one kind: name only paper or only live venues")


@dataclass
class Pricing:
    """The venues a plan is made among, their quotes, and where the prices come from.

    ``venues`` are all paper or all live (dry-run venues count as paper); ``quotes`` may also
    hold the failed quotes of venues that were selected but could not be reached, so the plan
    can name them.
    """

    venues: list[Any]
    quotes: dict[int, list[Quote]]
    market: Market

    @property
    def live(self) -> bool:
        return any(not v.info.paper for v in self.venues)


def price_strategy(ctx: Context, strategy: Strategy, selection: str, *, dry_run: bool = False,
                   progress: Callable[[str], None] | None = None, depth: int = DEFAULT_DEPTH,
                   log_in: bool = False) -> Pricing:
    """Select the venues for ``--venue selection`` and fetch every leg's quote from them.

    A leg on an underlying that none of the venues asked trades (with ``auto``: none of the
    installed venues) raises :class:`BadInput` first (see
    :func:`~gps_core.strategy.require_traded_underlyings`).

    A live run (``dry_run=False``) routes only among live venues, or only among paper ones
    (see :meth:`Context.select_venues`). A dry run prices on the real venues' public books;
    with ``auto``, when none of them can be reached (or none is installed) it falls back to
    the paper venues' own offline market, and the returned :class:`Market` says so.

    ``log_in``: start authenticating the live venues (:meth:`Context.authenticate_soon`) as the
    quotes are asked for, once the input is known to be good.
    """
    say = progress or (lambda message: None)
    venues = ctx.select_venues(selection)
    # Crypto only, said before anything is fetched or sent: with auto, every installed venue counts.
    require_traded_underlyings(strategy, ctx.host.venues() if selection == "auto" else venues, ctx.host.venues(),
                               ctx.host.skipped_venues)
    offline = all(v.info.paper for v in venues)
    if log_in and not dry_run:
        ctx.authenticate_soon([v for v in venues if not v.info.paper])
    names = ", ".join(v.name for v in venues)
    note = None
    if selection == "auto" and offline:
        note = f"no live venue is installed and working: paper venue(s) {names} only; nothing real is traded"
    if dry_run:
        faults = ctx.environ.get("GPS_PAPER_FAULTS")
        from .simulated import simulated

        wrappers = ctx.host.non_venue_plugins()
        venues = [v if v.info.paper else simulated(v, ctx.home, faults, wrappers) for v in venues]
    count = len(strategy.legs)
    say(f"fetching quotes for {count} leg{'' if count == 1 else 's'} from {names}")
    quotes = fetch_quotes(strategy, venues, depth, say)
    if dry_run and selection == "auto" and not offline and _none_reached(quotes):
        paper = [v for v in ctx.host.venues() if v.info.paper]
        if paper:
            down = ", ".join(u.venue for u in unpriced_venues(quotes))
            note = f"no real venue could be reached ({down}): the paper venue(s) {', '.join(v.name for v in paper)} instead"
            say(f"{note}; fetching quotes")
            fallback = fetch_quotes(strategy, paper, depth, say)
            quotes = {i: fallback[i] + quotes[i] for i in quotes}
            venues, offline = paper, True
    kind = "dry-run" if dry_run else ("paper" if offline else "live")
    return Pricing(venues, quotes, Market(kind, offline, note))


def _nearest_listed(venue: Any, key) -> str | None:
    """What ``venue`` lists nearest to the unlisted ``key`` (see :func:`gps_core.chain.nearest_listed`)."""
    from .chain import nearest_listed

    try:
        return nearest_listed(key, venue.list_instruments(key.root))
    except Exception:  # noqa: BLE001 - only a hint: the leg is refused either way
        return None


def _none_reached(quotes: Mapping[int, Sequence[Quote]]) -> bool:
    """Some venue failed and none answered (a venue that answered has a quote without an error)."""
    every = [q for leg_quotes in quotes.values() for q in leg_quotes]
    return any(q.failed for q in every) and all(q.error for q in every)


def fetch_quotes(strategy: Strategy, venues: Sequence[Any], depth: int = DEFAULT_DEPTH,
                 progress: Callable[[str], None] | None = None) -> dict[int, list[Quote]]:
    """Every leg's quote on every venue, fetched concurrently (one task per leg and venue).

    Each leg's quotes come in the order of ``venues``. ``progress`` hears one line per venue
    as soon as all its legs are in: how many it lists, or why it could not be asked. A failed
    quote's error is one short line (at most :data:`QUOTE_NOTE_LENGTH` characters).
    """
    say = progress or (lambda message: None)
    tasks = [(i, leg, venue) for i, leg in enumerate(strategy.legs) for venue in venues]

    def one(task) -> tuple[int, Quote]:
        index, leg, venue = task
        underlyings = venue.info.underlyings
        if underlyings and leg.instrument.underlying not in underlyings:
            return index, Quote(venue.name, error=f"does not trade {leg.instrument.underlying} options")
        try:
            instrument = venue.find_instrument(leg.instrument)
            if instrument is None:
                return index, Quote(venue.name, nearest=_nearest_listed(venue, leg.instrument))
            book = venue.order_book(instrument, depth)
            # A venue may return the instrument as it fetched it with the book (fresher than
            # what it found from a cache): price on that one.
            if book.instrument.symbol == instrument.symbol and book.instrument.key == instrument.key:
                instrument = book.instrument
            return index, Quote(venue.name, instrument, book)
        except ConfigurationError:
            raise  # gps's own setup is wrong (a malformed variable): the first and only error, not a venue down
        except Exception as exc:  # noqa: BLE001 - one venue's failure must not stop routing
            return index, Quote(venue.name, error=short_line(f"quote failed: {failure_note(exc, venue.name)}",
                                                             QUOTE_NOTE_LENGTH), failed=True)

    quotes: dict[int, list[Quote]] = {i: [] for i in range(len(strategy.legs))}
    if not tasks:
        return quotes
    results: list[Quote | None] = [None] * len(tasks)
    waiting = {venue.name: len(strategy.legs) for venue in venues}
    with ThreadPoolExecutor(max_workers=min(32, len(tasks)), thread_name_prefix="gps-quote") as pool:
        futures = {pool.submit(one, task): position for position, task in enumerate(tasks)}
        for future in as_completed(futures):
            _, quote = future.result()
            results[futures[future]] = quote
            waiting[quote.venue] -= 1
            if waiting[quote.venue] == 0:
                say(_venue_answer(quote.venue, [q for q in results if q is not None and q.venue == quote.venue]))
    for (index, _, _), quote in zip(tasks, results):
        quotes[index].append(quote)
    return quotes


#: The longest note a failed quote carries (quote table, plan, routing errors).
QUOTE_NOTE_LENGTH = 100


def failure_note(error: object, venue: str) -> str:
    """What went wrong asking ``venue``, short: no venue name (the row says it), no endpoint or
    URL path, no "nothing was sent" (a quote never sends anything). The full text is in the -v log."""
    text = " ".join(str(error).split()) or type(error).__name__
    if text.startswith(f"{venue}: "):
        text = text[len(venue) + 2:]
    text = text.replace("; nothing was sent", "")
    text = re.sub(r"^(?:(?:GET|POST|PUT|DELETE) /\S*|(?:public|private)/\w+): ", "", text)  # the endpoint asked
    return re.sub(r"could not connect to [a-z]+://([^/\s]+)\S*", r"could not connect to \1", text)


def _venue_answer(venue: str, quotes: list[Quote]) -> str:
    failed = [q for q in quotes if q.failed]
    if failed:
        return f"{venue} did not answer: {(failed[0].error or '').removeprefix('quote failed: ')}"
    if all(q.error for q in quotes):  # never asked: it does not trade the legs' underlying
        return f"{venue} not asked: {quotes[0].error}"
    listed = sum(q.book is not None for q in quotes)
    return f"{venue} answered: lists {listed} of {len(quotes)} leg{'' if len(quotes) == 1 else 's'}"


# --- reading executions back -------------------------------------------------------------


def venue_for(ctx: Context, name: str, mode: str, cache: dict) -> Venue:
    """The venue an order of an execution in ``mode`` lives on (its simulation for dry runs)."""
    if name not in cache:
        venue = ctx.host.venue(name)
        if mode == "dry-run" and not venue.info.paper:
            from .simulated import simulated

            venue = simulated(venue, ctx.home, ctx.environ.get("GPS_PAPER_FAULTS"), ctx.host.non_venue_plugins())
        else:
            ctx.authenticate(venue)
        cache[name] = venue
    return cache[name]


def refresh_orders(ctx: Context, path: Path, *, cancel: bool = False, journal: Journal | None = None,
                   journal_errors: list[str] | None = None, cancels_sent: list[str] | None = None,
                   ) -> list[tuple[JournaledOrder, OrderSnapshot | None, str | None]]:
    """Ask each venue about every order of one execution; optionally cancel the working ones.

    With ``cancel``, each cancel is journaled (``cancel_requested``) before it is sent and
    the venue's answer after; a journal that cannot be written never stops a cancel: what
    could not be journaled is appended to ``journal_errors``; the client order id of every
    order a cancel was sent for is appended to ``cancels_sent``. Never raises for one order.
    Returns ``(order, venue snapshot or None, error text or None)`` per order.
    """
    events = read_events(path)
    mode = execution_mode(events)
    cache: dict[str, Any] = {}
    results = []
    for order in replay(events).values():
        snapshot, error = None, None
        cid = order.request.client_order_id
        try:
            venue = venue_for(ctx, order.request.venue, mode, cache)
            snapshot = venue.order_status(order.request)
            if cancel and snapshot.is_working:
                _journal_quietly(journal, journal_errors, Event.CANCEL_REQUESTED, client_order_id=cid)
                if cancels_sent is not None:
                    cancels_sent.append(cid)
                try:
                    snapshot = venue.cancel(order.request)
                except OrderNotOpen:
                    snapshot = venue.order_status(order.request)
                _journal_quietly(journal, journal_errors, Event.ORDER_UPDATE, client_order_id=cid,
                                 state=state_from_snapshot(snapshot).value, snapshot=snapshot_to_json(snapshot),
                                 source="cancel")
        except OrderNotFound:
            error = "not found at the venue"
        except Exception as exc:  # noqa: BLE001 - report per order, keep going
            error = str(exc) or type(exc).__name__
        results.append((order, snapshot, error))
    return results


def _journal_quietly(journal: Journal | None, errors: list[str] | None, event: Event, **data: Any) -> bool:
    """Journal one event; on failure, note it in ``errors`` and carry on (the action matters more)."""
    if journal is None:
        return False
    try:
        journal.write(event, **data)
        return True
    except OSError as exc:
        if errors is not None:
            errors.append(f"{event} {data.get('client_order_id', '')}: {exc.strerror or exc}".replace("  ", " "))
        return False
