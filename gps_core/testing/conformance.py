"""The venue conformance suite: behavioural checks of a venue plugin's contract.

A plugin author supplies a :class:`Harness` — their venue plugin plus a fake venue (a fake
server or an in-memory transport) that the checks can steer — and gets every check below,
each with a stable id, skipped (with the reason) where the venue declares it does not
support what the check needs. Use it from pytest::

    from gps_core.testing.conformance import VenueConformance

    class TestMyVenueConformance(VenueConformance):
        @pytest.fixture
        def harness(self):
            with MyHarness() as h:
                yield h

or run it on an installed venue with ``gps venues certify NAME`` (the plugin exposes its
harness class under the entry-point group ``gps.harnesses``).
"""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable

from ..errors import AuthenticationError, OrderNotFound, OrderNotOpen, OrderRejected, OutcomeUnknown, RateLimited
from ..model import CLIENT_ORDER_ID_MAX_LENGTH, Capability, OrderRequest, Side, TimeInForce, VenueInfo, VenueInstrument
from ..plugins import PluginHost, Venue
from ..secrets import Secret

CANARY_PREFIX = "canary-secret-"


class Skip(Exception):
    """A check does not apply to this venue; the message says why."""


class Harness:
    """What a venue plugin provides so the suite can test it. Override the methods you support.

    The default implementations say "not supported", which skips the checks that need them.
    """

    #: the entry-point name of the venue under test
    name: str = ""
    #: what the checks run against, for ``gps venues certify`` ("a fake Acme REST server on
    #: 127.0.0.1"); certification never contacts the real venue
    certified_against: str = ""
    #: credentials that identify rather than authenticate (a wallet address, an account id);
    #: C13 does not require them to stay hidden
    public_credentials: tuple[str, ...] = ()

    def plugin(self) -> Any:
        """A fresh instance of the venue plugin, configured to talk to the fake venue."""
        raise NotImplementedError

    def credentials(self) -> dict[str, str]:
        """Credentials the fake venue accepts. The suite wraps them in Secret and checks they never leak."""
        return {}

    def underlying(self) -> str:
        return "BTC"

    # --- steering the fake venue ------------------------------------------------------
    def arrange(self, fault: str, **params) -> bool:
        """Make the fake venue misbehave on the next matching call. Return False if unsupported.

        Faults the suite uses: ``"rest"`` (the next order rests unfilled), ``"fill"`` (the next
        order fills completely at once), ``"partial"`` (``fraction=``; the next order fills that
        fraction and rests), ``"lose_reply"`` (the next order is accepted but its reply is lost),
        ``"rate_limit"`` (the next request is refused for rate, with a retry-after).
        """
        return False

    def orders_at_venue(self, client_order_id: str, order: OrderRequest | None = None) -> int:
        """How many orders the fake venue holds for this client order id (its book of record)."""
        raise Skip("the harness does not expose the fake venue's book of record")

    def close(self) -> None:
        pass

    def __enter__(self) -> "Harness":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass
class Context:
    harness: Harness
    venue: Venue
    info: VenueInfo
    plugin: Any = None
    secrets: dict[str, Secret] = field(default_factory=dict)
    sequence: int = 0

    def client_order_id(self, tag: str) -> str:
        self.sequence += 1
        return f"gps-certify-{tag}-{self.sequence}"


def build_context(harness: Harness) -> Context:
    host = PluginHost(environ={})
    plugin = harness.plugin()
    host.register(plugin, harness.name)
    venue = host.venue(harness.name)
    secrets = {k: Secret(v) for k, v in harness.credentials().items()}
    return Context(harness, venue, venue.info, plugin, secrets)


def _authenticated(ctx: Context) -> Venue:
    if not ctx.venue.authenticated:
        ctx.venue.authenticate(ctx.secrets)
    return ctx.venue


def _instrument(ctx: Context) -> VenueInstrument:
    instruments = [i for i in ctx.venue.list_instruments(ctx.harness.underlying()) if i.is_active and not i.is_expired()]
    if not instruments:
        raise AssertionError(f"gps_list_instruments({ctx.harness.underlying()!r}) returned no live instrument")
    return sorted(instruments, key=lambda i: (i.key.expiry, i.key.strike))[len(instruments) // 2]


class _Sent:
    """An order handed to a plugin, and the order as the plugin recorded it before sending
    (``record_before_send``), as the engine keeps it: lookups use :attr:`latest`."""

    def __init__(self, order: OrderRequest):
        self.order = order.with_updates(before_send=self._record)
        self.latest = self.order

    def _record(self, recorded: OrderRequest) -> None:
        self.latest = recorded


def _order(ctx: Context, tag: str, *, aggressive: bool, side: Side = Side.BUY, tif=TimeInForce.GTC) -> OrderRequest:
    instrument = _instrument(ctx)
    book = ctx.venue.order_book(instrument, 5)
    if aggressive:
        levels = book.side_to_take(side)
        assert levels, "the fake venue's book has no liquidity to take"
        price = levels[0].price
    else:
        levels = book.bids if side is Side.BUY else book.asks
        assert levels, "the fake venue's book has no resting side"
        price = instrument.round_price(levels[-1].price * (Decimal("0.5") if side is Side.BUY else Decimal(2)), side)
        price = max(price, instrument.tick_at(price))
    quantity = instrument.min_quantity
    if instrument.min_order_value:
        while quantity * price < instrument.min_order_value:
            quantity += instrument.quantity_step
    return OrderRequest(ctx.client_order_id(tag), instrument, side, quantity, price, tif)


def _need(ctx: Context, fault: str, **params) -> None:
    if not ctx.harness.arrange(fault, **params):
        raise Skip(f"the harness cannot arrange {fault!r}")


# --- the checks ---------------------------------------------------------------------------


def check_venue_info(ctx: Context) -> None:
    """C01: gps_venue_info describes the venue consistently."""
    info = ctx.info
    assert info.name == ctx.harness.name
    assert info.underlyings and info.price_currencies, "underlyings and price currencies must be declared"
    assert info.client_id_max_length >= CLIENT_ORDER_ID_MAX_LENGTH, \
        f"client order ids of gps need at least {CLIENT_ORDER_ID_MAX_LENGTH} characters"


def check_instruments(ctx: Context) -> None:
    """C02: listed instruments are found again by key, with sane trading rules."""
    instrument = _instrument(ctx)
    found = ctx.venue.find_instrument(instrument.key)
    assert found is not None and found.key == instrument.key and found.symbol == instrument.symbol
    for rule in ("tick_size", "min_quantity", "quantity_step"):
        assert getattr(found, rule) > 0, rule
    assert found.venue == ctx.info.name and found.price_currency in ctx.info.price_currencies


def check_unknown_instrument(ctx: Context) -> None:
    """C03: an option the venue does not list gives None, not an error."""
    from dataclasses import replace

    instrument = _instrument(ctx)
    missing = replace(instrument.key, strike=instrument.key.strike + Decimal("0.123"))
    assert ctx.venue.find_instrument(missing) is None


def check_order_book(ctx: Context) -> None:
    """C04: order books have depth, sorted best first, with a USD conversion."""
    book = ctx.venue.order_book(_instrument(ctx), 5)
    assert book.usd_per_unit > 0 and book.index_price > 0
    assert book.bids or book.asks
    assert list(book.bids) == sorted(book.bids, key=lambda l: -l.price)
    assert list(book.asks) == sorted(book.asks, key=lambda l: l.price)
    if book.bids and book.asks:
        assert book.bids[0].price < book.asks[0].price
    assert all(level.quantity > 0 for level in book.bids + book.asks)


def check_missing_credentials(ctx: Context) -> None:
    """C05: missing credentials raise AuthenticationError naming the variables."""
    if not ctx.info.credential_env:
        raise Skip("the venue needs no credentials")
    fresh = build_context(ctx.harness).venue
    try:
        fresh.authenticate({})
        fresh.place(_order(ctx, "nocred", aggressive=False))
    except AuthenticationError as exc:
        assert any(name in str(exc) for name in ctx.info.credential_env), str(exc)
        return
    raise AssertionError("placing without credentials did not raise AuthenticationError")


def check_place_status_cancel(ctx: Context) -> None:
    """C06: a resting order is placed, found, cancelled, and then reported cancelled."""
    _need(ctx, "rest")
    venue = _authenticated(ctx)
    sent = _Sent(_order(ctx, "rt", aggressive=False))
    placed = venue.place(sent.order)
    assert placed.status.value == "open" and placed.filled_quantity == 0
    assert placed.client_order_id == sent.order.client_order_id
    order = sent.latest.with_updates(venue_order_id=placed.venue_order_id or sent.latest.venue_order_id)
    assert venue.order_status(order).status.value == "open"
    cancelled = venue.cancel(order)
    assert cancelled.status.value == "cancelled"
    assert venue.order_status(order).status.value == "cancelled"


def check_found_by_client_order_id(ctx: Context) -> None:
    """C07: an order can be found by its client order id alone (plus what was recorded before sending)."""
    _need(ctx, "rest")
    venue = _authenticated(ctx)
    sent = _Sent(_order(ctx, "cid", aggressive=False))
    venue.place(sent.order)
    order = sent.latest
    lookup = order.with_updates(venue_order_id=order.venue_order_id if ctx.info.client_id_kind.value == "derived" else None)
    found = venue.order_status(lookup)
    assert found.client_order_id == order.client_order_id
    venue.cancel(order.with_updates(venue_order_id=found.venue_order_id))


def check_lost_reply_is_unknown(ctx: Context) -> None:
    """C08: a reply lost after acceptance is OutcomeUnknown, never OrderRejected, and settles by lookup."""
    _need(ctx, "lose_reply")
    venue = _authenticated(ctx)
    sent = _Sent(_order(ctx, "lost", aggressive=False))
    try:
        venue.place(sent.order)
    except OrderRejected as exc:
        raise AssertionError(f"a lost reply was reported as rejected: {exc}") from None
    except OutcomeUnknown:
        pass
    else:
        raise AssertionError("a lost reply was reported as accepted")
    order = sent.latest
    found = venue.order_status(order)
    assert found.client_order_id == order.client_order_id
    assert ctx.harness.orders_at_venue(order.client_order_id, order) == 1
    if found.is_working:
        venue.cancel(order.with_updates(venue_order_id=found.venue_order_id))


def check_cancel_filled(ctx: Context) -> None:
    """C09: cancelling a filled order raises OrderNotOpen, and the order stays filled."""
    _need(ctx, "fill")
    venue = _authenticated(ctx)
    sent = _Sent(_order(ctx, "filled", aggressive=True))
    placed = venue.place(sent.order)
    assert placed.status.value == "filled", placed
    order = sent.latest.with_updates(venue_order_id=placed.venue_order_id or sent.latest.venue_order_id)
    try:
        venue.cancel(order)
    except OrderNotOpen:
        pass
    else:
        raise AssertionError("cancel of a filled order did not raise OrderNotOpen")
    assert venue.order_status(order).status.value == "filled"


def check_partial_fill(ctx: Context) -> None:
    """C10: a partial fill is an open order with 0 < filled < quantity and an average price."""
    _need(ctx, "partial", fraction=Decimal("0.5"))
    venue = _authenticated(ctx)
    order = _order(ctx, "partial", aggressive=True)
    sent = _Sent(order.with_updates(quantity=order.quantity * 2))  # so that half of it is still a valid size
    placed = venue.place(sent.order)
    order = sent.latest.with_updates(venue_order_id=placed.venue_order_id or sent.latest.venue_order_id)
    status = venue.order_status(order)
    assert status.status.value == "open" and 0 < status.filled_quantity < status.quantity, status
    assert status.average_price is not None
    venue.cancel(order)


def check_rate_limit(ctx: Context) -> None:
    """C11: a rate-limited request raises RateLimited with retry_after, and places nothing."""
    _need(ctx, "rate_limit")
    venue = _authenticated(ctx)
    order = _order(ctx, "rl", aggressive=False)
    try:
        venue.place(order)
    except RateLimited as exc:
        assert exc.retry_after is not None and exc.retry_after >= 0
    else:
        raise AssertionError("no RateLimited raised")
    assert ctx.harness.orders_at_venue(order.client_order_id, order) == 0


def check_unknown_order(ctx: Context) -> None:
    """C12: looking up an order the venue never saw raises OrderNotFound."""
    venue = _authenticated(ctx)
    order = _order(ctx, "ghost", aggressive=False)
    if ctx.info.client_id_kind.value == "derived":
        order = order.with_updates(venue_order_id="0x" + "ab" * 32)
    try:
        venue.order_status(order)
    except OrderNotFound:
        return
    raise AssertionError("status of an unknown order did not raise OrderNotFound")


def check_no_secret_leaks(ctx: Context) -> None:
    """C13: no credential value appears in logs, reprs or error messages."""
    values = [s.reveal() for name, s in ctx.secrets.items() if s and name not in ctx.harness.public_credentials]
    if not values:
        raise Skip("the venue needs no credentials")
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record):
            records.append(self.format(record))

    handler = Collect(level=logging.DEBUG)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    texts: list[str] = []
    try:
        venue = _authenticated(ctx)
        order = _order(ctx, "leak", aggressive=False)
        for call in (lambda: venue.place(order), lambda: venue.order_status(order), lambda: venue.cancel(order)):
            try:
                texts.append(repr(call()))
            except Exception as exc:  # noqa: BLE001 - error texts are part of what is checked
                texts.append(f"{exc!r} {exc}")
        bad = build_context(ctx.harness).venue
        try:
            bad.authenticate({k: Secret(v.reveal() + "-wrong") for k, v in ctx.secrets.items()})
            bad.place(order.with_updates(client_order_id=ctx.client_order_id("leak2")))
        except Exception as exc:  # noqa: BLE001
            texts.append("".join(traceback.format_exception(exc)))
        texts.append(f"{ctx.plugin!r} {ctx.plugin!s} {vars(ctx.plugin) if hasattr(ctx.plugin, '__dict__') else ''}")
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    blob = "\n".join(records + texts)
    for value in values:
        assert value not in blob, "a credential value leaked into logs, reprs or errors"


def check_positions(ctx: Context) -> None:
    """C14: the optional gps_positions reports a fill from the venue's own record, signed and filtered."""
    if not ctx.venue.has_positions:
        raise Skip("the venue does not implement the optional gps_positions")
    _need(ctx, "fill")
    venue = _authenticated(ctx)
    order = _order(ctx, "pos", aggressive=True)
    before = {p.symbol: p.quantity for p in venue.positions(None)}
    placed = venue.place(order)
    assert placed.filled_quantity > 0, placed
    after = {p.symbol: p for p in venue.positions(order.instrument.key.underlying)}
    symbol = order.instrument.symbol
    assert symbol in after, f"gps_positions does not list {symbol} after a fill"
    held = after[symbol]
    assert held.quantity - before.get(symbol, Decimal(0)) == placed.filled_quantity, (before.get(symbol), held)
    assert held.venue == ctx.info.name and held.price_currency
    others = [u for u in ("BTC", "ETH", "SOL") if u != order.instrument.key.underlying]
    assert symbol not in {p.symbol for p in venue.positions(others[0])}, "the underlying filter is ignored"


def check_combo_offer(ctx: Context) -> None:
    """C15: a venue that offers combos (``gps_combo_offer``) returns a tradable combo of two legs, whose
    fill is reported per leg, and a resting combo order is found by client order id and cancelled."""
    from gps_core.model import ComboLeg

    if not ctx.venue.offers_combos:
        raise Skip("the venue does not implement the optional gps_combo_offer hook")
    near = _instrument(ctx)
    same = sorted((i for i in ctx.venue.list_instruments(ctx.harness.underlying())
                   if i.key.expiry == near.key.expiry and i.key.option_type == near.key.option_type
                   and i.is_active and not i.is_expired()), key=lambda i: i.key.strike)
    assert len(same) >= 2, "need two options of one expiry and type"
    low, high = same[len(same) // 2 - 1], same[len(same) // 2]
    venue = _authenticated(ctx)
    asked = {low.symbol: 1, high.symbol: -1}
    offer = venue.combo_offer([ComboLeg(s, r) for s, r in asked.items()], create=True, depth=5)
    assert offer is not None, "no combo offered for a two-leg spread of one expiry"
    legs = {leg.symbol: leg.ratio for leg in offer.legs}
    assert legs in (asked, {s: -r for s, r in asked.items()}), f"combo legs {legs} are not the legs asked for"
    combo = offer.instrument
    assert combo.is_combo and combo.venue == ctx.info.name and combo.symbol not in asked
    assert combo.tick_size > 0 and combo.min_quantity > 0 and combo.quantity_step > 0
    book = offer.book
    assert list(book.bids) == sorted(book.bids, key=lambda l: -l.price)
    assert list(book.asks) == sorted(book.asks, key=lambda l: l.price)
    if book.asks:
        order = OrderRequest(ctx.client_order_id("cf"), combo, Side.BUY, combo.min_quantity, book.asks[0].price)
        placed = venue.place(order)
        assert placed.client_order_id == order.client_order_id
        if placed.filled_quantity > 0:
            fills = {f.symbol: f.quantity for f in placed.leg_fills}
            assert fills == {s: abs(r) * placed.filled_quantity for s, r in legs.items()}, fills
    if Capability.GTC in ctx.info.capabilities:
        sent = _Sent(OrderRequest(ctx.client_order_id("cr"), combo, Side.BUY, combo.min_quantity,
                                  combo.tick_at(combo.tick_size)))
        if book.asks and book.asks[0].price <= sent.order.limit_price:
            raise Skip("the combo book offers at the smallest price: no resting price to test")
        placed = venue.place(sent.order)
        assert placed.status.value == "open" and placed.filled_quantity == 0
        assert venue.order_status(sent.latest).status.value == "open"
        resting = sent.latest.with_updates(venue_order_id=placed.venue_order_id or sent.latest.venue_order_id)
        assert venue.cancel(resting).status.value == "cancelled"


CHECKS: list[tuple[str, Callable[[Context], None], Capability | None]] = [
    ("C01-venue-info", check_venue_info, None),
    ("C02-instruments", check_instruments, None),
    ("C03-unknown-instrument", check_unknown_instrument, None),
    ("C04-order-book", check_order_book, None),
    ("C05-missing-credentials", check_missing_credentials, None),
    ("C06-place-status-cancel", check_place_status_cancel, Capability.GTC),
    ("C07-found-by-client-order-id", check_found_by_client_order_id, Capability.LOOKUP_BY_CLIENT_ID),
    ("C08-lost-reply-is-unknown", check_lost_reply_is_unknown, None),
    ("C09-cancel-filled", check_cancel_filled, None),
    ("C10-partial-fill", check_partial_fill, Capability.GTC),
    ("C11-rate-limit", check_rate_limit, None),
    ("C12-unknown-order", check_unknown_order, None),
    ("C13-no-secret-leaks", check_no_secret_leaks, None),
    ("C14-positions", check_positions, None),
    ("C15-combo-offer", check_combo_offer, None),
]


@dataclass
class CheckResult:
    id: str
    outcome: str  # "passed", "failed", "skipped"
    detail: str = ""

    def to_json(self) -> dict:
        return {"id": self.id, "outcome": self.outcome, "detail": self.detail}


def run_check(harness_factory: Callable[[], Harness], check_id: str) -> CheckResult:
    """Run one check against a fresh harness."""
    _, check, capability = next(c for c in CHECKS if c[0] == check_id)
    with harness_factory() as harness:
        try:
            ctx = build_context(harness)
            if capability is not None and not ctx.info.supports(capability):
                return CheckResult(check_id, "skipped", f"the venue does not declare capability {capability.value!r}")
            check(ctx)
        except Skip as exc:
            return CheckResult(check_id, "skipped", str(exc))
        except Exception as exc:  # noqa: BLE001 - a failing check is a result, not a crash
            return CheckResult(check_id, "failed", f"{type(exc).__name__}: {exc}".strip())
    return CheckResult(check_id, "passed")


def certify(harness_factory: Callable[[], Harness]) -> list[CheckResult]:
    """Every check, each against a fresh harness."""
    return [run_check(harness_factory, check_id) for check_id, _, _ in CHECKS]


class VenueConformance:
    """Subclass in a test module and provide a ``harness`` fixture; pytest collects one test per check."""

    def _run(self, harness: Harness, check_id: str) -> None:
        import pytest

        result = run_check(lambda: _Borrowed(harness), check_id)
        if result.outcome == "skipped":
            pytest.skip(result.detail)
        assert result.outcome == "passed", result.detail


class _Borrowed(Harness):
    """A harness owned by a pytest fixture: the suite uses it but does not close it."""

    def __init__(self, inner: Harness):
        self._inner = inner
        self.name = inner.name

    def __getattr__(self, item):
        return getattr(self._inner, item)

    def plugin(self):
        return self._inner.plugin()

    def credentials(self):
        return self._inner.credentials()

    def underlying(self):
        return self._inner.underlying()

    def arrange(self, fault, **params):
        return self._inner.arrange(fault, **params)

    def orders_at_venue(self, client_order_id, order=None):
        return self._inner.orders_at_venue(client_order_id, order)

    @property
    def public_credentials(self):
        return self._inner.public_credentials

    def close(self):
        pass


def _make_test(check_id: str):
    def test(self, harness):
        self._run(harness, check_id)

    test.__name__ = "test_" + check_id.replace("-", "_")
    test.__doc__ = dict((c[0], c[1].__doc__) for c in CHECKS)[check_id]
    return test


for _check_id, _, _ in CHECKS:
    setattr(VenueConformance, "test_" + _check_id.replace("-", "_"), _make_test(_check_id))
