"""What a plan is worth at expiry and how it moves: payoff profile, net Greeks, mid and spread per leg.

:func:`payoff_to_json` turns a :class:`~gps_core.routing.Plan` into the plan's ``payoff``
section (plain data, USD amounts as strings): it is what ``gps quote`` / ``gps execute`` show
under the plan, what ``--json`` carries and what the journal keeps. Pure: no I/O.

* **Payoff** (:mod:`gps_core.payoff`): P&L at the first expiry against the index, at the
  plan's *expected* prices with fees; max loss is the worst-loss model's figure at those prices
  (the plan's "Worst loss" line is the same model at the limit prices).
* **Greeks** (:mod:`gps_core.greeks`): from each leg's venue mark IV and index; a leg whose
  venue gives no IV has none, and the net Greeks are then left out rather than guessed.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Sequence

from .greeks import ZERO_GREEKS, Greeks, black_scholes_greeks, years_until
from .instruments import OptionType
from .model import utcnow
from .money import ZERO
from .payoff import Position, curve_prices, payoff_profile, worst_loss
from .routing import Plan, PlannedLeg

CENT = Decimal("0.01")


def _usd(value: Decimal | None) -> str | None:
    return None if value is None else f"{value.quantize(CENT):f}"


def _s(value: Decimal | None) -> str | None:
    return None if value is None else ("0" if value == 0 else f"{value.normalize():f}")


def position_of(p: PlannedLeg) -> Position:
    key = p.leg.instrument
    return Position(key.name, key.underlying, key.expiry, key.strike, key.option_type,
                    p.side.sign * p.quantity * p.instrument.contract_size)


def leg_greeks(p: PlannedLeg, now: datetime) -> tuple[Greeks | None, str | None]:
    """The leg's Greeks (signed, for its whole quantity), or ``None`` and why not."""
    book = p.book
    if book.mark_iv is None:
        return None, f"{p.venue} gives no IV for {p.instrument.symbol}"
    expires = p.instrument.expires_at or p.leg.instrument.expiry_datetime
    years = years_until(expires, now)
    if years <= 0:
        return None, f"{p.leg.instrument.name} has expired"
    try:
        one = black_scholes_greeks(book.index_price, p.leg.instrument.strike, years, book.mark_iv,
                                   p.leg.instrument.option_type is OptionType.CALL)
    except (ValueError, ArithmeticError) as exc:  # a venue's odd index or IV: say so, never stop the plan
        return None, f"cannot compute Greeks from {p.venue}'s data ({exc})"
    return one.scaled(p.side.sign * p.quantity * p.instrument.contract_size), None


def leg_market_json(p: PlannedLeg, now: datetime) -> dict:
    """Mid, spread, mark and IVs of the leg's venue book, and the leg's Greeks as of ``now`` (``greeks_at``)."""
    book, unit = p.book, p.usd_per_unit
    bid = book.bids[0].price if book.bids else None
    ask = book.asks[0].price if book.asks else None
    mid = (bid + ask) / 2 if bid is not None and ask is not None else None
    spread = ask - bid if mid is not None else None
    greeks, why = leg_greeks(p, now)
    return {
        "leg": p.index + 1,
        "venue": p.venue,
        "instrument": p.leg.instrument.name,
        "price_currency": p.price_currency,
        "mid": _s(mid), "mid_usd": _usd(None if mid is None else mid * unit),
        "spread": _s(spread), "spread_usd": _usd(None if spread is None else spread * unit),
        "spread_pct": None if not mid else _s((spread / mid * 100).quantize(CENT)),
        "mark": _s(book.mark_price), "mark_usd": _usd(None if book.mark_price is None else book.mark_price * unit),
        "mark_iv": _s(book.mark_iv), "bid_iv": _s(book.bid_iv), "ask_iv": _s(book.ask_iv),
        "index_usd": _usd(book.index_price),
        "greeks": greeks.to_json() if greeks else None,
        "greeks_at": now.isoformat(),
        "greeks_unavailable": why,
    }


def safe_payoff_json(plan: Plan, now: datetime | None = None) -> dict:
    """:func:`payoff_to_json`, or ``{"unavailable": why}``: the payoff is information, and a fault
    in it must never stop a plan from being shown or executed."""
    try:
        return payoff_to_json(plan, now)
    except Exception as exc:  # noqa: BLE001
        return {"unavailable": f"{type(exc).__name__}: {exc}"}


def payoff_to_json(plan: Plan, now: datetime | None = None) -> dict:
    """The plan's ``payoff`` section. Shapes (USD as strings):

    ``{"legs": [leg_market_json...], "net_greeks": {delta, gamma, vega, theta} | None (``None`` also
    when the legs are on several underlyings: Greeks of different underlyings do not add up),
    "net_greeks_by_underlying": {underlying: {delta, gamma, vega, theta}} | None,
    "greeks_unavailable": str | None, "profile": {...} | None (one underlying), "profiles": [{...}]
    (one per underlying, each against its own index), "profile_unavailable": str | None}``,
    with ``profile`` = ``{underlying, expiry, index_usd, max_profit_usd, max_profit_unbounded,
    max_loss_usd, max_loss_unbounded, breakevens_usd: [...] ([] for mixed expiries),
    mixed_expiries, and for mixed expiries max_profit_bound (``at_least``: later legs are long and
    valued at intrinsic only; ``at_most``: a later short leg's time value is left out) and
    breakevens_note and leg_breakevens_usd: [...] (each leg alone at its own expiry: strike plus
    or minus its expected premium, in leg order), curve: [{index_usd, pnl_usd}...] (its range
    holds every strike, breakeven, the index and for mixed expiries every leg breakeven, with
    margin),
    basis: [...]}``.
    """
    moment = now or utcnow()
    legs = list(plan.legs)
    # The offline paper market keeps its own clock (GPS_DRYRUN_ASOF): value its options at the
    # time of its books, not at the wall clock, or a market dated in the past would be all expired.
    offline = plan.market is not None and plan.market.offline
    at = {p.index: (p.book.timestamp if offline else moment) for p in legs}
    market = [leg_market_json(p, at[p.index]) for p in legs]
    missing = [m for m in market if m["greeks"] is None]
    underlyings = sorted({p.leg.instrument.underlying for p in legs})
    by_underlying = {u: [p for p in legs if p.leg.instrument.underlying == u] for u in underlyings}
    # Greeks of different underlyings do not add up (a BTC delta is not an ETH delta): one net per underlying.
    per_underlying = {} if missing else {
        u: sum((leg_greeks(p, at[p.index])[0] for p in mine), ZERO_GREEKS).to_json()
        for u, mine in by_underlying.items()}
    result = {
        "legs": market,
        "net_greeks": per_underlying[underlyings[0]] if len(per_underlying) == 1 else None,
        "net_greeks_by_underlying": per_underlying or None,
        "greeks_unavailable": "; ".join(f"leg {m['leg']}: {m['greeks_unavailable']}" for m in missing) or None,
        "profile": None,
        "profiles": [],
        "profile_unavailable": None,
    }
    if not legs:
        return result
    if len(underlyings) > 1:
        # One payoff per underlying: each against its own index, with the cost of its own legs.
        result["profiles"] = [profile_json(mine, _cost_of(plan, mine)) for mine in by_underlying.values()]
        return result
    result["profile"] = profile_json(legs, plan.expected_cost_usd)
    result["profiles"] = [result["profile"]]
    return result


def _cost_of(plan: Plan, legs: Sequence[PlannedLeg]) -> Decimal:
    """The expected USD cost of ``legs`` within ``plan``: their legged orders and the combos trading only them."""
    mine = {p.index for p in legs}
    combos = [c for c in plan.combos if set(c.leg_indices) <= mine]
    in_combo = {i for c in combos for i in c.leg_indices}
    return (sum((p.expected_cost_usd for p in legs if p.index not in in_combo), Decimal(0))
            + sum((c.expected_cost_usd for c in combos), Decimal(0)))


def leg_breakeven(p: PlannedLeg) -> Decimal:
    """Where the leg alone breaks even at its own expiry: strike plus (call) or minus (put) its
    expected premium per unit of the underlying, USD (never below zero)."""
    key = p.leg.instrument
    premium = p.expected_price * p.usd_per_unit / (p.instrument.contract_size or 1)
    return key.strike + premium if key.option_type is OptionType.CALL else max(ZERO, key.strike - premium)


def profile_json(legs: Sequence[PlannedLeg], cost: Decimal) -> dict:
    positions = [position_of(p) for p in legs]
    profile = payoff_profile(positions, cost)
    bound = worst_loss(positions, cost)
    index = legs[0].book.index_price
    basis = list(bound.basis)
    mixed = any(p.expiry > profile.expiry for p in positions)
    # With legs on several expiries the curve has no breakevens of its own (later legs at
    # intrinsic only), so the chart's range takes each leg's own breakeven as well: the strikes
    # alone leave a later leg's premium (where it starts to pay) off the chart.
    leg_breakevens = [leg_breakeven(p) for p in legs] if mixed else []
    if mixed:
        basis.append("the chart and max profit value later legs at their intrinsic value at the first expiry "
                     "(their time value is left out)")
    # Later long legs at intrinsic undervalue them (the P&L is at least the curve); a later short
    # leg at intrinsic undervalues what buying it back costs (the P&L is at most the curve).
    later_short = any(p.units < 0 and p.expiry > profile.expiry for p in positions)
    mixed_fields = {"max_profit_bound": "at_most" if later_short else "at_least",
                    "breakevens_note": "not computed for mixed expiries"} if mixed else {}
    return {
        "underlying": positions[0].underlying,
        "expiry": profile.expiry.isoformat(),
        "at": "expected prices, fees included",
        "cost_usd": _usd(cost),
        "index_usd": _usd(index),
        "max_profit_usd": _usd(profile.max_profit),
        "max_profit_unbounded": profile.max_profit is None,
        "max_loss_usd": _usd(bound.worst_loss),
        "max_loss_unbounded": bound.worst_loss is None,
        "max_loss_reason": bound.unbounded_reason,
        "breakevens_usd": [] if mixed else [_usd(b) for b in profile.breakevens],
        "mixed_expiries": mixed,
        **mixed_fields,
        **({"leg_breakevens_usd": [_usd(b) for b in leg_breakevens]} if mixed else {}),
        "curve": [{"index_usd": _usd(s), "pnl_usd": _usd(profile.pnl(s))}
                  for s in curve_prices(profile, index, also=leg_breakevens)],
        "basis": basis,
    }
