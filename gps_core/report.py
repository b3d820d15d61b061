"""Turn a plan and an execution result into plain data (for ``--json``, the journal and rendering)."""

from __future__ import annotations

from decimal import Decimal

from .combo_exposure import per_leg_exposure
from .engine import ExecutionResult
from .money import ZERO
from .orders import OrderState, TrackedOrder
from .routing import Market, Plan, PlannedCombo, PlannedLeg


def _s(value: Decimal | None) -> str | None:
    if value is None:
        return None
    return "0" if value == 0 else f"{value.normalize():f}"


def _usd(value: Decimal | None) -> str | None:
    return None if value is None else f"{value.quantize(Decimal('0.01')):f}"


def market_to_json(market: Market | None) -> dict | None:
    if market is None:
        return None
    return {"kind": market.kind, "offline": market.offline, "note": market.note}


def unpriced_to_json(plan: Plan) -> list[dict]:
    return [{"venue": u.venue, "reason": u.reason, "line": u.line} for u in plan.unpriced]


def plan_to_json(plan: Plan) -> dict:
    from .plan_payoff import safe_payoff_json

    return {
        "strategy": plan.strategy.to_json(),
        "max_slippage": _s(plan.max_slippage),
        "market": market_to_json(plan.market),
        "unpriced_venues": unpriced_to_json(plan),
        "warnings": list(plan.warnings),
        "legs": [planned_leg_to_json(p, plan.max_slippage) for p in plan.legs],
        "combos": [planned_combo_to_json(c) for c in plan.combos],
        "combo_notes": list(plan.combo_notes),
        "orders": plan.order_count,
        "totals": {
            "expected_cost_usd": _usd(plan.expected_cost_usd),
            "worst_cost_usd": _usd(plan.worst_cost_usd),
            "fees_usd": _usd(plan.fees_usd),
            "reference_cost_usd": _usd(plan.reference_cost_usd),
            "expected_savings_usd": _usd(
                None if plan.reference_cost_usd is None else plan.reference_cost_usd - plan.expected_cost_usd
            ),
            "max_loss_usd": _usd(plan.max_loss_usd),
            "max_loss_unbounded": plan.max_loss_usd is None,
            "max_loss_reason": plan.loss.unbounded_reason,
            "max_loss_basis": list(plan.loss.basis),
        },
        "payoff": safe_payoff_json(plan),
    }


def planned_leg_to_json(p: PlannedLeg, max_slippage: Decimal | None = None) -> dict:
    effective = p.effective_slippage
    return {
        "leg": p.index + 1,
        "venue": p.venue,
        "instrument": p.leg.instrument.name,
        "venue_symbol": p.instrument.symbol,
        "side": p.side.value,
        "quantity": _s(p.quantity),
        "price_currency": p.price_currency,
        "limit_price": _s(p.limit_price),
        "limit_price_usd": _usd(p.limit_price * p.usd_per_unit),
        "expected_price": _s(p.expected_price),
        "expected_price_usd": _usd(p.expected_price * p.usd_per_unit),
        "best_price": _s(p.best_price),
        "tick": _s(p.instrument.tick_at(p.best_price)) if p.best_price is not None else None,
        "effective_max_slippage": None if effective is None else _s(effective.quantize(Decimal("0.0001"))),
        "tick_exceeds_slippage": max_slippage is not None and p.tick_exceeds_slippage(max_slippage),
        "expected_fee": _s(p.expected_fee),
        "expected_fee_usd": _usd(p.expected_fee_usd),
        "expected_cost_usd": _usd(p.expected_cost_usd),
        "reference_price": p.leg.reference_price.to_json() if p.leg.reference_price else None,
        "usd_per_unit": _s(p.usd_per_unit),
        "alternatives": [
            {"venue": c.venue, "usd_per_contract": _usd(c.usd_per_contract), "reason": c.reason} for c in p.alternatives
        ],
    }


def planned_combo_to_json(c: PlannedCombo) -> dict:
    return {
        "venue": c.venue,
        "legs": [i + 1 for i in c.leg_indices],
        "instrument": c.instrument.symbol,
        "combo_legs": [{"venue_symbol": leg.symbol, "ratio": leg.ratio} for leg in c.instrument.combo_legs],
        "side": c.side.value,
        "quantity": _s(c.quantity),
        "price_currency": c.instrument.price_currency,
        "tick": _s(c.instrument.tick_at(c.limit_price)),
        "best_price": _s(c.best_price),
        "limit_price": _s(c.limit_price),
        "limit_price_usd": _usd(c.limit_price * c.usd_per_unit),  # per unit of combo
        "limit_cost_usd": _usd(c.limit_price * c.quantity * c.usd_per_unit),  # the whole order at its limit
        "expected_price": _s(c.expected_price),
        "expected_fee": _s(c.expected_fee),
        "expected_fee_usd": _usd(c.expected_fee_usd),
        "expected_cost_usd": _usd(c.expected_cost_usd),
        "legged_cost_usd": _usd(c.legged_cost_usd),
        "reason": c.reason,
    }


def _fee_usd(order: TrackedOrder, planned: PlannedLeg) -> Decimal:
    if order.fee is None:
        return ZERO
    if order.fee.currency == planned.price_currency:
        return order.fee.amount * planned.usd_per_unit
    if order.fee.currency in ("USD", "USDC", "USDT"):
        return order.fee.amount
    return order.fee.amount * planned.usd_per_unit  # fee in the underlying coin


#: how the engine words the reason of an order that never reached the venue (``Engine._settle_unknown``)
NOT_PLACED_REASONS = ("not placed", "never reached the venue")


def never_placed(order: TrackedOrder) -> bool:
    """Whether ``order`` ended rejected because it never reached the venue, rather than refused by it."""
    return order.state is OrderState.REJECTED and str(order.reason or "").startswith(NOT_PLACED_REASONS)


def order_to_json(order: TrackedOrder, planned: PlannedLeg) -> dict:
    request = order.request
    latency = (order.acked_at - order.sent_at).total_seconds() * 1000 if order.acked_at and order.sent_at else None
    slippage = None
    if order.average_price is not None and order.role == "leg":
        slippage = (order.average_price - planned.expected_price) * request.side.sign
    return {
        "leg": order.leg_index + 1,
        "role": order.role,
        "venue": request.venue,
        "instrument": request.instrument.display_name,
        "venue_symbol": request.instrument.symbol,
        "side": request.side.value,
        "quantity": _s(request.quantity),
        "filled": _s(order.filled),
        "status": order.state.value,
        # rejected because it provably never reached the venue (or the venue confirmed it never took
        # it), not because the venue refused it: shown as "not placed", for a single order or a combo
        "not_placed": never_placed(order),
        "client_order_id": request.client_order_id,
        "venue_order_id": request.venue_order_id,
        "reduce_only": request.reduce_only,
        "price_currency": request.instrument.price_currency,
        "limit_price": _s(request.limit_price),
        "average_price": _s(order.average_price),
        "price_estimated": order.price_estimated,
        "average_price_usd": _usd(order.average_price * planned.usd_per_unit) if order.average_price is not None else None,
        "fee": order.fee.to_json() if order.fee else None,
        "fee_estimated": order.fee_estimated,
        "fee_usd": _usd(_fee_usd(order, planned)),
        "slippage": _s(slippage),
        "slippage_usd": _usd(slippage * order.filled * planned.usd_per_unit) if slippage is not None else None,
        "latency_ms": None if latency is None else round(latency, 1),
        "sent_at": order.sent_at.isoformat() if order.sent_at else None,
        "acked_at": order.acked_at.isoformat() if order.acked_at else None,
        "reason": order.reason,
    }


def combo_order_to_json(order: TrackedOrder, plan: Plan) -> dict:
    """A combo order's row: the combo's net fill, and per leg the fills from its trades."""
    row = order_to_json(order, next(p for p in plan.legs if p.index == order.leg_index))
    combo = next((c for c in plan.combos if c.leg_indices[0] == order.leg_index), None)
    by_symbol = {p.instrument.symbol: p for p in plan.legs}
    # what the combo order trades per leg (its legs' instruments, sides and |ratio| x quantity)
    row["combo_legs"] = [{"leg": by_symbol[r["venue_symbol"]].index + 1 if r["venue_symbol"] in by_symbol else None,
                          **{**r, "quantity": _s(r["quantity"])}}
                         for r in per_leg_exposure(order.request.instrument, order.request.side, order.request.quantity,
                                                   {s: p.leg.instrument.name for s, p in by_symbol.items()})]
    if combo is not None:
        row["legs"] = [i + 1 for i in combo.leg_indices]
        if order.average_price is not None and combo.expected_price is not None:
            slippage = (order.average_price - combo.expected_price) * order.request.side.sign
            row["slippage"] = _s(slippage)
            row["slippage_usd"] = _usd(slippage * order.filled * combo.usd_per_unit)
    row["leg_fills"] = [
        {"leg": by_symbol[f.symbol].index + 1 if f.symbol in by_symbol else None,
         "instrument": by_symbol[f.symbol].leg.instrument.name if f.symbol in by_symbol else f.symbol,
         "venue_symbol": f.symbol, "side": f.side.value, "quantity": _s(f.quantity), "price": _s(f.price),
         "fee": f.fee.to_json() if f.fee else None}
        for f in order.leg_fills
    ]
    # Filled, but the venue's leg trades could not be read: what each leg traded is known only
    # from the combo's ratios (``combo_legs`` for the filled quantity), never its prices or fees.
    row["leg_fills_unknown"] = order.filled > 0 and not order.leg_fills
    return row


def cash_usd(order: TrackedOrder, planned: PlannedLeg) -> Decimal:
    """USD paid (+) or received (-) for what ``order`` filled, fees included."""
    if order.average_price is None or order.filled == 0:
        return ZERO
    gross = order.request.side.sign * order.average_price * order.filled * planned.usd_per_unit
    return gross + _fee_usd(order, planned)


def kept_positions(result: ExecutionResult) -> list[dict]:
    """What ``--on-partial keep`` left held: per kept order, its venue, instrument, side and filled quantity.

    A kept combo order gives one row per leg (the leg's instrument, side and ``|ratio| x filled``),
    each naming the combo order's client order id.
    """
    names = {p.instrument.symbol: p.leg.instrument.name for p in result.plan.legs}
    return [{"venue": o.request.venue, **{**row, "quantity": _s(row["quantity"])}, "client_order_id": o.client_order_id}
            for o in result.kept if o.filled > 0
            for row in per_leg_exposure(o.request.instrument, o.request.side, o.filled, names)]


def _money_usd(money, planned: PlannedLeg) -> Decimal:
    """A fee (``Money``) in USD, by the rules of :func:`_fee_usd`."""
    if money is None:
        return ZERO
    if money.currency in ("USD", "USDC", "USDT"):
        return money.amount
    return money.amount * planned.usd_per_unit  # the price currency or the underlying coin


def _entry_of(result: ExecutionResult, unwind: TrackedOrder) -> tuple[int, Decimal, Decimal, Decimal] | None:
    """``(side sign, quantity, average price, fee USD)`` of what ``unwind`` offsets, or ``None``.

    A legged leg's own order; or, for an unwind sent on a leg's own book after a combo order
    (a combo is unwound leg by leg), that leg's fills from the combo's trades.
    """
    planned = next(p for p in result.plan.legs if p.index == unwind.leg_index)
    symbol = unwind.request.instrument.symbol
    for order in result.legs:
        if order.filled <= 0:
            continue
        if order.role != "combo" and order.leg_index == unwind.leg_index and order.average_price is not None:
            return order.request.side.sign, order.filled, order.average_price, _fee_usd(order, planned)
        fills = [f for f in order.leg_fills if f.symbol == symbol] if order.role == "combo" else []
        quantity = sum((f.quantity for f in fills), ZERO)
        if quantity > 0:
            average = sum((f.price * f.quantity for f in fills), ZERO) / quantity
            fee = sum((_money_usd(f.fee, planned) for f in fills), ZERO)
            return fills[0].side.sign, quantity, average, fee
    return None


def unwind_realised_usd(result: ExecutionResult, by_index: dict[int, PlannedLeg]) -> Decimal | None:
    """USD the unwinds' round trips cost (+) or made (-), fees included; None without a filled unwind.

    Per filled unwind: the quantity it offset, bought (sold) at the leg's average price and sold
    (bought) back at the unwind's, plus the unwind's fee and the leg's fee pro rata. For a combo
    unwound leg by leg, a leg's entry is its fills from the combo's trades (price and fee per leg).
    """
    total, any_filled = ZERO, False
    for unwind in result.unwinds:
        if unwind.filled == 0 or unwind.average_price is None:
            continue
        entry = _entry_of(result, unwind)
        if entry is None:
            continue
        sign, entered, average, entry_fee = entry
        planned = by_index[unwind.leg_index]
        quantity = min(unwind.filled, entered)
        price_move = sign * (average - unwind.average_price)
        total += price_move * quantity * planned.usd_per_unit
        total += _fee_usd(unwind, planned) + entry_fee * quantity / entered
        any_filled = True
    return total if any_filled else None


def result_to_json(result: ExecutionResult, mode: str, journal_path: str | None = None) -> dict:
    by_index = {p.index: p for p in result.plan.legs}
    legs = [combo_order_to_json(o, result.plan) if o.role == "combo" else order_to_json(o, by_index[o.leg_index])
            for o in result.legs]
    unwinds = [order_to_json(o, by_index[o.leg_index]) for o in result.unwinds]
    cost = sum((cash_usd(o, by_index[o.leg_index]) for o in result.legs + result.unwinds), ZERO)
    fees = sum((_fee_usd(o, by_index[o.leg_index]) for o in result.legs + result.unwinds), ZERO)
    reference = None
    if result.all_filled and result.plan.reference_cost_usd is not None:
        reference = result.plan.reference_cost_usd
    window = result.legging_window
    return {
        "execution_id": result.execution_id,
        "mode": mode,
        "all_filled": result.all_filled,
        "interrupted": result.interrupted,
        "complete": result.complete,
        "stop_reason": result.stop_reason,
        "legs": legs,
        "unwinds": unwinds,
        "kept": [o.client_order_id for o in result.kept],
        "kept_positions": kept_positions(result),
        "unsettled": [o.client_order_id for o in result.unsettled],
        "residuals": [{**r, "quantity": _s(r["quantity"]), "unknown_quantity": _s(r.get("unknown_quantity")),
                       **({"venue_position": _s(r["venue_position"])} if "venue_position" in r else {})}
                      for r in result.residuals],
        "journal_failures": list(result.journal_failures),
        "market": market_to_json(result.plan.market),
        "unpriced_venues": unpriced_to_json(result.plan),
        "warnings": list(result.plan.warnings),
        # an Options GPS card's own figures (net_cost, max_loss, max_profit, pop, ev), or None
        "card": result.plan.strategy.to_json().get("card"),
        # the plan the execution carried out, as `gps quote --json` shows it (its totals: the
        # expected and worst cost, the worst loss)
        "plan": plan_to_json(result.plan),
        "totals": {
            "net_cost_usd": _usd(cost),
            "fees_usd": _usd(fees),
            "planned_cost_usd": _usd(result.plan.expected_cost_usd),
            "reference_cost_usd": _usd(reference),
            "savings_vs_reference_usd": _usd(reference - cost) if reference is not None else None,
            "legging_window_ms": None if window is None else round(window * 1000, 1),
            "unwind_realised_usd": _usd(unwind_realised_usd(result, by_index)),
            "orders_sent": sum(1 for o in result.legs + result.unwinds if o.sent_at is not None),
        },
        "started_at": result.started_at.isoformat(),
        "finished_at": result.finished_at.isoformat() if result.finished_at else None,
        "journal": journal_path,
    }
