"""The plan's payoff section (max profit/loss, breakevens, curve, Greeks, mid/spread), through the CLI.

Every expected number is computed here independently of gps_core: payoffs from the legs'
intrinsic values, Greeks by finite differences of the dry-run venue's own Black-Scholes pricer
(a separate implementation), and put-call parity.
"""

import json
import os
from datetime import datetime, timezone
from decimal import Decimal as D

import pytest
from click.testing import CliRunner

from gps_core.cli import cli
from gps_core.routing import Quote, plan_strategy
from gps_core.strategy import strategy_from_specs

from builders import book, usd_instrument

dryrun_market = pytest.importorskip("gps_venue_dryrun.market")


@pytest.fixture
def dryrun(gps_home, monkeypatch):
    monkeypatch.setenv("GPS_LOAD_PLUGINS", "dryrun")
    return dryrun_market.current_market(dict(os.environ))


def calls_and_puts(market, expiry_index=2):
    """A listed expiry's strikes around the index, for calls and puts."""
    listed = market.instruments("BTC")
    expiries = sorted({i.key.expiry for i in listed})
    expiry = expiries[min(expiry_index, len(expiries) - 1)]
    strikes = sorted({i.key.strike for i in listed if i.key.expiry == expiry})
    index = market.index("BTC")
    near = sorted(strikes, key=lambda k: abs(k - index))[:4]
    return expiry, sorted(near)


def name(expiry, strike, kind):
    return f"BTC-{expiry.day}{expiry.strftime('%b').upper()}{expiry.year % 100:02d}-{strike.normalize():f}-{kind}"


def quote(*legs):
    args = ["quote", "--venue", "dryrun", "--json"]
    for leg in legs:
        args += ["--leg", leg]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["plan"]


def intrinsic(kind, strike, price):
    return max(price - strike, D(0)) if kind == "C" else max(strike - price, D(0))


def test_call_spread_max_profit_loss_breakeven_and_curve(dryrun):
    expiry, strikes = calls_and_puts(dryrun)
    low, high = strikes[0], strikes[-1]
    plan = quote(f"buy 0.3 {name(expiry, low, 'C')}", f"sell 0.3 {name(expiry, high, 'C')}")
    cost = D(plan["totals"]["expected_cost_usd"])
    profile = plan["payoff"]["profile"]
    q = D("0.3")
    assert D(profile["max_loss_usd"]) == cost.quantize(D("0.01"))
    assert D(profile["max_profit_usd"]) == (q * (high - low) - cost).quantize(D("0.01"))
    assert [D(b) for b in profile["breakevens_usd"]] == [(low + cost / q).quantize(D("0.01"))]
    for point in profile["curve"]:
        s = D(point["index_usd"])
        expected = q * intrinsic("C", low, s) - q * intrinsic("C", high, s) - cost
        assert abs(D(point["pnl_usd"]) - expected) <= D("0.01")
    assert not profile["max_profit_unbounded"] and profile["expiry"] == expiry.isoformat()


def test_straddle_has_two_breakevens_and_unbounded_profit(dryrun):
    expiry, strikes = calls_and_puts(dryrun)
    k = strikes[1]
    plan = quote(f"buy 0.1 {name(expiry, k, 'C')}", f"buy 0.1 {name(expiry, k, 'P')}")
    cost = D(plan["totals"]["expected_cost_usd"])
    profile = plan["payoff"]["profile"]
    assert profile["max_profit_unbounded"] and profile["max_profit_usd"] is None
    assert [D(b) for b in profile["breakevens_usd"]] == [(k - cost / D("0.1")).quantize(D("0.01")),
                                                        (k + cost / D("0.1")).quantize(D("0.01"))]
    assert D(profile["max_loss_usd"]) == cost.quantize(D("0.01"))


def test_short_call_loss_is_unbounded(dryrun):
    expiry, strikes = calls_and_puts(dryrun)
    plan = quote(f"sell 0.1 {name(expiry, strikes[2], 'C')}")
    profile = plan["payoff"]["profile"]
    received = -D(plan["totals"]["expected_cost_usd"])
    assert profile["max_loss_unbounded"] and D(profile["max_profit_usd"]) == received.quantize(D("0.01"))


def finite_difference_greeks(spot, strike, years, vol, call):
    """Delta, gamma, vega (per point), theta (per day) of the dry-run venue's own pricer, by differences."""
    price = lambda s=spot, t=years, v=vol: dryrun_market.black_scholes(s, strike, t, v, call)  # noqa: E731
    h = spot * 1e-4
    delta = (price(s=spot + h) - price(s=spot - h)) / (2 * h)
    gamma = (price(s=spot + h) - 2 * price() + price(s=spot - h)) / (h * h)
    vega = (price(v=vol + 1e-4) - price(v=vol - 1e-4)) / 2e-4 / 100
    day = 1 / 365
    theta = (price(t=years - day / 10) - price(t=years + day / 10)) / (2 / 10)
    return delta, gamma, vega, theta


def test_net_greeks_match_finite_differences(dryrun):
    expiry, strikes = calls_and_puts(dryrun, expiry_index=4)
    k1, k2 = strikes[1], strikes[2]
    before = datetime.now(timezone.utc)
    specs = [(D("0.2"), k1, True), (D("-0.1"), k2, False), (D("0.1"), k2, True)]
    plan = quote(f"buy 0.2 {name(expiry, k1, 'C')}", f"sell 0.1 {name(expiry, k2, 'P')}",
                 f"buy 0.1 {name(expiry, k2, 'C')}")
    payoff = plan["payoff"]
    expires = datetime.combine(expiry, datetime.min.time(), tzinfo=timezone.utc).replace(hour=8)
    years = (expires - before).total_seconds() / (365 * 86400)
    totals = [0.0, 0.0, 0.0, 0.0]
    for leg, (units, strike, call) in zip(payoff["legs"], specs):
        fd = finite_difference_greeks(float(leg["index_usd"]), float(strike), years, float(leg["mark_iv"]), call)
        for i, key in enumerate(("delta", "gamma", "vega", "theta")):
            tolerance = {"delta": 1e-4, "gamma": 1e-8, "vega": 0.01, "theta": 0.01}[key]
            assert float(leg["greeks"][key]) == pytest.approx(float(units) * fd[i], rel=1e-3, abs=tolerance)
            totals[i] += float(units) * fd[i]
    net = payoff["net_greeks"]
    for i, key in enumerate(("delta", "gamma", "vega", "theta")):
        tolerance = {"delta": 1e-4, "gamma": 1e-8, "vega": 0.02, "theta": 0.02}[key]
        assert float(net[key]) == pytest.approx(totals[i], rel=1e-3, abs=tolerance)


def test_put_call_parity_of_greeks(dryrun):
    """Call minus put at one strike and IV is a forward (C - P = S - K at zero rates): their deltas
    differ by exactly 1 per unit and their gamma, vega and theta are equal."""
    expiry, strikes = calls_and_puts(dryrun, expiry_index=4)
    k = strikes[1]
    plan = quote(f"buy 1 {name(expiry, k, 'C')}", f"buy 1 {name(expiry, k, 'P')}")
    call, put = plan["payoff"]["legs"]
    assert call["mark_iv"] == put["mark_iv"]  # the dry-run smile depends on the strike only
    assert D(call["greeks"]["delta"]) - D(put["greeks"]["delta"]) == pytest.approx(D(1), abs=D("0.0001"))
    for key in ("gamma", "vega", "theta"):
        assert call["greeks"][key] == put["greeks"][key]


def test_mid_and_spread_per_leg(dryrun):
    expiry, strikes = calls_and_puts(dryrun)
    instrument = name(expiry, strikes[1], "C")
    result = CliRunner().invoke(cli, ["quote", "--venue", "dryrun", "--json", "--leg", f"buy 0.1 {instrument}"])
    data = json.loads(result.stdout)
    bid, ask = D(data["quotes"][0]["bid"]), D(data["quotes"][0]["ask"])
    leg = data["plan"]["payoff"]["legs"][0]
    assert D(leg["mid"]) == (bid + ask) / 2 and D(leg["spread"]) == ask - bid
    assert D(leg["spread_pct"]) == ((ask - bid) / ((bid + ask) / 2) * 100).quantize(D("0.01"))


def test_plan_text_shows_the_payoff_chart(dryrun):
    expiry, strikes = calls_and_puts(dryrun)
    result = CliRunner().invoke(cli, ["quote", "--venue", "dryrun", "--leg", f"buy 0.1 {name(expiry, strikes[0], 'C')}",
                                      "--leg", f"sell 0.1 {name(expiry, strikes[-1], 'C')}"])
    assert result.exit_code == 0
    text = result.stdout
    assert "max profit $" in text and "breakeven $" in text and "Net Greeks: delta" in text
    chart = [line for line in text.splitlines() if "*" in line]
    assert len(chart) >= 5 and any("$0 " in line and "-" in line for line in text.splitlines())


def test_a_venue_without_iv_has_no_greeks_and_no_net_greeks():
    """Greeks are never invented: a book without mark IV leaves the leg's Greeks out, and the net."""
    with_iv = usd_instrument("a")
    strategy = strategy_from_specs([f"buy 1 {with_iv.key.name}"])
    plain = book(with_iv, bids=[("900", "5")], asks=[("1000", "5")])
    plan = plan_strategy(strategy, {0: [Quote("a", with_iv, plain)]})
    from gps_core.report import plan_to_json

    payoff = plan_to_json(plan)["payoff"]
    assert payoff["legs"][0]["greeks"] is None and payoff["net_greeks"] is None
    assert "a gives no IV" in payoff["greeks_unavailable"]
    from gps_core.render import plan_text

    assert "Net Greeks unavailable: leg 1: a gives no IV" in plan_text(plan_to_json(plan))


def test_calendar_is_charted_at_the_first_expiry_with_the_later_leg_at_intrinsic(dryrun):
    """Short near call, long far call, same strike: at the near expiry the legs' intrinsic values
    cancel, so the P&L is minus the cost at every index; the worst-loss model says the same."""
    listed = dryrun.instruments("BTC")
    expiries = sorted({i.key.expiry for i in listed})
    near, far = expiries[3], expiries[-1]
    strikes = {i.key.strike for i in listed if i.key.expiry == near} & {i.key.strike for i in listed if i.key.expiry == far}
    k = sorted(strikes, key=lambda s: abs(s - dryrun.index("BTC")))[0]
    plan = quote(f"sell 0.1 {name(near, k, 'C')}", f"buy 0.1 {name(far, k, 'C')}")
    cost = D(plan["totals"]["expected_cost_usd"])
    profile = plan["payoff"]["profile"]
    assert profile["expiry"] == near.isoformat()
    assert {D(p["pnl_usd"]) for p in profile["curve"]} == {-cost.quantize(D("0.01"))}
    assert D(profile["max_profit_usd"]) == -cost.quantize(D("0.01")) and profile["breakevens_usd"] == []
    assert D(profile["max_loss_usd"]) == cost.quantize(D("0.01"))
    assert any("intrinsic value" in b for b in profile["basis"])


def test_a_paper_market_dated_in_the_past_is_valued_at_its_own_clock(gps_home, monkeypatch):
    """GPS_DRYRUN_ASOF puts the offline market on another date: its options are valued then
    (not expired by the wall clock), and the Greeks match finite differences at that moment."""
    monkeypatch.setenv("GPS_LOAD_PLUGINS", "dryrun")
    monkeypatch.setenv("GPS_DRYRUN_ASOF", "2026-03-01")
    monkeypatch.setenv("GPS_DRYRUN_INDEX", "BTC=71000")
    plan = quote("buy 0.1 BTC-27MAR26-70000-C")
    leg = plan["payoff"]["legs"][0]
    at = datetime.fromisoformat(leg["greeks_at"])
    assert at.date() <= date_of("2026-03-01") and leg["greeks"] is not None
    years = (datetime(2026, 3, 27, 8, tzinfo=timezone.utc) - at).total_seconds() / (365 * 86400)
    fd = finite_difference_greeks(71000.0, 70000.0, years, float(leg["mark_iv"]), True)
    assert float(leg["greeks"]["delta"]) == pytest.approx(0.1 * fd[0], abs=1e-4)
    assert float(leg["greeks"]["theta"]) == pytest.approx(0.1 * fd[3], rel=1e-3, abs=0.01)


def date_of(text):
    from datetime import date

    return date.fromisoformat(text)


def test_show_renders_the_journaled_payoff(dryrun):
    expiry, strikes = calls_and_puts(dryrun)
    leg = f"buy 0.1 {name(expiry, strikes[1], 'C')}"
    executed = CliRunner().invoke(cli, ["execute", "--venue", "dryrun", "--yes", "--quiet", "--json", "--leg", leg])
    assert executed.exit_code == 0, executed.output
    shown = CliRunner().invoke(cli, ["show", "last"])
    assert shown.exit_code == 0
    assert "max profit UNBOUNDED" in shown.stdout and "Net Greeks: delta" in shown.stdout
    events = json.loads(CliRunner().invoke(cli, ["show", "last", "--json"]).stdout)["events"]
    plan = next(e for e in events if e.get("event") == "plan")
    assert plan["payoff"]["profile"]["breakevens_usd"]


def test_odd_venue_data_never_stops_the_plan():
    """A book whose index is zero (a third-party venue's bad data): the leg has no Greeks, with the
    reason, and the plan is still made and rendered."""
    instrument = usd_instrument("odd")
    strategy = strategy_from_specs([f"buy 1 {instrument.key.name}"])
    from dataclasses import replace

    odd = replace(book(instrument, bids=[("900", "5")], asks=[("1000", "5")], index="0.0"), mark_iv=D("0.5"))
    plan = plan_strategy(strategy, {0: [Quote("odd", instrument, odd)]})
    from gps_core.render import plan_text
    from gps_core.report import plan_to_json

    data = plan_to_json(plan)
    assert data["payoff"]["legs"][0]["greeks"] is None
    assert "cannot compute Greeks from odd's data" in data["payoff"]["greeks_unavailable"]
    assert "Net Greeks unavailable" in plan_text(data)


def test_a_fault_in_the_payoff_is_shown_not_raised(monkeypatch):
    from gps_core import plan_payoff
    from gps_core.render import plan_text
    from gps_core.report import plan_to_json

    def broken(plan, now=None):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(plan_payoff, "payoff_to_json", broken)
    instrument = usd_instrument("a")
    plan = plan_strategy(strategy_from_specs([f"buy 1 {instrument.key.name}"]),
                         {0: [Quote("a", instrument, book(instrument, bids=[("900", "5")], asks=[("1000", "5")]))]})
    data = plan_to_json(plan)
    assert data["payoff"] == {"unavailable": "ZeroDivisionError: division by zero"}
    assert "Payoff unavailable: ZeroDivisionError: division by zero" in plan_text(data)


def test_a_long_calendar_states_its_figures_as_bounds_and_no_breakevens(dryrun):
    near, strikes = calls_and_puts(dryrun, expiry_index=1)
    far, _ = calls_and_puts(dryrun, expiry_index=3)
    strike = strikes[1]
    assert far > near
    legs = [f"sell 0.1 {name(near, strike, 'C')}", f"buy 0.1 {name(far, strike, 'C')}"]
    profile = quote(*legs)["payoff"]["profile"]
    assert profile["mixed_expiries"] is True and profile["max_profit_bound"] == "at_least"
    assert profile["breakevens_usd"] == [] and profile["breakevens_note"] == "not computed for mixed expiries"
    args = ["quote", "--venue", "dryrun"]
    for leg in legs:
        args += ["--leg", leg]
    text = CliRunner().invoke(cli, args).output
    (line,) = [line for line in text.splitlines() if line.startswith("At expiry")]
    assert f"max profit at least {money(profile['max_profit_usd'])}" in line
    assert ("(later legs valued at intrinsic; their time value is not shown: a bound, not a forecast); "
            "breakevens not computed for mixed expiries") in line
    assert "breakevens none" not in text


def money(text):
    value = D(text)
    return f"-${-value:,.2f}" if value < 0 else f"${value:,.2f}"


@pytest.mark.parametrize("legs", [
    ("sell 1 BTC-27MAR26-95000-C", "buy 1 BTC-26JUN26-95000-C"),  # calendar
    ("sell 1 BTC-27MAR26-90000-P", "buy 1 BTC-26JUN26-85000-P", "buy 1 BTC-26JUN26-110000-C"),  # diagonal + wing
])
def test_a_calendar_chart_holds_every_strike_and_leg_breakeven_with_margin(gps_home, monkeypatch, legs):
    """Through ``gps execute --dry-run``: the chart's range (JSON curve and text axis) holds every
    leg's strike and where each leg alone breaks even (strike +/- its expected premium), with
    at least 4% of the highest of them to spare on each side."""
    monkeypatch.setenv("GPS_LOAD_PLUGINS", "dryrun")
    monkeypatch.setenv("GPS_DRYRUN_ASOF", "2026-03-20")
    monkeypatch.delenv("GPS_DRYRUN_INDEX", raising=False)
    args = ["execute", "--venue", "dryrun", "--dry-run"]
    for leg in legs:
        args += ["--leg", leg]
    result = CliRunner().invoke(cli, args + ["--json"])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)["plan"]
    anchors = []
    for leg in plan["legs"]:
        _, _, strike, kind = leg["instrument"].split("-")
        premium = D(leg["expected_price_usd"])
        anchors += [D(strike), D(strike) + premium if kind == "C" else D(strike) - premium]
    profile = plan["payoff"]["profile"]
    assert profile["mixed_expiries"] is True
    low, high = D(profile["curve"][0]["index_usd"]), D(profile["curve"][-1]["index_usd"])
    margin = max(anchors) * D("0.04")
    assert low <= min(anchors) - margin and high >= max(anchors) + margin
    assert [D(b) for b in profile["leg_breakevens_usd"]] == [a.quantize(D("0.01")) for a in anchors[1::2]]
    text = CliRunner().invoke(cli, args).output  # the plan is shown on stderr before the report
    lines = text.splitlines()
    axis = lines[lines.index(next(line for line in lines if line.startswith("P&L at expiry"))) + 14].split()
    left, right = (D(a.replace(",", "")) for a in (axis[0], axis[-1]))
    assert left <= min(anchors) - margin and right >= max(anchors) + margin


def test_net_greeks_and_payoff_are_per_underlying_never_added_across_them(dryrun):
    """A BTC delta and an ETH delta do not add up: one net per underlying, and one chart each."""
    btc_expiry, btc_strikes = calls_and_puts(dryrun)
    listed = dryrun.instruments("ETH")
    eth_expiry = sorted({i.key.expiry for i in listed})[2]
    eth_index = dryrun.index("ETH")
    eth_strike = min({i.key.strike for i in listed if i.key.expiry == eth_expiry}, key=lambda k: abs(k - eth_index))
    eth = f"ETH-{eth_expiry.day}{eth_expiry.strftime('%b').upper()}{eth_expiry.year % 100:02d}-{eth_strike.normalize():f}-C"
    legs = [f"buy 0.1 {name(btc_expiry, btc_strikes[1], 'C')}", f"sell 1 {eth}"]
    payoff = quote(*legs)["payoff"]
    assert payoff["net_greeks"] is None
    by = payoff["net_greeks_by_underlying"]
    assert set(by) == {"BTC", "ETH"}
    btc_leg, eth_leg = payoff["legs"]
    assert D(by["BTC"]["delta"]) == D(btc_leg["greeks"]["delta"]) and D(by["ETH"]["delta"]) == D(eth_leg["greeks"]["delta"])
    assert [p["underlying"] for p in payoff["profiles"]] == ["BTC", "ETH"]
    args = ["quote", "--venue", "dryrun"]
    for leg in legs:
        args += ["--leg", leg]
    text = CliRunner().invoke(cli, args).output
    assert "Net Greeks (BTC): delta" in text and "Net Greeks (ETH): delta" in text
    assert "one chart per underlying is not drawn" not in text
    assert "P&L at expiry against the BTC index" in text and "P&L at expiry against the ETH index" in text


def test_every_usd_amount_in_the_plan_and_report_text_has_thousands_separators(dryrun):
    """One money format: `$15,986.50` in the plan table, the totals and the report alike."""
    import re

    expiry, strikes = calls_and_puts(dryrun)
    legs = ["--leg", f"buy 5 {name(expiry, strikes[1], 'C')}", "--leg", f"sell 5 {name(expiry, strikes[2], 'C')}"]
    plan = CliRunner().invoke(cli, ["quote", "--venue", "dryrun", *legs])
    report = CliRunner().invoke(cli, ["execute", "--venue", "dryrun", "--yes", "--combo", "never", *legs])
    assert plan.exit_code == 0 and report.exit_code == 0, report.output
    for text in (plan.stdout, report.stdout):
        amounts = re.findall(r"-?\$[\d,]+\.\d+", text)
        assert amounts and any("," in a for a in amounts), text
        assert not re.search(r"\$\d{4,}", text), text  # never $15986.50
        assert "$-" not in text
