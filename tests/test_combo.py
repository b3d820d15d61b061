"""Combo routing (gps_core.combo), table-driven with an in-process venue that offers combo books."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D

import pytest
from builders import book, key, usd_instrument

from gps_core.combo import choose_combos, combo_structure
from gps_core.errors import RoutingError
from gps_core.model import ComboLeg, ComboOffer, FeeSchedule, Side
from gps_core.routing import Quote, plan_strategy
from gps_core.strategy import Leg, Strategy

NO_FEES = FeeSchedule(D(0), D(0))
LOW, HIGH = key("100000"), key("110000")


class ComboVenue:
    """Offers a combo of whatever it is asked, with the book given (or the structure negated)."""

    def __init__(self, bids=(), asks=(), *, negate=False, offers=True, tick="0.1"):
        self.name, self.bids, self.asks, self.negate, self.offers_combos, self.tick = "v", bids, asks, negate, offers, tick
        self.asked: list[list[ComboLeg]] = []

    def combo_offer(self, legs, *, create, depth=10):
        self.asked.append(list(legs))
        legs = [ComboLeg(leg.symbol, -leg.ratio if self.negate else leg.ratio) for leg in legs]
        combo = replace(usd_instrument("v", LOW, tick=self.tick, fees=NO_FEES), symbol="V-COMBO-1",
                        combo_legs=tuple(legs))
        return ComboOffer(combo, book(combo, self.bids, self.asks))


def spread_plan(buy_low: bool = True, quantity="1", max_slippage="0.02"):
    """A call spread on venue v: low call 10 / 10.4, high call 4 / 4.4 (USD, no fees)."""
    side_low, side_high = (Side.BUY, Side.SELL) if buy_low else (Side.SELL, Side.BUY)
    strategy = Strategy(legs=(Leg(side_low, D(quantity), LOW), Leg(side_high, D(quantity), HIGH)))
    quotes = {}
    for index, (k, bid, ask) in enumerate([(LOW, "10", "10.4"), (HIGH, "4", "4.4")]):
        inst = usd_instrument("v", k, fees=NO_FEES)
        quotes[index] = [Quote("v", inst, book(inst, [(bid, "5")], [(ask, "5")]))]
    return plan_strategy(strategy, quotes, max_slippage=D(max_slippage))


def test_a_debit_combo_no_worse_than_the_legs_is_bought_with_a_limit_snapped_down():
    venue = ComboVenue(bids=[("5.9", "3")], asks=[("6.05", "3")], tick="0.1")  # legs: 10.4 - 4 = 6.4
    plan = choose_combos(spread_plan(), {"v": venue}, "auto", create=True)
    (combo,) = plan.combos
    assert combo.side is Side.BUY and combo.quantity == D(1) and combo.leg_indices == (0, 1)
    assert [(leg.symbol, leg.ratio) for leg in venue.asked[0]] == [(LOW.name, 1), (HIGH.name, -1)]
    assert combo.limit_price == D("6.1")  # 6.05 * 1.02 = 6.171, snapped down to the 0.1 tick
    assert combo.expected_price == D("6.05") and plan.order_count == 1
    assert plan.expected_cost_usd == D("6.05") and "no worse" in plan.combo_notes[0]


def test_a_credit_structure_is_asked_negated_and_sold_with_a_limit_snapped_up():
    venue = ComboVenue(bids=[("6.05", "3")], asks=[("6.5", "3")])  # selling the spread legged: 10 - 4.4 = 5.6
    plan = choose_combos(spread_plan(buy_low=False), {"v": venue}, "auto", create=True)
    (combo,) = plan.combos
    # ours is -low +high (a credit); the debit structure +low -high is asked for and sold
    assert [(leg.symbol, leg.ratio) for leg in venue.asked[0]] == [(LOW.name, 1), (HIGH.name, -1)]
    assert combo.side is Side.SELL and combo.limit_price == D("6")  # 6.05 * 0.98 = 5.929, up to 6.0
    assert plan.expected_cost_usd == D("-6.05")


def test_a_combo_listed_the_other_way_round_is_never_traded_at_a_negative_price():
    # the venue lists -low +high: a credit, so its book is negative; gps would sell it at a negative price
    venue = ComboVenue(bids=[("-6.5", "3")], asks=[("-6.2", "3")], negate=True)
    plan = choose_combos(spread_plan(), {"v": venue}, "auto", create=True)
    assert plan.combos == () and "not positive" in plan.combo_notes[0]
    # --combo always never falls back to separate orders: it refuses, saying why
    with pytest.raises(RoutingError, match="--combo always: v: .*not positive"):
        choose_combos(spread_plan(), {"v": venue}, "always", create=True)


def test_auto_keeps_the_legs_when_the_combo_is_worse_and_always_takes_it():
    venue = ComboVenue(bids=[("5", "3")], asks=[("6.6", "3")])  # worse than 6.4 legged
    auto = choose_combos(spread_plan(), {"v": venue}, "auto", create=True)
    assert auto.combos == () and auto.order_count == 2 and auto.combo_notes[0].startswith("v: legged (cheaper)")
    always = choose_combos(spread_plan(), {"v": venue}, "always", create=True)
    assert len(always.combos) == 1 and always.order_count == 1


def test_an_empty_combo_book_rests_at_the_legs_best_prices_capped_under_always_only():
    venue = ComboVenue()
    assert choose_combos(spread_plan(), {"v": venue}, "auto", create=True).combos == ()
    (combo,) = choose_combos(spread_plan(), {"v": venue}, "always", create=True).combos
    assert combo.expected_price is None and combo.limit_price == D("6.5")  # 6.4 * 1.02 = 6.528 -> 6.5


def test_never_and_venues_without_combos_leave_the_plan_legged():
    plan = spread_plan()
    venue = ComboVenue(asks=[("1", "3")])
    assert choose_combos(plan, {"v": venue}, "never", create=True).combos == () and venue.asked == []
    plain = ComboVenue(asks=[("1", "3")], offers=False)
    unchanged = choose_combos(plan, {"v": plain}, "auto", create=True)
    assert unchanged.combos == () and unchanged.combo_notes == () and plain.asked == []
    assert unchanged.expected_cost_usd == plan.expected_cost_usd


def test_structures_that_cannot_be_one_combo():
    legs = spread_plan().legs
    assert combo_structure(legs[:1]) == "1 legs (a combo has 2 to 4)"
    uneven = spread_plan(quantity="1").legs[0], replace(spread_plan(quantity="1.5").legs[1], index=1)
    assert "whole multiples" in combo_structure(list(uneven))
    with pytest.raises(RoutingError):
        choose_combos(spread_plan(), {}, "sometimes", create=False)
