"""Warnings a plan carries (text and JSON) that do not stop it: pure functions of the planned legs.

* **Split cover**: a short leg routed to one venue while the long leg that bounds its loss
  (same underlying and type, expiring no earlier; paired as :mod:`gps_core.payoff` pairs
  them: calls with the lowest long strike first, puts with the highest) goes to another.
  Each venue then margins an uncovered piece; the plan's worst loss (for the strategy as a
  whole) does not show that.
* **Premium drift**: a leg's executable price (the average price of the book walk, USD per
  contract, fees excluded) differs from the card's premium (its reference price) by more
  than :data:`DRIFT_PERCENT` percent *and* more than :data:`DRIFT_USD` USD: a stale card, or a
  different contract than the card priced.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Sequence

from .instruments import OptionType
from .money import ZERO

#: Premium drift warned about by default: both thresholds must be exceeded.
DRIFT_PERCENT = Decimal("50")
DRIFT_USD = Decimal("5")
_USD = ("USD", "USDC", "USDT")


def split_cover_warnings(legs: Sequence) -> list[str]:
    """One line per short leg whose cover (or part of it) is routed to another venue.

    :param legs: :class:`~gps_core.routing.PlannedLeg` values.
    """
    left = {p.index: p.quantity * p.instrument.contract_size for p in legs}
    shorts = sorted((p for p in legs if p.side.sign < 0),
                    key=lambda p: (p.leg.instrument.expiry, p.leg.instrument.strike), reverse=True)
    lines = []
    for short in shorts:
        key = short.leg.instrument
        calls = key.option_type is OptionType.CALL
        longs = sorted((p for p in legs if p.side.sign > 0 and p.leg.instrument.underlying == key.underlying
                        and p.leg.instrument.option_type is key.option_type and p.leg.instrument.expiry >= key.expiry),
                       key=lambda p: ((1 if calls else -1) * p.leg.instrument.strike, p.leg.instrument.expiry))
        for long in longs:
            take = min(left[short.index], left[long.index])
            if take <= 0:
                continue
            left[short.index] -= take
            left[long.index] -= take
            if long.venue != short.venue:
                lines.append(
                    f"leg {short.index + 1} short {key.name} on {short.venue} is covered by leg {long.index + 1} "
                    f"on {long.venue}: each venue margins its own leg; --venue NAME or --one-venue keeps the "
                    "strategy together")
    return lines


def uncovered_shorts(held: Sequence[tuple]) -> list[tuple]:
    """The shorts of a position that no long in it covers: ``[(key, venue, uncovered contracts)]``.

    :param held: ``(OptionKey, venue, signed contracts)`` rows (negative: short). A short call is
        covered by a long call on the same underlying expiring no earlier (lowest strike first), a
        short put by such a long put (highest strike first), as :func:`split_cover_warnings`
        pairs them; the cover may be on another venue.
    """
    left = {i: abs(q) for i, (_, _, q) in enumerate(held)}
    found = []
    shorts = sorted((i for i, (_, _, q) in enumerate(held) if q < 0),
                    key=lambda i: (held[i][0].expiry, held[i][0].strike), reverse=True)
    for i in shorts:
        key = held[i][0]
        calls = key.option_type is OptionType.CALL
        longs = sorted((j for j, (k, _, q) in enumerate(held) if q > 0 and k.underlying == key.underlying
                        and k.option_type is key.option_type and k.expiry >= key.expiry),
                       key=lambda j: ((1 if calls else -1) * held[j][0].strike, held[j][0].expiry))
        for j in longs:
            take = min(left[i], left[j])
            left[i] -= take
            left[j] -= take
        if left[i] > 0:
            found.append((key, held[i][1], left[i]))
    return found


def premium_drift(planned) -> tuple[Decimal, Decimal] | None:
    """``(percent, usd)`` by which a planned leg's executable price differs from its card premium.

    ``None`` when the leg has no USD reference price (or a zero one).
    """
    ref = planned.leg.reference_price
    if ref is None or ref.currency not in _USD or ref.amount <= 0:
        return None
    price = planned.expected_price * planned.usd_per_unit
    usd = abs(price - ref.amount)
    return usd * 100 / ref.amount, usd


def premium_drift_warnings(legs: Sequence, percent: Decimal = DRIFT_PERCENT, usd: Decimal = DRIFT_USD) -> list[str]:
    """One line per leg whose executable price is more than ``percent`` % and ``usd`` USD off its premium."""
    lines = []
    for p in legs:
        drift = premium_drift(p)
        if drift is not None and drift[0] > percent and drift[1] > usd:
            price = p.expected_price * p.usd_per_unit
            lines.append(
                f"leg {p.index + 1} {p.leg.instrument.name}: executable price ${price:,.2f} on {p.venue} is "
                f"{drift[0]:.0f}% off the card's premium ${p.leg.reference_price.amount:,.2f}: the card may be stale")
    return lines


def total_usd(candidates: Sequence, legs: Sequence) -> Decimal:
    """What a set of candidates (one per leg, same order as ``legs``) costs in USD; lower is better."""
    return sum((leg.side.sign * c.usd_per_contract * leg.quantity for c, leg in zip(candidates, legs)), ZERO)
