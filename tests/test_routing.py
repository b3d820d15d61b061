from datetime import timedelta
from decimal import Decimal as D

import pytest

from gps_core.errors import RoutingError
from gps_core.model import Side, utcnow
from gps_core.routing import Quote, plan_strategy, walk_book
from gps_core.strategy import Leg, Strategy

from builders import book, coin_instrument, key, usd_instrument

K_LOW, K_HIGH = key("100000"), key("110000")


def strategy(*legs):
    return Strategy(legs=tuple(legs))


def leg(side="buy", qty="1", k=K_LOW, ref=None):
    from gps_core.money import Money
    return Leg(Side(side), D(qty), k, Money(D(ref), "USD") if ref else None)


def usd_quote(venue, k=K_LOW, bids=(), asks=(), **kw):
    inst = usd_instrument(venue, k, **kw)
    return Quote(venue, inst, book(inst, bids, asks))


def coin_quote(venue, k=K_LOW, bids=(), asks=(), index="100000"):
    inst = coin_instrument(venue, k)
    return Quote(venue, inst, book(inst, bids, asks, usd_per_unit=index, index=index))


def test_walk_book_partial_and_limit():
    inst = usd_instrument()
    b = book(inst, asks=[("100", "1"), ("101", "2"), ("110", "5")])
    assert walk_book(b, Side.BUY, D("2")) == walk_book(b, Side.BUY, D("2"), D("105"))
    fill = walk_book(b, Side.BUY, D("10"), D("105"))
    assert fill.quantity == D(3) and fill.average_price == (D(100) + 2 * D(101)) / 3


@pytest.mark.parametrize("case, quotes, side, winner", [
    ("cheaper USD ask wins",
     [usd_quote("a", asks=[("5000", "5")]), usd_quote("b", asks=[("4990", "5")])], "buy", "b"),
    ("coin-priced venue converted by its index",
     [usd_quote("a", asks=[("5000", "5")]), coin_quote("c", asks=[("0.0490", "5")], index="100000")], "buy", "c"),
    ("index makes the coin venue worse",
     [usd_quote("a", asks=[("5000", "5")]), coin_quote("c", asks=[("0.0490", "5")], index="103000")], "buy", "a"),
    ("sells go to the highest bid",
     [usd_quote("a", bids=[("5000", "5")]), usd_quote("b", bids=[("5010", "5")])], "sell", "b"),
    ("depth matters: top of book is not enough",
     [usd_quote("a", asks=[("4900", "0.1"), ("5100", "5")]), usd_quote("b", asks=[("5000", "5")])], "buy", "b"),
    ("a venue that does not list it is skipped",
     [Quote("a"), usd_quote("b", asks=[("5000", "5")])], "buy", "b"),
    ("a venue whose quote failed is skipped",
     [Quote("a", error="timeout"), usd_quote("b", asks=[("5000", "5")])], "buy", "b"),
])
def test_best_venue_per_leg(case, quotes, side, winner):
    plan = plan_strategy(strategy(leg(side)), {0: quotes}, max_slippage=D("0.05"))
    assert plan.legs[0].venue == winner, case


def test_fees_decide_between_equal_prices():
    cheap_fees = usd_instrument("a", fees=__import__("gps_core.model", fromlist=["FeeSchedule"]).FeeSchedule(D(0), D(0)))
    quotes = [Quote("a", cheap_fees, book(cheap_fees, asks=[("5000", "5")])), usd_quote("b", asks=[("5000", "5")])]
    plan = plan_strategy(strategy(leg()), {0: quotes})
    assert plan.legs[0].venue == "a"


def test_limit_price_applies_slippage_and_tick_direction():
    quotes = [usd_quote("a", asks=[("100.0", "5")], bids=[("90.0", "5")], tick="0.5")]
    plan = plan_strategy(strategy(leg("buy"), leg("sell", k=K_HIGH)),
                         {0: quotes, 1: [usd_quote("a", K_HIGH, bids=[("90.0", "5")], tick="0.5")]},
                         max_slippage=D("0.013"))
    assert plan.legs[0].limit_price == D("101.0")  # 101.3 rounded down for a buy
    assert plan.legs[1].limit_price == D("89.0")   # 88.83 rounded up for a sell


def test_thin_book_within_the_cap_is_refused():
    quotes = [usd_quote("a", asks=[("100", "0.5"), ("120", "5")])]
    with pytest.raises(RoutingError, match="only 0.5 of 1"):
        plan_strategy(strategy(leg()), {0: quotes}, max_slippage=D("0.02"))


@pytest.mark.parametrize("qty, kw, words", [
    ("0.05", dict(min_qty="0.1", step="0.1"), "below the minimum"),
    ("0.15", dict(min_qty="0.1", step="0.1"), "not a multiple"),
])
def test_size_rules(qty, kw, words):
    with pytest.raises(RoutingError, match=words):
        plan_strategy(strategy(leg(qty=qty)), {0: [usd_quote("a", asks=[("100", "5")], **kw)]})


def test_expired_leg_is_an_error_before_anything_is_sent():
    old = key(expiry=(utcnow() - timedelta(days=1)).date())
    with pytest.raises(RoutingError, match="expired"):
        plan_strategy(strategy(leg(k=old)), {0: [usd_quote("a", old, asks=[("100", "5")])]})


def test_leg_nobody_lists_is_an_error():
    with pytest.raises(RoutingError, match="a: does not list it"):
        plan_strategy(strategy(leg()), {0: [Quote("a")]})


def test_max_loss_of_a_debit_call_spread():
    quotes = {0: [usd_quote("a", K_LOW, asks=[("5000", "5")])], 1: [usd_quote("a", K_HIGH, bids=[("2000", "5")])]}
    plan = plan_strategy(strategy(leg("buy", k=K_LOW), leg("sell", k=K_HIGH)), quotes, max_slippage=D(0))
    fees = plan.legs[0].expected_fee_usd + plan.legs[1].expected_fee_usd
    assert plan.max_loss_usd == D(3000) + fees
    with pytest.raises(RoutingError, match="--max-loss"):
        plan_strategy(strategy(leg("buy", k=K_LOW), leg("sell", k=K_HIGH)), quotes, max_slippage=D(0), max_loss=D(2999))


def test_naked_short_call_is_unbounded():
    quotes = {0: [usd_quote("a", asks=[("5000", "5")], bids=[("4900", "5")])]}
    plan = plan_strategy(strategy(leg("sell")), quotes)
    assert plan.max_loss_usd is None
    with pytest.raises(RoutingError, match="unbounded"):
        plan_strategy(strategy(leg("sell")), quotes, max_loss=D(100000))


def test_reference_savings():
    quotes = {0: [usd_quote("a", asks=[("5000", "5")])]}
    plan = plan_strategy(strategy(leg(ref="5100")), quotes)
    assert plan.reference_cost_usd == D(5100)
    assert plan.reference_cost_usd - plan.expected_cost_usd > 0


# --- the tick against the slippage budget ---------------------------------------------------


def test_a_tick_larger_than_the_slippage_budget_is_said_per_leg():
    from gps_core.render import plan_text
    from gps_core.report import plan_to_json

    cheap = coin_quote("c", K_HIGH, bids=[("0.0150", "5")])  # tick 0.0005 above 0.005: 3.3% of the price
    dear = usd_quote("a", K_LOW, asks=[("100.0", "5")], tick="0.1")  # tick 0.1% of the price
    plan = plan_strategy(strategy(leg("buy"), leg("sell", k=K_HIGH)), {0: [dear], 1: [cheap]}, max_slippage=D("0.02"))
    cheap_leg, dear_leg = plan.legs[1], plan.legs[0]
    assert cheap_leg.limit_price == cheap_leg.best_price == D("0.0150")  # 0.0147 snapped back up to the bid
    assert cheap_leg.tick_exceeds_slippage(plan.max_slippage) and cheap_leg.effective_slippage == 0
    assert not dear_leg.tick_exceeds_slippage(plan.max_slippage) and dear_leg.effective_slippage == D("0.02")
    data = plan_to_json(plan)
    assert [leg["tick_exceeds_slippage"] for leg in data["legs"]] == [False, True]
    assert data["legs"][1]["effective_max_slippage"] == "0" and data["legs"][1]["tick"] == "0.0005"
    lines = [line for line in plan_text(data).splitlines() if "effectively 0%" in line]
    assert len(lines) == 1 and lines[0].startswith("Leg 2: the tick 0.0005 BTC is more than 2.00%")


def test_no_tick_warning_with_a_zero_slippage_budget():
    plan = plan_strategy(strategy(leg("sell", k=K_HIGH)), {0: [coin_quote("c", K_HIGH, bids=[("0.0150", "5")])]},
                         max_slippage=D(0))
    assert not plan.legs[0].tick_exceeds_slippage(plan.max_slippage)


# --- venues that could not be priced ---------------------------------------------------------


def test_venues_that_could_not_be_priced_are_in_the_plan():
    from gps_core.render import plan_text
    from gps_core.report import plan_to_json
    from gps_core.routing import UnpricedVenue

    down = Quote("b", error="quote failed: " + "connection refused " * 20, failed=True)
    unlisted = Quote("c")
    plan = plan_strategy(strategy(leg()), {0: [usd_quote("a", asks=[("5000", "5")]), down, unlisted]})
    assert [u.venue for u in plan.unpriced] == ["b"]  # not listing the leg is not being down
    assert isinstance(plan.unpriced[0], UnpricedVenue) and len(f"WARNING: {plan.unpriced[0].line}") <= 100
    data = plan_to_json(plan)
    assert [u["venue"] for u in data["unpriced_venues"]] == ["b"]
    warnings = [line for line in plan_text(data).splitlines() if "could not be priced" in line]
    assert warnings == [f"WARNING: {plan.unpriced[0].line}"]
