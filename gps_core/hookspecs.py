"""The gps plugin API: one hook per thing a venue does.

A **venue plugin** is an object (a module, a class or an instance) registered under the
entry-point group ``gps.venues``; the entry-point name is the venue's name. It implements
the hooks below with the :data:`hookimpl` marker::

    from gps_core.api import hookimpl

    class MyVenue:
        @hookimpl
        def gps_venue_info(self):
            return VenueInfo(name="myvenue", ...)

**One order, one venue.** A plain pluggy hook call runs *every* plugin's
implementation; with three venues installed a leg would be placed three times. gps never
makes such a call for the venue hooks. It calls each hook through a *per-venue caller*
(``PluginManager.subset_hook_caller``) from which every other venue plugin is removed, so
an implementation only ever sees calls meant for its own venue, and needs no ``venue``
argument to filter on. All venue hooks are ``firstresult``.

**Plugins that are not venues** (a risk guard, an audit sink) register under the group
``gps.plugins``. They are never removed from the per-venue callers, so a wrapper around
``gps_place`` sees every order on every venue and may refuse it by raising
:class:`~gps_core.errors.OrderRejected` before it is sent (see ``examples/risk_guard``)::

    @hookimpl(wrapper=True)
    def gps_place(order):
        if order.quantity * order.limit_price > LIMIT:
            raise OrderRejected("over the notional limit")
        return (yield)

**Outcomes.** A hook returns on success. A definitive refusal raises
:class:`~gps_core.errors.OrderRejected`; anything whose effect is not known raises
:class:`~gps_core.errors.OutcomeUnknown` (the core treats any other exception from
``gps_place`` the same way). Rate limits raise :class:`~gps_core.errors.RateLimited`
with ``retry_after``.

**Threads.** The core calls hooks from several threads at once (all legs are placed
concurrently); implementations must be thread-safe.

**Versions.** :data:`HOOKSPEC_VERSION` is the hook API this core implements; a plugin
declares the version it was built against in ``VenueInfo.hookspec_version``. The core
accepts every version from :data:`MIN_HOOKSPEC_VERSION` to :data:`HOOKSPEC_VERSION`
(see :func:`hookspec_refusal`), so a compatible core release never breaks the plugins
already installed. An additive change (a new optional hook, a new field with a default)
raises ``HOOKSPEC_VERSION`` only, so older plugins still load; a breaking one also raises
``MIN_HOOKSPEC_VERSION`` and ships in a new major release of gps-core.

.. versionadded:: 1 (``HOOKSPEC_VERSION``)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping

import pluggy

if TYPE_CHECKING:
    from .fire import PreparedSend
    from .instruments import OptionKey
    from .model import (AuthResult, ComboLeg, ComboOffer, OrderBook, OrderRequest, OrderSnapshot, Position,
                        Settlement, VenueInfo, VenueInstrument)
    from .secrets import Secret

PROJECT = "gps"

#: The hook API version this gps-core implements (the newest a plugin may be built against).
HOOKSPEC_VERSION = 1
#: The first hook API version: what a plugin that declares none was built against.
FIRST_HOOKSPEC_VERSION = 1
#: The oldest hook API version this gps-core still accepts. It only rises in a major release
#: of gps-core, so a plugin requiring ``gps-core>=X,<NEXT_MAJOR`` keeps loading.
MIN_HOOKSPEC_VERSION = 1


def hookspec_refusal(version: object) -> str | None:
    """Why a plugin built against hook API ``version`` cannot load here, or ``None`` if it can.

    :param version: the plugin's ``VenueInfo.hookspec_version`` (an ``int``).
    :returns: one line saying which version the plugin needs, which range this core accepts
        and what to upgrade, or ``None`` when ``MIN_HOOKSPEC_VERSION <= version <= HOOKSPEC_VERSION``.
    """
    accepted = (f"this gps-core accepts {MIN_HOOKSPEC_VERSION}" if MIN_HOOKSPEC_VERSION == HOOKSPEC_VERSION
                else f"this gps-core accepts {MIN_HOOKSPEC_VERSION} to {HOOKSPEC_VERSION}")
    if isinstance(version, bool) or not isinstance(version, int):
        return f"declares hook API version {version!r}, not a whole number ({accepted}): fix the plugin"
    if version > HOOKSPEC_VERSION:
        return f"built against hook API version {version}, newer than gps-core supports ({accepted}): upgrade gps-core"
    if version < MIN_HOOKSPEC_VERSION:
        return f"built against hook API version {version}, no longer supported ({accepted}): upgrade the plugin"
    return None

hookspec = pluggy.HookspecMarker(PROJECT)
#: Marker for hook implementations: ``@hookimpl`` or ``@hookimpl(wrapper=True)``.
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec(firstresult=True)
def gps_venue_info() -> VenueInfo:
    """Describe the venue: name, underlyings, price currencies, client-id behaviour, capabilities.

    Must be cheap and must not touch the network: ``gps venues`` calls it for every
    installed venue. ``VenueInfo.name`` must equal the entry-point name.

    :returns: a :class:`~gps_core.model.VenueInfo`.
    """


@hookspec(firstresult=True)
def gps_authenticate(credentials: Mapping[str, Secret]) -> AuthResult:
    """Take the venue's credentials and check them before any private call.

    Called once per process, before the first ``gps_place`` / ``gps_order_status`` /
    ``gps_cancel``, never for public market data or ``--dry-run``.

    :param credentials: the variables named in ``VenueInfo.credential_env`` that were found
        in the environment or in ``$GPS_HOME/credentials.toml``, as
        :class:`~gps_core.secrets.Secret` values. Call ``.reveal()`` only where a value is
        signed or sent; never log it, put it in an exception or return it.
    :raises AuthenticationError: when a credential is missing (name the variables in the
        message) or the venue refuses it.
    :returns: an :class:`~gps_core.model.AuthResult` (account name, testnet flag).
    """


@hookspec(firstresult=True)
def gps_find_instrument(key: OptionKey) -> VenueInstrument | None:
    """Find the venue's listing of an option.

    Match on all of underlying, settlement, expiry date, strike and call/put, never on the
    strike alone. A key with a settlement (``BTC_USDC-...``) names that contract only; a plain
    key means the venue's standard listing (see docs/hooks.md). May use a cached instrument list.

    :param key: the option gps wants to trade.
    :returns: the :class:`~gps_core.model.VenueInstrument` with its tick, size rules and
        fees, or ``None`` when the venue does not list it (also for an underlying it does
        not trade).
    """


@hookspec(firstresult=True)
def gps_list_instruments(underlying: str) -> list[VenueInstrument]:
    """List the venue's live options on ``underlying`` (``"BTC"``); ``[]`` if it has none.

    Used by ``gps chain``, by the nearest-listed hint for an unlisted leg, and by the
    conformance suite to pick an instrument.
    """


@hookspec(firstresult=True)
def gps_order_book(instrument: VenueInstrument, depth: int) -> OrderBook:
    """Fetch the order book, public data only (no credentials).

    :param instrument: as returned by ``gps_find_instrument`` for this venue.
    :param depth: the number of levels wanted per side; return at least the best level
        and as many as the venue gives up to ``depth``.
    :returns: an :class:`~gps_core.model.OrderBook` in the instrument's price currency,
        with ``usd_per_unit`` and ``index_price`` for conversion to USD.
    """


@hookspec(firstresult=True)
def gps_place(order: OrderRequest) -> OrderSnapshot:
    """Send one limit order to the venue. Send it **once**: never retry it inside the plugin.

    The order must carry ``order.client_order_id`` so it can be found again (Deribit:
    ``label``). If the venue's order id is computed before sending (Aevo's EIP-712
    digest), call ``order = order.record_before_send(venue_order_id=...)`` first: the core
    journals it durably before the request leaves (an ``OrderRequest`` never changes: the
    call returns the order with what was recorded).

    :param order: the :class:`~gps_core.model.OrderRequest`; its price is already on the
        tick and its quantity on the step.
    :returns: the venue's :class:`~gps_core.model.OrderSnapshot` of the accepted order
        (which may already be filled).
    :raises OrderRejected: the venue definitively refused it (with the venue's reason).
    :raises RateLimited: refused for rate; nothing was placed.
    :raises OutcomeUnknown: the order may or may not exist (timeout, dropped connection,
        5xx, unparsable reply). Never report such an outcome as rejected.
    """


@hookspec(firstresult=True)
def gps_order_status(order: OrderRequest) -> OrderSnapshot:
    """Look an order up at the venue.

    Use ``order.venue_order_id`` when it is set; otherwise find the order by
    ``order.client_order_id`` (and ``order.venue_data``). This is how the core settles
    an unknown outcome, so it must work for an order whose placement reply was lost.

    :raises OrderNotFound: the venue has no such order.
    :raises OutcomeUnknown: the lookup itself failed.
    """


@hookspec(firstresult=True)
def gps_cancel(order: OrderRequest) -> OrderSnapshot:
    """Cancel a working order and return its snapshot after the cancel.

    :raises OrderNotOpen: the order is no longer working (filled, cancelled, expired);
        the core then asks ``gps_order_status``. A filled order is never "cancelled".
    :raises OrderNotFound: the venue has no such order.
    :raises OutcomeUnknown: the cancel may or may not have happened.
    """


@hookspec(firstresult=True)
def gps_positions(underlying: str | None) -> list[Position]:
    """List the account's open option positions, from the venue's own positions endpoint.

    **Optional**: a venue without it still loads, and ``gps positions`` lists it as
    "positions unavailable"; ``gps close`` then offsets what the journal says the execution
    holds without a venue check (and says so). Added without changing ``HOOKSPEC_VERSION``
    because a plugin built before it is still complete.

    Called after ``gps_authenticate``. Read the venue's record, never gps's own journal
    (Deribit ``private/get_positions``, Aevo ``GET /positions``, a paper venue its store).

    :param underlying: only positions on this underlying (``"BTC"``), or ``None`` for all.
    :returns: a list of :class:`~gps_core.model.Position`, one per instrument with a non-zero
        size (signed: positive long, negative short); ``[]`` when nothing is held.
    :raises VenueError: the venue could not be asked or its reply was unreadable (the core
        reports it for that venue and carries on with the others).
    """


@hookspec(firstresult=True)
def gps_settlements(underlying: str | None) -> list[Settlement]:
    """List the positions the venue settled at expiry, oldest first. **Optional**.

    An option that expires while held is cash-settled by the venue (Deribit at 08:00 UTC on
    its expiry day, at its intrinsic value against the index) and is no longer in
    ``gps_positions``. With this hook ``gps close`` says a leg "expired and settled at ..."
    instead of trying to trade it, and ``gps positions --json`` lists the settlements. A venue
    without it still loads; closing a leg that is gone then says the venue holds nothing of it.
    Added without changing ``HOOKSPEC_VERSION`` because a plugin built before it is complete.

    :param underlying: only settlements on this underlying (``"BTC"``), or ``None`` for all.
    :returns: a list of :class:`~gps_core.model.Settlement`; ``[]`` when none.
    :raises VenueError: the venue could not be asked or its reply was unreadable.
    """


@hookspec(firstresult=True)
def gps_prepare_place(order: OrderRequest) -> PreparedSend | None:
    """Make one order ready to leave, for sending back-to-back with the others. **Optional**.

    The engine calls it for every order of a strategy (after their intents are journaled,
    right before sending, so a signature's timestamp is fresh), then fires all prepared
    orders in a tight loop and reads the replies concurrently (:mod:`gps_core.fire`). Do
    here everything ``gps_place`` would do before its request leaves (checks, JSON,
    signature, ``order.record_before_send``, the HTTP request bytes, a keep-alive connection
    checked to be open) and nothing that sends.

    :returns: a :class:`~gps_core.fire.PreparedSend`, or ``None`` to have this order sent
        with ``gps_place`` as usual. Its ``fire()`` raises
        :class:`~gps_core.errors.NetworkError` only when provably nothing left; its
        ``reply()`` returns or raises exactly as ``gps_place`` does. A prepared send is fired
        at most once and never re-sent: a retry after a ``NetworkError`` goes through
        ``gps_place``.
    :raises Exception: any error: nothing was sent, and the order goes through ``gps_place``.

    The core skips this hook when another plugin wraps ``gps_place`` (a risk guard sees
    every order).
    """


@hookspec(firstresult=True)
def gps_combo_offer(legs: list[ComboLeg], create: bool, depth: int) -> ComboOffer | None:
    """Offer several legs as one combo instrument, traded as one order. **Optional**.

    A venue that lists combo books (Deribit) implements it; gps then compares the combo's
    book with the legged plan (``--combo auto|always|never``) and, when it picks the combo,
    places, watches, cancels and journals it with ``gps_place`` / ``gps_order_status`` /
    ``gps_cancel`` like any order (the order's ``instrument`` is the combo). A venue without
    an implementation is never asked and its legs are placed one by one.

    :param legs: the legs routed to this venue, as the venue's symbols with signed
        whole-number ratios (``+1`` bought, ``-1`` sold, per unit of combo bought), in plan
        order; 2 to 4 legs.
    :param create: ``True`` when gps is about to execute (credentials checked): create the
        combo if the venue does not list it yet (Deribit ``private/create_combo``).
        ``False`` (``gps quote``, ``--dry-run`` on a real venue): offer only a combo that
        already exists, using public data; nothing is created.
    :param depth: the combo book levels wanted per side.
    :returns: a :class:`~gps_core.model.ComboOffer` (the combo instrument with its tick and
        size rules and ``combo_legs``, and its book; the venue may list the structure in the
        opposite direction, all ratios negated, and gps then sells it), or ``None`` when the
        venue has no combo for these legs.
    :raises VenueError: the venue could not be asked; gps then legs the strategy.
    """
