"""The worst loss of a multi-leg option position: the model behind ``--max-loss``.

Pure arithmetic on :class:`Position` values (no venues, no I/O). The model, per underlying
(losses of different underlyings add; a gain on one offsets a loss on another only where it
is certain):

* Everything is valued at the underlying's **first expiry** ``T1``, at every index price
  ``S >= 0``. A leg expiring at ``T1`` pays its intrinsic value at ``S`` (exact).
* A **long leg expiring later** is valued at its intrinsic value at ``S``: what it can be
  sold for at least (the premise that an option trades at or above intrinsic).
* A **short leg expiring later** is not capped by its intrinsic value (time value can make
  it cost more, and it stays open after ``T1``), so it must be **covered**: held against long
  legs of the same underlying and type expiring no earlier. A covered pair is counted at its
  worst value ``-(K_long - K_short)+`` for calls, ``-(K_short - K_long)+`` for puts (a call
  spread is never worth less than minus its width). Covers are chosen greedily (best strike
  first), which may overstate the loss, never understate it.
* An uncovered later **short call** makes the loss unbounded. An uncovered later **short
  put** is counted at its strike, the most a put can ever cost.
* With one expiry this reduces to the exact payoff at expiry: piecewise linear in ``S``,
  its minimum is at ``S = 0``, at a strike, or (net short calls) unbounded above.

See ``docs/risk.md`` for the reasoning and its limits. Amounts are USD.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Sequence

from .instruments import OptionType
from .money import ZERO


@dataclass(frozen=True)
class Position:
    """One leg as the payoff model sees it.

    :param name: the instrument's canonical name, for messages.
    :param units: signed units of the underlying: ``+`` long, ``-`` short (contracts x contract size).
    """

    name: str
    underlying: str
    expiry: date
    strike: Decimal
    option_type: OptionType
    units: Decimal

    @property
    def is_call(self) -> bool:
        return self.option_type is OptionType.CALL

    def intrinsic(self, price: Decimal) -> Decimal:
        """Intrinsic value of one unit at index ``price`` (USD)."""
        return max(price - self.strike, ZERO) if self.is_call else max(self.strike - price, ZERO)


@dataclass(frozen=True)
class Cover:
    """``units`` of the later short leg ``short`` held against the long leg ``long`` (indexes)."""

    long: int
    short: int
    units: Decimal
    floor: Decimal  # the pair's lowest possible value, USD (zero or negative)


@dataclass(frozen=True)
class LossBound:
    """The model's answer for a whole position.

    :param worst_loss: the largest loss in USD (``>= 0``), fees and premiums included;
        ``None`` when the loss is unbounded.
    :param unbounded_reason: why there is no bound (one line), when ``worst_loss`` is ``None``.
    :param basis: one line per assumption the figure rests on (empty for a single expiry).
    :param covers: the later short legs and the long legs held against them.
    """

    worst_loss: Decimal | None
    unbounded_reason: str | None = None
    basis: tuple[str, ...] = ()
    covers: tuple[Cover, ...] = ()


def _short_date(day: date) -> str:
    return f"{day.day}{day.strftime('%b').upper()}{day.year % 100:02d}"


def _pair_floor(long: Position, short: Position) -> Decimal:
    """The lowest value of one unit of ``long`` minus one unit of ``short`` (same type)."""
    width = long.strike - short.strike if long.is_call else short.strike - long.strike
    return -max(width, ZERO)


def worst_loss(positions: Sequence[Position], cost: Decimal) -> LossBound:
    """The worst loss of ``positions`` bought for ``cost`` USD (negative: received), per the model above."""
    total = -cost
    covers: list[Cover] = []
    basis: list[str] = []
    for underlying in sorted({p.underlying for p in positions}):
        indexes = [i for i, p in enumerate(positions) if p.underlying == underlying]
        first = min(positions[i].expiry for i in indexes)
        left = {i: abs(positions[i].units) for i in indexes}
        if any(positions[i].expiry > first for i in indexes):
            basis.append(f"{underlying}: valued at its first expiry {_short_date(first)}; "
                         "later long legs at their intrinsic value then")
        later_shorts = sorted((i for i in indexes if positions[i].units < 0 and positions[i].expiry > first),
                              key=lambda i: (positions[i].expiry, positions[i].strike), reverse=True)
        for s in later_shorts:
            short = positions[s]
            sign = 1 if short.is_call else -1  # calls: lowest long strike covers best; puts: highest
            longs = sorted((j for j in indexes if positions[j].units > 0 and positions[j].option_type is short.option_type
                            and positions[j].expiry >= short.expiry),
                           key=lambda j: (sign * positions[j].strike, positions[j].expiry))
            for j in longs:
                take = min(left[s], left[j])
                if take > 0:
                    floor = _pair_floor(positions[j], short) * take
                    covers.append(Cover(j, s, take, floor))
                    left[s] -= take
                    left[j] -= take
                    total += floor
                    basis.append(f"{short.name} (short) held against {positions[j].name}: "
                                 f"counted at its worst, {floor:.2f} USD")
            if left[s] > 0:
                if short.is_call:
                    return LossBound(None, f"{short.name} is a short call left uncovered after "
                                           f"{_short_date(first)}", tuple(basis), tuple(covers))
                total -= left[s] * short.strike
                basis.append(f"{short.name} (short put, not covered) counted at its strike")
        # Legs expiring at T1 and the long legs not used as cover, all at intrinsic at T1.
        at_first = [(positions[i], left[i] if positions[i].units > 0 else -left[i]) for i in indexes
                    if positions[i].expiry == first or positions[i].units > 0]
        at_first = [(p, units) for p, units in at_first if units != 0]
        slope_above = sum((units for p, units in at_first if p.is_call), ZERO)
        if slope_above < 0:
            return LossBound(None, f"net short {-slope_above.normalize():f} {underlying} calls at "
                                   f"{_short_date(first)}: the loss grows as {underlying} rises",
                             tuple(basis), tuple(covers))
        prices = {ZERO} | {p.strike for p, _ in at_first}
        total += min(sum((units * p.intrinsic(price) for p, units in at_first), ZERO) for price in prices)
    return LossBound(max(-total, ZERO), None, tuple(basis), tuple(covers))


# --- the payoff profile: what the plan shows and charts ------------------------------------


@dataclass(frozen=True)
class PayoffProfile:
    """The P&L of one underlying's positions at its first expiry, against the index price.

    Every leg is valued at its intrinsic value at the first expiry ``T1`` (exact for the legs
    expiring then; for later long legs the floor the model above uses). Piecewise linear in
    the index ``S`` with kinks at the strikes.

    :param max_profit: the largest P&L in USD, ``None`` when it grows without limit (net long
        calls); with later short legs it is optimistic (their time value is left out).
    :param breakevens: index prices (USD) where the P&L crosses zero, ascending; exact.
    :param slope_above: USD of P&L per USD of index above the highest strike.
    """

    expiry: date
    kinks: tuple[Decimal, ...]
    max_profit: Decimal | None
    breakevens: tuple[Decimal, ...]
    slope_above: Decimal
    positions: tuple[Position, ...]
    cost: Decimal

    def pnl(self, price: Decimal) -> Decimal:
        """P&L in USD at index ``price`` (USD) at the first expiry, premiums and fees included."""
        return sum((p.units * p.intrinsic(price) for p in self.positions), ZERO) - self.cost


def payoff_profile(positions: Sequence[Position], cost: Decimal) -> PayoffProfile:
    """The :class:`PayoffProfile` of ``positions`` (one underlying) bought for ``cost`` USD (negative: received).

    :raises ValueError: for no positions or positions on more than one underlying.
    """
    if not positions or len({p.underlying for p in positions}) != 1:
        raise ValueError("a payoff profile needs positions on exactly one underlying")
    first = min(p.expiry for p in positions)
    kinks = tuple(sorted({p.strike for p in positions}))
    slope_above = sum((p.units for p in positions if p.is_call), ZERO)
    profile = PayoffProfile(first, kinks, None, (), slope_above, tuple(positions), cost)
    points = [ZERO, *[k for k in kinks if k > 0]]
    values = [profile.pnl(s) for s in points]
    max_profit = None if slope_above > 0 else max(values)
    breakevens: list[Decimal] = []
    for i, (s, v) in enumerate(zip(points, values)):
        if v == 0:
            breakevens.append(s)
        elif i + 1 < len(points) and v * values[i + 1] < 0:  # a crossing strictly inside the segment
            s1, v1 = points[i + 1], values[i + 1]
            breakevens.append(s + (s1 - s) * v / (v - v1))
    last, v_last = points[-1], values[-1]
    if slope_above != 0 and v_last * slope_above < 0:  # heads back to zero above the highest strike
        breakevens.append(last - v_last / slope_above)
    return PayoffProfile(first, kinks, max_profit, tuple(breakevens), slope_above, tuple(positions), cost)


def curve_prices(profile: PayoffProfile, index: Decimal | None = None, points: int = 61,
                 also: Sequence[Decimal] = ()) -> list[Decimal]:
    """Index prices to evaluate the curve at: an even grid around the strikes, the breakevens,
    the index and ``also`` (prices that must be on the chart, such as each leg's own
    breakeven), with a margin of a quarter of that span (at least 5% of the highest) either
    side, plus every one of those prices inside the grid, ascending. USD."""
    anchors = list(profile.kinks) + list(profile.breakevens) + ([index] if index else []) + \
        [a for a in also if a > 0]
    low, high = min(anchors), max(anchors)
    width = max(high - low, high * Decimal("0.2"))
    start, stop = max(ZERO, low - width * Decimal("0.25")), high + width * Decimal("0.25")
    step = (stop - start) / (points - 1)
    grid = {(start + step * i).quantize(Decimal("0.01")) for i in range(points)}
    grid |= {k.quantize(Decimal("0.01")) for k in anchors if start <= k <= stop}
    return sorted(grid)
