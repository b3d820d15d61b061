"""A defined-risk strategy split across venues is warned about; ``--one-venue`` keeps it together.

Both real venue plugins run against their fake servers; the checks are the fakes' own books
of record (the orders each received).
"""

import json

import pytest
from click.testing import CliRunner

from gps_core.cli import cli
from gps_core.instruments import OptionKey


def split_call_spread(deribit, aevo):
    """A bull call spread (buy the lower strike, sell the higher) whose legs are cheapest on different
    venues: the long on Deribit, the short on Aevo."""
    on_deribit = {OptionKey.parse(n): n for n in deribit.instrument_names("BTC")}
    on_aevo = {OptionKey.parse(n): n for n in aevo.option_names("BTC", call=True)}
    keys = sorted(set(on_deribit) & set(on_aevo), key=lambda k: (k.expiry, k.strike))
    same_expiry = [k for k in keys if k.expiry == keys[len(keys) // 2].expiry]
    assert len(same_expiry) >= 2, "the two fakes share no two BTC calls of one expiry"
    low, high = same_expiry[0], same_expiry[1]
    aevo.market(on_aevo[low]).asks = [[p * 3, q] for p, q in aevo.market(on_aevo[low]).asks]  # long: Deribit
    deribit.instrument(on_deribit[high]).bids = [[p / 3, q] for p, q in deribit.instrument(on_deribit[high]).bids]
    legs = ["--leg", f"buy 0.1 {low.name}", "--leg", f"sell 0.1 {high.name}"]
    return low, high, legs


def test_a_short_leg_covered_on_another_venue_is_warned_in_text_and_json(venues):
    deribit, aevo = venues
    low, high, legs = split_call_spread(deribit, aevo)
    result = CliRunner().invoke(cli, ["quote", *legs, "--json", "--quiet"])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)["plan"]
    assert [leg["venue"] for leg in plan["legs"]] == ["deribit", "aevo"]
    assert plan["warnings"] == [
        f"leg 2 short {high.name} on aevo is covered by leg 1 on deribit: each venue margins its own leg; "
        "--venue NAME or --one-venue keeps the strategy together"]
    text = CliRunner().invoke(cli, ["quote", *legs, "--quiet"])
    assert f"WARNING: leg 2 short {high.name} on aevo is covered by leg 1 on deribit" in text.output
    assert sum(deribit.placed.values()) == 0 and aevo.orders == {}


def test_one_venue_executes_the_whole_strategy_on_one_venue(venues):
    deribit, aevo = venues
    low, high, legs = split_call_spread(deribit, aevo)
    # --combo never: one order per leg, so the books of record show both legs (a combo is one order)
    result = CliRunner().invoke(cli, ["execute", *legs, "--one-venue", "--combo", "never", "--yes", "--json",
                                      "--quiet"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["all_filled"] and report["warnings"] == []
    (venue,) = {leg["venue"] for leg in report["legs"]}
    if venue == "deribit":  # the books of record: both legs on one venue, nothing on the other
        assert sum(deribit.placed.values()) == 2 and aevo.orders == {}
    else:
        assert len(aevo.orders) == 2 and sum(deribit.placed.values()) == 0


def test_one_venue_refuses_when_no_venue_takes_every_leg(venues):
    deribit, aevo = venues
    low, high, legs = split_call_spread(deribit, aevo)
    on_aevo = {OptionKey.parse(n): n for n in aevo.option_names("BTC")}
    on_deribit = {OptionKey.parse(n): n for n in deribit.instrument_names("BTC")}
    aevo.market(on_aevo[low]).asks = []  # the long leg cannot be bought on Aevo,
    deribit.instrument(on_deribit[high]).bids = []  # the short leg cannot be sold on Deribit
    result = CliRunner().invoke(cli, ["execute", *legs, "--one-venue", "--yes", "--quiet"])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert lines == ["gps: error: --one-venue: no venue takes every leg (aevo leg 1: no asks in the book; "
                     "deribit leg 2: no bids in the book)"]
    assert sum(deribit.placed.values()) == 0 and aevo.orders == {}
    routed = CliRunner().invoke(cli, ["quote", *legs, "--json", "--quiet"])  # without it: split, and warned
    assert len(json.loads(routed.stdout)["plan"]["warnings"]) == 1


def test_a_bull_put_spread_split_across_venues_names_the_short_put_and_its_cover():
    """The pairing of gps_core.payoff: a short put is covered by the highest-strike long put."""
    from datetime import date
    from decimal import Decimal as D
    from types import SimpleNamespace

    from gps_core.model import Side
    from gps_core.plan_warnings import split_cover_warnings
    from gps_core.strategy import Leg

    def planned(index, side, strike, venue):
        key = OptionKey("BTC", date(2026, 12, 25), D(strike), OptionKey.parse("BTC-25DEC26-1-P").option_type)
        leg = Leg(side, D(1), key)
        return SimpleNamespace(index=index, leg=leg, side=side, quantity=D(1), venue=venue,
                               instrument=SimpleNamespace(contract_size=D(1)))

    legs = [planned(0, Side.SELL, 100000, "aevo"), planned(1, Side.BUY, 95000, "deribit"),
            planned(2, Side.BUY, 90000, "aevo")]
    assert split_cover_warnings(legs) == [
        "leg 1 short BTC-25DEC26-100000-P on aevo is covered by leg 2 on deribit: each venue margins its own leg; "
        "--venue NAME or --one-venue keeps the strategy together"]
    together = [planned(0, Side.SELL, 100000, "aevo"), planned(1, Side.BUY, 95000, "aevo")]
    assert split_cover_warnings(together) == []
