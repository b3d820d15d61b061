"""The worst-loss model behind --max-loss (gps_core.payoff), against a brute-force payoff evaluation."""

from datetime import date
from decimal import Decimal as D
from itertools import product

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gps_core.errors import RoutingError
from gps_core.instruments import OptionKey, OptionType
from gps_core.payoff import Position, worst_loss
from gps_core.routing import Quote, plan_strategy
from gps_core.strategy import strategy_from_specs

from builders import book, coin_instrument, usd_instrument

NEAR, MID, FAR = date(2031, 12, 26), date(2032, 3, 26), date(2032, 6, 25)


def pos(units, strike, option_type="C", expiry=NEAR, underlying="BTC"):
    k = OptionKey(underlying, expiry, D(strike), OptionType(option_type))
    return Position(k.name, underlying, expiry, D(strike), k.option_type, D(units))


# --- brute force -------------------------------------------------------------------------


def brute_force_worst(positions, cost, bound, grid):
    """The worst realised P&L over every path of index prices (one price per underlying and expiry).

    The position is held the way the model assumes: every leg to its own expiry, except that a long
    leg expiring after its underlying's first expiry is sold at its intrinsic value (the least it is
    worth) at the first expiry, or, for the units of it held against a later short leg, at that short
    leg's expiry. Nothing here uses the model's arithmetic; only its choice of covers.
    """
    covered = {}  # long index -> [(units, expiry at which they are sold)]
    for cover in bound.covers:
        covered.setdefault(cover.long, []).append((cover.units, positions[cover.short].expiry))
    first = {u: min(p.expiry for p in positions if p.underlying == u) for u in {p.underlying for p in positions}}
    dates = sorted({(p.underlying, p.expiry) for p in positions})
    worst = None
    for prices in product(grid, repeat=len(dates)):
        at = dict(zip(dates, prices))
        pnl = -cost
        for i, p in enumerate(positions):
            if p.units < 0 or p.expiry == first[p.underlying]:
                pnl += p.units * p.intrinsic(at[(p.underlying, p.expiry)])
                continue
            sold_later = covered.get(i, [])
            rest = p.units - sum(units for units, _ in sold_later)
            pnl += rest * p.intrinsic(at[(p.underlying, first[p.underlying])])
            pnl += sum(units * p.intrinsic(at[(p.underlying, when)]) for units, when in sold_later)
        worst = pnl if worst is None else min(worst, pnl)
    return worst


STRIKES = [D(s) for s in ("80000", "90000", "95000", "100000", "110000")]
HUGE = D(10) ** 9


def grid_for(positions):
    strikes = sorted({p.strike for p in positions})
    mids = [(a + b) / 2 for a, b in zip(strikes, strikes[1:])]
    return [D(0)] + strikes + mids + [strikes[-1] * 2, HUGE]


legs = st.builds(
    pos,
    units=st.sampled_from(["-2", "-1", "-0.5", "0.5", "1", "2"]),
    strike=st.sampled_from(STRIKES),
    option_type=st.sampled_from(["C", "P"]),
    expiry=st.sampled_from([NEAR, MID, FAR]),
    underlying=st.sampled_from(["BTC", "BTC", "ETH"]),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(legs, min_size=1, max_size=4), st.sampled_from([D(-5000), D(0), D(1234.5)]))
def test_model_never_understates_the_brute_force_loss(positions, cost):
    bound = worst_loss(positions, cost)
    worst = brute_force_worst(positions, cost, bound, grid_for(positions))
    if bound.worst_loss is None:
        # Unbounded: some path at the huge price loses about as much as the price is large.
        assert worst < -HUGE / 4, (bound.unbounded_reason, worst)
        assert "call" in bound.unbounded_reason
        return
    assert bound.worst_loss >= max(-worst, D(0)), bound
    if all(p.expiry == min(q.expiry for q in positions if q.underlying == p.underlying) for p in positions):
        assert bound.worst_loss == max(-worst, D(0))  # one expiry per underlying: exact


@settings(max_examples=200, deadline=None)
@given(st.lists(legs.filter(lambda p: p.units > 0 or p.expiry == NEAR), min_size=1, max_size=4))
def test_without_later_short_legs_the_model_is_exact(positions):
    bound = worst_loss(positions, D(100))
    worst = brute_force_worst(positions, D(100), bound, grid_for(positions))
    assert not bound.covers
    if bound.worst_loss is None:
        assert worst < -HUGE / 4 and "net short" in bound.unbounded_reason
    else:
        assert bound.worst_loss == max(-worst, D(0))


# --- the issue's examples and the common structures --------------------------------------


@pytest.mark.parametrize("option_type", ["C", "P"])
def test_short_later_leg_over_long_earlier_leg_is_not_bounded_by_the_first_expiry(option_type):
    short_later, long_near = pos(-1, "90000", option_type, FAR), pos(1, "95000", option_type, NEAR)
    bound = worst_loss([short_later, long_near], D(0))
    if option_type == "C":
        assert bound.worst_loss is None and "uncovered" in bound.unbounded_reason
    else:  # a short put costs at most its strike: that is the bound, not the first-expiry value
        assert bound.worst_loss == D(90000)
        assert any("counted at its strike" in line for line in bound.basis)


@pytest.mark.parametrize("near_strike, far_strike, loss", [
    ("100000", "100000", "1500"),   # calendar: the debit
    ("105000", "100000", "1500"),   # diagonal, long the lower strike later
    ("95000", "100000", "6500"),    # diagonal, long the higher strike later: debit plus the width
])
def test_long_calendar_and_diagonal(near_strike, far_strike, loss):
    bound = worst_loss([pos(-1, near_strike, "C", NEAR), pos(1, far_strike, "C", FAR)], D(1500))
    assert bound.worst_loss == D(loss)
    assert bound.basis and "first expiry" in bound.basis[0]


def test_later_short_covered_by_a_later_long_counts_the_spread_width():
    # Near: long 90k call. Later (same later expiry): short 100k call covered by long 105k call.
    positions = [pos(1, "90000", "C", NEAR), pos(-1, "100000", "C", FAR), pos(1, "105000", "C", FAR)]
    bound = worst_loss(positions, D(1000))
    assert [(c.long, c.short, c.units, c.floor) for c in bound.covers] == [(2, 1, D(1), D(-5000))]
    assert bound.worst_loss == D(6000)


def test_cover_must_not_expire_before_the_short_leg():
    positions = [pos(1, "80000", "C", NEAR), pos(-1, "100000", "C", FAR), pos(1, "90000", "C", MID)]
    assert worst_loss(positions, D(0)).worst_loss is None


def test_ratio_spreads():
    assert worst_loss([pos(1, "100000"), pos(-2, "110000")], D(0)).worst_loss is None
    put_ratio = worst_loss([pos(1, "100000", "P"), pos(-2, "90000", "P")], D(-100))
    assert put_ratio.worst_loss == D(180000 - 100000 - 100)  # at index 0, with 100 received


def test_underlyings_are_independent_and_losses_add():
    btc = [pos(1, "100000", "C"), pos(-1, "110000", "C")]
    eth = [pos(1, "3000", "P", underlying="ETH"), pos(-1, "2800", "P", underlying="ETH")]
    assert worst_loss(btc + eth, D(3000)).worst_loss == D(3000)
    # an ETH strangle sold next to the BTC spread: unbounded whatever BTC does
    assert worst_loss(btc + [pos(-1, "4000", "C", underlying="ETH")], D(0)).worst_loss is None


# --- through routing -----------------------------------------------------------------------


def quotes_for(strategy, venue="usdv", coin=False):
    quotes = {}
    for i, leg in enumerate(strategy.legs):
        inst = coin_instrument(venue, leg.instrument) if coin else usd_instrument(venue, leg.instrument)
        levels = [("0.05", "10")] if coin else [("2000", "10")]
        quotes[i] = [Quote(venue, inst, book(inst, bids=levels, asks=levels, usd_per_unit="100000" if coin else "1"))]
    return quotes


@pytest.mark.parametrize("specs, refused", [
    (["sell 1 BTC-25JUN32-90000-C", "buy 1 BTC-26DEC31-95000-C"], "unbounded"),
    (["sell 1 BTC-25JUN32-90000-P", "buy 1 BTC-26DEC31-95000-P"], r"over --max-loss \$1\.00"),
])
@pytest.mark.parametrize("coin", [False, True])
def test_issue_examples_are_refused_under_max_loss(specs, refused, coin):
    strategy = strategy_from_specs(specs)
    plan = plan_strategy(strategy, quotes_for(strategy, coin=coin), max_slippage=D(0))
    assert plan.max_loss_usd is None or plan.max_loss_usd > 89000
    with pytest.raises(RoutingError, match=refused):
        plan_strategy(strategy, quotes_for(strategy, coin=coin), max_slippage=D(0), max_loss=D(1))


def test_mixed_venues_use_each_venues_contract_size():
    strategy = strategy_from_specs(["buy 1 BTC-26DEC31-100000-C", "sell 1 BTC-26DEC31-110000-C"])
    big = usd_instrument("big", strategy.legs[1].instrument, contract_size=D(2))
    quotes = quotes_for(strategy)
    quotes[1] = [Quote("big", big, book(big, bids=[("2000", "10")]))]
    plan = plan_strategy(strategy, quotes, max_slippage=D(0))
    assert plan.max_loss_usd is None  # one long call against two calls short


# --- through the CLI, on the dryrun venue's offline market ---------------------------------


@pytest.mark.parametrize("option_type", ["C", "P"])
def test_cli_refuses_the_issue_example_under_max_loss_and_places_nothing(tmp_path, monkeypatch, option_type):
    import json
    import os

    from click.testing import CliRunner

    from gps_core.cli import cli

    market = pytest.importorskip("gps_venue_dryrun.market")
    monkeypatch.setenv("GPS_HOME", str(tmp_path))
    monkeypatch.setenv("GPS_LOAD_PLUGINS", "dryrun")
    listed = {i.key for i in market.current_market(os.environ).instruments("BTC")}
    expiries = sorted({k.expiry for k in listed})
    near, far = expiries[len(expiries) // 2], expiries[-1]

    def name(expiry, strike):
        found = OptionKey("BTC", expiry, D(strike), OptionType(option_type))
        assert found in listed, found
        return found.name

    legs = ["--leg", f"sell 1 {name(far, '90000')}", "--leg", f"buy 1 {name(near, '95000')}"]
    quote = CliRunner().invoke(cli, ["quote", "--venue", "dryrun", "--json", *legs])
    totals = json.loads(quote.stdout)["plan"]["totals"]
    assert totals["max_loss_unbounded"] is (option_type == "C")
    result = CliRunner().invoke(cli, ["execute", "--venue", "dryrun", "--max-loss", "1", "--yes", *legs])
    assert result.exit_code == 2
    assert ("the loss is unbounded" if option_type == "C" else "over --max-loss $1.00") in result.stderr
    assert not (tmp_path / "dryrun" / "orders.json").exists()
