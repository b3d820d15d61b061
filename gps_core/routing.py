"""Routing: a pure function from (strategy, quotes, options) to an execution plan.

For each leg it walks every venue's book for the leg's size (asks for a buy, bids for a
sell), adds the venue's fees, converts to USD and picks the best. The limit price sent is
the best price moved by the slippage cap and snapped to the tick in the direction that
keeps the bound (buys down, sells up), so the venue itself enforces the cap.
Nothing here does I/O, which keeps it easy to test table-driven.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Mapping, Sequence

from .errors import RoutingError, VenuesUnreachable
from .model import OrderBook, Side, VenueInstrument, utcnow
from .money import ZERO, format_decimal, format_usd, is_multiple
from .payoff import LossBound, Position, worst_loss
from .strategy import Leg, Strategy

DEFAULT_MAX_SLIPPAGE = Decimal("0.02")


@dataclass(frozen=True)
class Quote:
    """One venue's answer for one leg: its listing and book, or why it has none."""

    venue: str
    instrument: VenueInstrument | None = None
    book: OrderBook | None = None
    error: str | None = None
    #: the venue could not be asked (connection refused, timeout, error reply): it is down, not
    #: merely without the instrument; the plan says so.
    failed: bool = False
    #: for a venue that does not list the leg: the nearest options it does list (one line).
    nearest: str | None = None


#: How long a one-line note about a venue may be (plan text, report text).
NOTE_LENGTH = 90


def short_line(text: str, limit: int = NOTE_LENGTH) -> str:
    """``text`` on one line, cut to ``limit`` characters with an ellipsis."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


@dataclass(frozen=True)
class UnpricedVenue:
    """A selected venue that could not be priced: the plan was made without it."""

    venue: str
    reason: str

    @property
    def line(self) -> str:
        """One short line for the plan and the report."""
        return short_line(f"{self.venue} could not be priced: {self.reason.removeprefix('quote failed: ')}")


def unpriced_venues(quotes: Mapping[int, Sequence[Quote]]) -> tuple[UnpricedVenue, ...]:
    """The venues with a failed quote for any leg (the first failure's words), by name."""
    found: dict[str, str] = {}
    for index in sorted(quotes):
        for quote in quotes[index]:
            if quote.failed and quote.venue not in found:
                found[quote.venue] = quote.error or "quote failed"
    return tuple(UnpricedVenue(name, found[name]) for name in sorted(found))


@dataclass(frozen=True)
class Market:
    """Where a plan's prices come from and what its orders are.

    :param kind: ``live`` (real orders), ``paper`` (a paper venue's own market) or ``dry-run``
        (real venues' public books, fills simulated).
    :param offline: the prices are the dryrun venue's generated market, not a real venue's.
    :param note: one line on why these venues, when it is not what was asked for.
    """

    kind: str
    offline: bool = False
    note: str | None = None


@dataclass(frozen=True)
class Fill:
    """The result of walking a book for a size up to a limit."""

    quantity: Decimal
    average_price: Decimal | None


def walk_book(book: OrderBook, side: Side, quantity: Decimal, limit: Decimal | None = None) -> Fill:
    """How much of ``quantity`` the book fills at prices no worse than ``limit``, and at what average."""
    remaining, notional = quantity, ZERO
    for level in book.side_to_take(side):
        if limit is not None and (level.price > limit if side is Side.BUY else level.price < limit):
            break
        take = min(remaining, level.quantity)
        notional += take * level.price
        remaining -= take
        if remaining <= 0:
            break
    filled = quantity - remaining
    return Fill(filled, notional / filled if filled > 0 else None)


@dataclass(frozen=True)
class Candidate:
    """A venue's offer for one leg, with the numbers routing compares."""

    venue: str
    instrument: VenueInstrument | None
    book: OrderBook | None
    limit_price: Decimal | None = None
    expected_price: Decimal | None = None
    best_price: Decimal | None = None
    fee_per_contract: Decimal | None = None  # price currency
    usd_per_contract: Decimal | None = None  # price +/- fee, in USD; lower is better for a buy
    reason: str | None = None  # why the venue cannot take the leg

    @property
    def eligible(self) -> bool:
        return self.reason is None


@dataclass(frozen=True)
class PlannedLeg:
    """One leg of a plan: where it goes and at what price."""

    index: int
    leg: Leg
    venue: str
    instrument: VenueInstrument
    limit_price: Decimal
    expected_price: Decimal
    expected_fee: Decimal  # total, price currency
    usd_per_unit: Decimal
    book: OrderBook = field(repr=False)
    alternatives: tuple[Candidate, ...] = field(default=(), repr=False)
    best_price: Decimal | None = None  # the book's best price for the leg's side when planned

    @property
    def effective_slippage(self) -> Decimal | None:
        """How far the limit is from the best price, as a fraction (what the tick left of the cap)."""
        if not self.best_price:
            return None
        return (self.limit_price - self.best_price) * self.side.sign / self.best_price

    def tick_exceeds_slippage(self, max_slippage: Decimal) -> bool:
        """The tick is larger than the slippage budget, so the limit snapped back to the best price."""
        return max_slippage > 0 and self.best_price is not None and self.limit_price == self.best_price

    @property
    def side(self) -> Side:
        return self.leg.side

    @property
    def quantity(self) -> Decimal:
        return self.leg.quantity

    @property
    def price_currency(self) -> str:
        return self.instrument.price_currency

    def cash_usd(self, price: Decimal) -> Decimal:
        """USD paid (positive) or received (negative) at ``price``, fees included."""
        fee = self.instrument.fees.fee_per_contract(price, self.book.underlying_value()) * self.quantity
        return (self.leg.side.sign * price * self.quantity + fee) * self.usd_per_unit

    @property
    def expected_cost_usd(self) -> Decimal:
        return self.cash_usd(self.expected_price)

    @property
    def worst_cost_usd(self) -> Decimal:
        return self.cash_usd(self.limit_price)

    @property
    def expected_fee_usd(self) -> Decimal:
        return self.expected_fee * self.usd_per_unit

    @property
    def reference_cost_usd(self) -> Decimal | None:
        ref = self.leg.reference_price
        if ref is None or ref.currency not in ("USD", "USDC", "USDT"):
            return None
        return self.leg.side.sign * ref.amount * self.quantity


@dataclass(frozen=True)
class PlannedCombo:
    """Several legs of a plan traded as one order on one venue's combo book (see :mod:`gps_core.combo`).

    :param leg_indices: the plan legs it trades (indices into ``Plan.legs``).
    :param instrument: the combo instrument (``symbol`` = the venue's combo id).
    :param side: buy or sell the combo (sell when the venue lists the structure the other way).
    :param quantity: units of the combo; leg ``i`` trades ``|ratio_i| * quantity``.
    :param limit_price: net premium per unit, on the combo tick, slippage-capped.
    :param expected_price: the combo book's average for the full size (``None`` when the
        book cannot fill it: the order then rests at the limit).
    :param expected_fee: total fees expected, in the price currency.
    :param legged_cost_usd: what the same legs cost placed one by one (the comparison).
    """

    venue: str
    leg_indices: tuple[int, ...]
    instrument: VenueInstrument
    side: Side
    quantity: Decimal
    limit_price: Decimal
    expected_price: Decimal | None
    best_price: Decimal | None
    expected_fee: Decimal
    usd_per_unit: Decimal
    legged_cost_usd: Decimal
    reason: str
    book: OrderBook | None = field(default=None, repr=False)

    def cash_usd(self, price: Decimal) -> Decimal:
        """USD paid (+) or received (-) for the whole combo at ``price``, fees included."""
        return (self.side.sign * price * self.quantity + self.expected_fee) * self.usd_per_unit

    @property
    def expected_cost_usd(self) -> Decimal:
        return self.cash_usd(self.limit_price if self.expected_price is None else self.expected_price)

    @property
    def worst_cost_usd(self) -> Decimal:
        return self.cash_usd(self.limit_price)

    @property
    def expected_fee_usd(self) -> Decimal:
        return self.expected_fee * self.usd_per_unit


@dataclass(frozen=True)
class Plan:
    """Where every leg goes, and what the whole strategy is expected to cost.

    ``combos``: groups of legs traded as one combo order each (their ``legs`` entries stay,
    for the per-leg view, but are not placed on their own); ``combo_notes``: one line per
    venue on why gps chose the combo or the legs.
    """

    strategy: Strategy
    legs: tuple[PlannedLeg, ...]
    max_slippage: Decimal
    loss: LossBound = LossBound(None, "not computed")  # the worst loss at the limit prices (gps_core.payoff)
    market: Market | None = None
    unpriced: tuple[UnpricedVenue, ...] = ()
    combos: tuple[PlannedCombo, ...] = ()
    combo_notes: tuple[str, ...] = ()
    #: one line each: what the plan's figures do not show (see :mod:`gps_core.plan_warnings`)
    warnings: tuple[str, ...] = ()

    @property
    def max_loss_usd(self) -> Decimal | None:
        """The worst loss in USD at the limit prices, fees included; ``None`` when unbounded."""
        return self.loss.worst_loss

    @property
    def legged(self) -> tuple[PlannedLeg, ...]:
        """The legs placed one by one (not in a combo)."""
        in_combo = {i for combo in self.combos for i in combo.leg_indices}
        return tuple(leg for leg in self.legs if leg.index not in in_combo)

    def combo_of(self, index: int) -> PlannedCombo | None:
        return next((c for c in self.combos if index in c.leg_indices), None)

    @property
    def order_count(self) -> int:
        """How many orders the plan sends: one per legged leg, one per combo."""
        return len(self.legged) + len(self.combos)

    @property
    def expected_cost_usd(self) -> Decimal:
        return sum((x.expected_cost_usd for x in (*self.legged, *self.combos)), ZERO)

    @property
    def worst_cost_usd(self) -> Decimal:
        return sum((x.worst_cost_usd for x in (*self.legged, *self.combos)), ZERO)

    @property
    def fees_usd(self) -> Decimal:
        return sum((x.expected_fee_usd for x in (*self.legged, *self.combos)), ZERO)

    @property
    def reference_cost_usd(self) -> Decimal | None:
        refs = [leg.reference_cost_usd for leg in self.legs]
        return None if any(r is None for r in refs) else sum(refs, ZERO)

    @property
    def venues(self) -> list[str]:
        return sorted({leg.venue for leg in self.legs})


def evaluate(leg: Leg, quote: Quote, max_slippage: Decimal) -> Candidate:
    """Judge one venue's offer for one leg."""
    def refuse(reason: str) -> Candidate:
        return Candidate(quote.venue, quote.instrument, quote.book, reason=reason)

    if quote.error:
        return refuse(quote.error)
    instrument, book = quote.instrument, quote.book
    if instrument is None:
        return refuse("does not list it" + (f" ({quote.nearest})" if quote.nearest else ""))
    if not instrument.is_active:
        return refuse("instrument is not active")
    if book is None:
        return refuse("no order book")
    if leg.quantity < instrument.min_quantity:
        return refuse(f"quantity {format_decimal(leg.quantity)} is below the minimum "
                      f"{format_decimal(instrument.min_quantity)}")
    if not is_multiple(leg.quantity, instrument.quantity_step):
        return refuse(f"quantity {leg.quantity} is not a multiple of the step {instrument.quantity_step}")
    levels = book.side_to_take(leg.side)
    if not levels:
        return refuse(f"no {'asks' if leg.side is Side.BUY else 'bids'} in the book")
    best = levels[0].price
    capped = best * (1 + max_slippage) if leg.side is Side.BUY else best * (1 - max_slippage)
    limit = instrument.round_price(capped, leg.side)
    if limit <= 0:
        return refuse("the limit price would be zero")
    fill = walk_book(book, leg.side, leg.quantity, limit)
    if fill.quantity < leg.quantity:
        return refuse(
            f"only {format_decimal(fill.quantity)} of {format_decimal(leg.quantity)} available within "
            f"{max_slippage * 100:.2f}% of the best price"
        )
    if instrument.min_order_value is not None and leg.quantity * limit < instrument.min_order_value:
        return refuse(f"order value is below the minimum {format_decimal(instrument.min_order_value)} "
                      f"{instrument.price_currency}")
    assert fill.average_price is not None
    fee = instrument.fees.fee_per_contract(fill.average_price, book.underlying_value())
    effective = (fill.average_price + fee) if leg.side is Side.BUY else (fill.average_price - fee)
    return Candidate(
        quote.venue, instrument, book, limit, fill.average_price, best, fee, effective * book.usd_per_unit
    )


def check_before_pricing(max_slippage: Decimal) -> None:
    """The option checks of :func:`plan_strategy` that need no quote, so callers run them before asking any venue.

    (A leg's expiry is checked when planning: a paper market dated in the past trades what had
    not expired on its date.)

    :param max_slippage: fraction; at least 0 and below 1 (100% would allow a buy at twice the
        best price, or a sell at nothing).
    :raises RoutingError: the slippage cap is out of bounds.
    """
    if max_slippage < 0 or max_slippage >= 1:
        raise RoutingError(f"--max-slippage must be at least 0% and below 100%, got {format_decimal(max_slippage * 100)}%")


def plan_strategy(
    strategy: Strategy,
    quotes: Mapping[int, Sequence[Quote]],
    *,
    max_slippage: Decimal = DEFAULT_MAX_SLIPPAGE,
    max_loss: Decimal | None = None,
    now: datetime | None = None,
    market: Market | None = None,
    one_venue: bool = False,
    max_premium_drift: Decimal | None = None,
    closing: bool = False,
) -> Plan:
    """Route every leg to its best venue; raise :class:`RoutingError` when a leg cannot be routed.

    ``closing`` (``gps close``): the legs offset held positions, so a sell is no new short and
    the split-cover warnings (which are about shorts a plan opens) do not apply.

    :param quotes: for each leg index, the quotes of every venue considered.
    :param max_slippage: fraction (``0.02`` = 2%) the limit may be worse than the best price.
    :param max_loss: refuse the plan when its worst loss (USD, see :mod:`gps_core.payoff`) is
        larger, or cannot be bounded.
    :param market: where the quotes come from, carried into the plan for the plan's text.
    :param one_venue: route every leg to the one venue that lists them all at the best total
        executable cost (USD, fees included); :class:`RoutingError` if no venue lists them all.
    :param max_premium_drift: percent; refuse a leg whose executable price is further than this
        (and than :data:`~gps_core.plan_warnings.DRIFT_USD`) from its card premium.
    """
    from .plan_warnings import (DRIFT_USD, premium_drift, premium_drift_warnings, split_cover_warnings)

    check_before_pricing(max_slippage)
    moment = now or utcnow()
    planned = []
    for index, leg in enumerate(strategy.legs):
        if leg.instrument.is_expired(moment):
            hint = ""
            if market is not None and market.offline:
                # The paper market's date is known only from its books' timestamps (``now``); with
                # no book for any leg, the real clock judged the expiry and is not the market's date.
                dated = f"the paper market's date is {now.date().isoformat()}; " if now is not None else ""
                hint = f" ({dated}set GPS_DRYRUN_ASOF=YYYY-MM-DD to paper-trade an older card)"
            raise RoutingError(f"leg {index + 1}: {leg.instrument.name} has expired{hint}")
    every = [[evaluate(leg, quote, max_slippage) for quote in quotes.get(index, ())]
             for index, leg in enumerate(strategy.legs)]
    for index, (leg, candidates) in enumerate(zip(strategy.legs, every)):
        if not any(c.eligible for c in candidates):
            why = "; ".join(f"{c.venue}: {c.reason}" for c in candidates) or "no venue was asked"
            asked = quotes.get(index, ())
            down = bool(asked) and all(q.failed for q in asked)
            raise (VenuesUnreachable if down else RoutingError)(
                f"leg {index + 1} ({leg.describe()}) cannot be routed: {why}")
    chosen = _one_venue(strategy, every) if one_venue else None
    for index, leg in enumerate(strategy.legs):
        candidates = every[index]
        eligible = [c for c in candidates if c.eligible]
        # Lowest USD cost for a buy, highest USD proceeds for a sell; ties go to the venue name.
        best = chosen[index] if chosen else min(eligible, key=lambda c: (leg.side.sign * c.usd_per_contract, c.venue))
        assert best.instrument and best.book and best.limit_price and best.expected_price is not None
        planned.append(
            PlannedLeg(
                index=index,
                leg=leg,
                venue=best.venue,
                instrument=best.instrument,
                limit_price=best.limit_price,
                expected_price=best.expected_price,
                expected_fee=(best.fee_per_contract or ZERO) * leg.quantity,
                usd_per_unit=best.book.usd_per_unit,
                book=best.book,
                alternatives=tuple(candidates),
                best_price=best.best_price,
            )
        )
    legs = tuple(planned)
    if max_premium_drift is not None:
        for p in legs:
            drift = premium_drift(p)
            if drift is not None and drift[0] > max_premium_drift and drift[1] > DRIFT_USD:
                raise RoutingError(
                    f"leg {p.index + 1} {p.leg.instrument.name}: executable price "
                    f"${p.expected_price * p.usd_per_unit:,.2f} on {p.venue} is {drift[0]:.0f}% off the card's premium "
                    f"${p.leg.reference_price.amount:,.2f}, over --max-premium-drift {format_decimal(max_premium_drift)}%")
    warnings = tuple(([] if closing else split_cover_warnings(legs)) + premium_drift_warnings(legs))
    plan = Plan(strategy, legs, max_slippage, worst_loss_at_expiry(legs), market, unpriced_venues(quotes),
                warnings=warnings)
    check_max_loss(plan, max_loss)
    return plan


def check_max_loss(plan: Plan, max_loss: Decimal | None) -> None:
    """Refuse ``plan`` (:class:`RoutingError`) when its worst loss in USD, at the limit prices of the
    orders it would send (legs or combos), is unbounded or over ``max_loss``; nothing when ``None``."""
    if max_loss is None:
        return
    if plan.max_loss_usd is None:
        raise RoutingError(f"the loss is unbounded ({plan.loss.unbounded_reason}); "
                           f"--max-loss {format_usd(max_loss)} refuses it")
    if plan.max_loss_usd > max_loss:
        raise RoutingError(
            f"worst loss is {format_usd(plan.max_loss_usd.quantize(Decimal('0.01')))} at the limit prices, "
            f"over --max-loss {format_usd(max_loss)}"
        )


def _one_venue(strategy: Strategy, every: Sequence[Sequence[Candidate]]) -> list[Candidate]:
    """``--one-venue``: per leg, the candidate of the single venue that takes every leg at the
    best total USD cost (ties to the venue name). :class:`RoutingError` when no venue takes them all."""
    from .plan_warnings import total_usd

    names = sorted({c.venue for candidates in every for c in candidates})
    whole: dict[str, list[Candidate]] = {}
    missing: dict[str, str] = {}
    for name in names:
        picked = []
        for index, candidates in enumerate(every):
            offer = next((c for c in candidates if c.venue == name), None)
            if offer is None or not offer.eligible:
                missing[name] = f"leg {index + 1}: {offer.reason if offer else 'not asked'}"
                break
            picked.append(offer)
        else:
            whole[name] = picked
    if not whole:
        why = "; ".join(f"{name} {missing[name]}" for name in names) or "no venue was asked"
        raise RoutingError(f"--one-venue: no venue takes every leg ({why})")
    best = min(whole, key=lambda name: (total_usd(whole[name], strategy.legs), name))
    return whole[best]


def worst_loss_at_expiry(legs: Sequence[PlannedLeg], worst_cost_usd: Decimal | None = None) -> LossBound:
    """The planned legs' worst loss at the limit prices, fees included (see :mod:`gps_core.payoff`).

    ``worst_cost_usd``: the plan's cost at its limits when it is not the legs' own (combos).
    """
    positions = [
        Position(p.leg.instrument.name, p.leg.instrument.underlying, p.leg.instrument.expiry, p.leg.instrument.strike,
                 p.leg.instrument.option_type, p.side.sign * p.quantity * p.instrument.contract_size)
        for p in legs
    ]
    if worst_cost_usd is None:
        worst_cost_usd = sum((p.worst_cost_usd for p in legs), ZERO)
    return worst_loss(positions, worst_cost_usd)
