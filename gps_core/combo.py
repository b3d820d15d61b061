"""Combo routing: trade the legs routed to one venue as one order on its combo book, when no worse.

For every venue that gets two to four legs of a plan and implements the optional
``gps_combo_offer`` hook, :func:`choose_combos` asks for the combo of those legs and compares
its executable price (its own book walked for the full size, fees included, in USD) with the
legged plan for the same legs. ``--combo auto`` picks the combo when it costs no more,
``always`` whenever the venue offers one, ``never`` never asks. The plan keeps every leg (for
the per-leg view) and carries a :class:`~gps_core.routing.PlannedCombo` per combo, plus one
note per venue saying which was chosen and why.

Structure: the combo's unit is the smallest leg quantity; every leg's quantity must be a whole
multiple of it (the ratio). A debit structure is bought, a credit structure is asked for with
every ratio negated and sold, so the combo's price is a positive net premium on either side.

Limit: the combo's best price on the side taken (a positive net premium) moved by
``max_slippage`` of itself, snapped to the combo tick in the safe direction (buy down, sell up):
the venue itself enforces the cap on the whole structure's price. When the tick is larger than
the cap, the limit is the best price. With an empty combo book the reference is the legs' own
best prices combined with the ratios (the order then rests at that price moved by the cap).
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Callable, Mapping, Sequence

from .errors import RoutingError
from .model import ComboLeg, ComboOffer, Side
from .money import ZERO, is_multiple
from .routing import Plan, PlannedCombo, PlannedLeg, walk_book, worst_loss_at_expiry

COMBO_MODES = ("auto", "always", "never")
#: Deribit: a combination has at most 4 legs.
MAX_COMBO_LEGS = 4


def combo_structure(legs: Sequence[PlannedLeg]) -> tuple[Decimal, dict[str, int]] | str:
    """The unit quantity and the signed whole ratio per venue symbol (+ bought), or why there is none."""
    if not 2 <= len(legs) <= MAX_COMBO_LEGS:
        return f"{len(legs)} legs (a combo has 2 to {MAX_COMBO_LEGS})"
    symbols = [p.instrument.symbol for p in legs]
    if len(set(symbols)) != len(symbols):
        return "two legs trade the same contract"
    unit = min(p.quantity for p in legs)
    ratios: dict[str, int] = {}
    for p in legs:
        ratio = p.quantity / unit
        if ratio != ratio.to_integral_value():
            return f"leg sizes are not whole multiples of {unit}"
        ratios[p.instrument.symbol] = p.side.sign * int(ratio)
    return unit, ratios


def _usd(amount: Decimal) -> str:
    """``$55.37`` / ``-$55.37``, as the plan writes money."""
    text = f"{amount:.2f}"
    return f"-${text[1:]}" if text.startswith("-") else f"${text}"


def _note(venue: str, text: str) -> str:
    return f"{venue}: {text}"


def choose_combos(
    plan: Plan,
    venues: Mapping[str, object],
    mode: str = "auto",
    *,
    create: bool,
    max_loss: Decimal | None = None,
    depth: int = 10,
    progress: Callable[[str], None] | None = None,
) -> Plan:
    """``plan`` with the combos chosen under ``mode`` (see the module docstring) and the notes why.

    :param venues: name -> :class:`gps_core.plugins.Venue` (anything with ``combo_offer`` and
        ``offers_combos``).
    :param create: let the venue create a combo it does not list yet (executing, authenticated).
    :raises RoutingError: ``mode`` is not one of :data:`COMBO_MODES`; or ``always`` and the
        strategy cannot go as one combo order (legs on several venues, a venue without combo
        books, no combo for the structure, a combo limit over ``max_loss``): never legged then.
    """
    if mode not in COMBO_MODES:
        raise RoutingError(f"--combo must be one of {', '.join(COMBO_MODES)}, got {mode!r}")
    combos, notes = [], []
    if len(plan.venues) > 1:
        # Only a whole strategy goes as one combo: a strategy split across venues legs as before.
        why = f"legged: the strategy's legs route to {len(plan.venues)} venues ({', '.join(plan.venues)})"
        if mode == "always":
            raise RoutingError(f"--combo always: {why[len('legged: '):]}; a combo takes every leg on one venue; "
                               "nothing sent")
        return _with_combos(plan, [], [why] if mode == "auto" else [])
    for name in plan.venues:
        legs = [p for p in plan.legs if p.venue == name]
        if len(legs) < 2:
            if mode == "always":
                raise RoutingError("--combo always: a combo needs at least two legs; nothing sent")
            continue
        venue = venues.get(name)
        if venue is None or not getattr(venue, "offers_combos", False):
            if mode == "always":
                raise RoutingError(f"--combo always: {name} offers no combo books; nothing sent")
            continue
        if mode == "never":
            notes.append(_note(name, "legged (--combo never)"))
            continue
        chosen, note = _plan_combo(plan, legs, venue, mode, create=create, depth=depth)
        if chosen is not None and max_loss is not None:
            trial = _with_combos(plan, [*combos, chosen], notes)
            if trial.max_loss_usd is None or trial.max_loss_usd > max_loss:
                chosen, note = None, f"legged: the combo's limit would break --max-loss {max_loss} USD"
        if chosen is None and mode == "always":
            # "always" never falls back to separate orders: say why the combo cannot be had.
            raise RoutingError(f"--combo always: {name}: {note.removeprefix('legged: ')}; nothing sent")
        notes.append(_note(name, note))
        if chosen is not None:
            combos.append(chosen)
            if progress:
                progress(f"{name}: legs {', '.join(str(i + 1) for i in chosen.leg_indices)} as one combo order "
                         f"({chosen.instrument.symbol})")
    return _with_combos(plan, combos, notes)


def _with_combos(plan: Plan, combos: list[PlannedCombo], notes: list[str]) -> Plan:
    trial = replace(plan, combos=tuple(combos), combo_notes=tuple(notes))
    return replace(trial, loss=worst_loss_at_expiry(plan.legs, trial.worst_cost_usd))


def _plan_combo(plan: Plan, legs: list[PlannedLeg], venue, mode: str, *, create: bool,
                depth: int) -> tuple[PlannedCombo | None, str]:
    """The combo for ``legs`` on ``venue`` and the note, or ``None`` and why the legs stay legged."""
    structure = combo_structure(legs)
    if isinstance(structure, str):
        return None, f"legged: {structure}"
    unit, ours = structure
    # A credit structure is asked for the other way round and sold: the combo's price stays positive.
    debit = sum((p.side.sign * p.expected_price * p.quantity for p in legs), ZERO) >= 0
    asked = ours if debit else {s: -r for s, r in ours.items()}
    try:
        offer = venue.combo_offer([ComboLeg(s, r) for s, r in asked.items()], create=create, depth=depth)
    except Exception as exc:  # noqa: BLE001 - a combo that cannot be had leaves the legs as they are
        return None, f"legged: no combo ({exc})"
    if offer is None:
        return None, "legged: the venue lists no combo for these legs" + (
            "" if create else " yet (a live execution would create it and compare its book then)")
    offered = {leg.symbol: leg.ratio for leg in offer.legs}
    if offered == asked:
        side = Side.BUY if debit else Side.SELL
    elif offered == {s: -r for s, r in asked.items()}:
        side = Side.SELL if debit else Side.BUY
    else:
        return None, f"legged: the venue's combo {offer.instrument.symbol} has other legs"
    combo = _price(plan, legs, offer, offered, side, unit)
    if isinstance(combo, str):
        return None, f"legged: {combo}"
    legged = sum((p.expected_cost_usd for p in legs), ZERO)
    summary = (f"{offer.instrument.symbol} as one order costs {_usd(combo.expected_cost_usd)}"
               f"{'' if combo.expected_price is not None else ' (at its limit; the book cannot fill it now)'}, "
               f"the {len(legs)} legs {_usd(legged)} (fees included)")
    if mode == "always":
        return replace(combo, reason=f"combo (--combo always): {summary}"), f"combo (--combo always): {summary}"
    if combo.expected_price is None:
        return None, f"legged: the combo book {offer.instrument.symbol} cannot fill {unit} within the slippage cap"
    if combo.expected_cost_usd <= legged:
        return replace(combo, reason=f"combo (no worse): {summary}"), f"combo (no worse): {summary}"
    return None, f"legged (cheaper): {summary}"


def _price(plan: Plan, legs: list[PlannedLeg], offer: ComboOffer, ratios: dict[str, int], side: Side,
           unit: Decimal) -> PlannedCombo | str:
    instrument, book = offer.instrument, offer.book
    by_symbol = {p.instrument.symbol: p for p in legs}
    if any(p.price_currency != instrument.price_currency for p in legs):
        return "the legs and the combo are priced in different currencies"
    if unit < instrument.min_quantity or not is_multiple(unit, instrument.quantity_step):
        return f"{unit} is not a size the combo book takes (minimum {instrument.min_quantity}, " \
               f"step {instrument.quantity_step})"
    sign = side.sign
    levels = book.side_to_take(side) if book is not None else ()
    best = levels[0].price if levels else None
    # Per unit of the combo: the book's best price, or (empty book) the legs' best prices combined.
    reference = best if best is not None else sum(
        (r * (by_symbol[s].best_price or by_symbol[s].expected_price) for s, r in ratios.items()), ZERO)
    if reference <= 0:
        return "the combo's net premium is not positive on the side gps would take"
    limit = instrument.round_price(reference * (1 + sign * plan.max_slippage), side)
    if limit <= 0:
        return "the combo's limit would be zero or less"
    fill = walk_book(book, side, unit, limit) if levels else None
    expected = fill.average_price if fill is not None and fill.quantity >= unit else None
    # Fees: every leg's own schedule at its expected price; the venue may waive the cheaper side's.
    buys, sells = ZERO, ZERO
    for symbol, ratio in ratios.items():
        p = by_symbol[symbol]
        fee = p.instrument.fees.fee_per_contract(p.expected_price, p.book.underlying_value()) * abs(ratio) * unit
        if sign * ratio > 0:
            buys += fee
        else:
            sells += fee
    fee_total = max(buys, sells) if offer.waives_cheaper_side else buys + sells
    usd = book.usd_per_unit if book is not None else legs[0].usd_per_unit
    return PlannedCombo(
        venue=instrument.venue,
        leg_indices=tuple(p.index for p in legs),
        instrument=instrument,
        side=side,
        quantity=unit,
        limit_price=limit,
        expected_price=expected,
        best_price=best,
        expected_fee=fee_total,
        usd_per_unit=usd,
        legged_cost_usd=sum((p.expected_cost_usd for p in legs), ZERO),
        reason="",
        book=book,
    )
