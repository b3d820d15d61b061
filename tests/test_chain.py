"""`gps chain` and the nearest-listed hint, through the CLI: on the paper venue and on both real
venues' fake servers. Expected values come from the fakes' own books of record."""

import json
import os
from decimal import Decimal as D

import pytest
from click.testing import CliRunner

from gps_core.cli import cli
from gps_core.instruments import OptionKey

dryrun_market = pytest.importorskip("gps_venue_dryrun.market")


def gps(*args):
    return CliRunner().invoke(cli, list(args))


def code(day):
    return f"{day.day}{day.strftime('%b').upper()}{day.year % 100:02d}"


def strikes_by_expiry(names):
    found = {}
    for name in names:
        key = OptionKey.parse(name)
        found.setdefault(key.expiry, set()).add(key.strike)
    return found


def test_expiries_across_both_venues_with_their_strike_counts(venues):
    deribit, aevo = venues
    result = gps("chain", "BTC", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    on_deribit = strikes_by_expiry(deribit.instrument_names("BTC"))
    on_aevo = strikes_by_expiry(aevo.option_names("BTC"))
    assert [r["expiry"] for r in data["expiries"]] == [d.isoformat() for d in sorted(set(on_deribit) | set(on_aevo))]
    for row in data["expiries"]:
        day = OptionKey.parse(f"BTC-{row['code']}-1-C").expiry
        expected = {v: len(s[day]) for v, s in (("deribit", on_deribit), ("aevo", on_aevo)) if day in s}
        assert row["strikes"] == expected
    text = gps("chain", "BTC").stdout
    assert "DERIBIT STRIKES" in text and "AEVO STRIKES" in text


def test_strikes_of_one_expiry_with_usd_prices_iv_and_the_best_venue(venues):
    deribit, aevo = venues
    common = sorted(set(map(OptionKey.parse, deribit.instrument_names("BTC")))
                    & set(map(OptionKey.parse, aevo.option_names("BTC"))), key=lambda k: (k.expiry, k.strike))
    target = [k for k in common if k.option_type.value == "C"][len(common) // 4]
    d_inst, a_market = deribit.instrument(target.name), aevo.market(target.name)
    a_market.asks = [[price * 3, amount] for price, amount in a_market.asks]  # Deribit has the better ask
    index = deribit.index["btc_usd"]
    result = gps("chain", "BTC", "--expiry", code(target.expiry), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    row = next(r for r in data["strikes"] if D(r["strike"]) == target.strike and r["type"] == "C")
    quotes = {q["venue"]: q for q in row["quotes"]}
    d, a = quotes["deribit"], quotes["aevo"]
    assert d["price_currency"] == "BTC" and D(d["ask"]) == d_inst.asks[0][0]
    assert D(d["ask_usd"]) == (d_inst.asks[0][0] * index).quantize(D("0.01"))
    assert D(d["bid_usd"]) == (d_inst.bids[0][0] * index).quantize(D("0.01"))
    assert D(d["mark"]) == d_inst.mark and D(d["mark_iv"]) == d_inst.mark_iv / 100
    assert a["price_currency"] == "USD" and D(a["ask_usd"]) == a_market.asks[0][0]
    assert D(a["mark_iv"]) == a_market.iv and D(a["mark"]) == a_market.mark
    best_bid = "deribit" if d_inst.bids[0][0] * index > a_market.bids[0][0] else "aevo"
    assert row["best_ask"] == "deribit" and row["best_bid"] == best_bid
    text = gps("chain", "BTC", "--expiry", code(target.expiry)).stdout
    line = next(l for l in text.splitlines() if l.startswith(f"{target.strike.normalize():f} ") and " C " in l
                and "deribit" in l)
    assert "best" in line and "ask" in line and " BTC" in line  # USD first, the venue's BTC prices beside


def test_an_unlisted_expiry_names_the_nearest_listed_ones(venues):
    deribit, _ = venues
    days = sorted(strikes_by_expiry(deribit.instrument_names("BTC")))
    missing = days[1] - (days[1] - days[0]) / 2 if (days[1] - days[0]).days > 1 else days[-1] + (days[-1] - days[-2])
    result = gps("chain", "BTC", "--expiry", missing.isoformat())
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "nearest listed: " in result.stderr


def test_a_leg_with_an_unlisted_strike_or_expiry_gets_the_nearest_listed_ones(venues):
    deribit, aevo = venues
    key = OptionKey.parse(deribit.instrument_names("BTC")[0])
    strikes = sorted(strikes_by_expiry(deribit.instrument_names("BTC"))[key.expiry])
    between = (strikes[0] + strikes[1]) / 2
    bad = OptionKey(key.underlying, key.expiry, between, key.option_type)
    result = gps("execute", "--yes", "--quiet", "--leg", f"buy 0.1 {bad.name}")
    assert result.exit_code != 0
    message = result.stderr.strip()
    assert "\n" not in message
    assert (f"nearest strikes on {code(key.expiry)}: {strikes[0].normalize():f}, {strikes[1].normalize():f}"
            in message)
    assert sum(deribit.placed.values()) == 0 and aevo.orders_received == []
    later = OptionKey(key.underlying, key.expiry.replace(year=key.expiry.year + 5), key.strike, key.option_type)
    result = gps("quote", "--json", "--leg", f"buy 0.1 {later.name}")
    notes = [q["note"] for q in json.loads(result.stdout)["quotes"]]
    assert all("nearest expiries " in n for n in notes), notes


def test_the_plan_has_greeks_from_both_venues_marks(venues):
    deribit, aevo = venues
    common = sorted(set(map(OptionKey.parse, deribit.instrument_names("BTC")))
                    & set(map(OptionKey.parse, aevo.option_names("BTC"))), key=lambda k: (k.expiry, k.strike))
    target = [k for k in common if k.option_type.value == "P"][len(common) // 4]
    for venue, iv in (("deribit", deribit.instrument(target.name).mark_iv / 100), ("aevo", aevo.market(target.name).iv)):
        result = gps("quote", "--venue", venue, "--json", "--leg", f"sell 0.1 {target.name}")
        assert result.exit_code == 0, result.output
        leg = json.loads(result.stdout)["plan"]["payoff"]["legs"][0]
        assert D(leg["mark_iv"]) == iv and leg["greeks"] is not None
        assert D(leg["greeks"]["delta"]) > 0  # a short put gains as the index rises


def test_chain_on_the_paper_venue(gps_home, monkeypatch):
    monkeypatch.setenv("GPS_LOAD_PLUGINS", "dryrun")
    market = dryrun_market.current_market(dict(os.environ))
    listed = market.instruments("BTC")
    day = sorted({i.key.expiry for i in listed})[3]
    result = gps("chain", "BTC", "--venue", "dryrun", "--expiry", code(day), "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["strikes"]
    expected = {(i.key.strike, i.key.option_type.value) for i in listed if i.key.expiry == day}
    assert {(D(r["strike"]), r["type"]) for r in rows} == expected
    for row in rows[:4]:
        inst = market.find(OptionKey("BTC", day, D(row["strike"]), OptionKey.parse(f"BTC-1JAN30-1-{row['type']}").option_type))
        book = market.book(inst)
        quote = row["quotes"][0]
        assert D(quote["bid_usd"]) == book.bids[0].price and D(quote["ask_usd"]) == book.asks[0].price
        assert row["best_bid"] == row["best_ask"] == "dryrun"


class SlowVenue:
    """A venue whose books take a while, counting how many are fetched at once."""

    def __init__(self, name="slow", delay=0.06):
        self.name, self.delay = name, delay
        self.lock, self.now, self.most, self.calls = __import__("threading").Lock(), 0, 0, 0

    def order_book(self, instrument, depth):
        import time

        from builders import book

        with self.lock:
            self.now += 1
            self.calls += 1
            self.most = max(self.most, self.now)
        time.sleep(self.delay)
        with self.lock:
            self.now -= 1
        return book(instrument, bids=[("90", "1")], asks=[("100", "1")])


def test_books_are_fetched_concurrently_within_the_bound_with_progress():
    from builders import key, usd_instrument

    from gps_core.chain import fetch_books

    venue = SlowVenue()
    instruments = [usd_instrument("slow", key(strike=str(50000 + 1000 * i))) for i in range(60)]
    said = []
    books = fetch_books([venue], instruments, said.append, workers=3)
    assert venue.calls == 60 and len(books) == 60
    assert 1 < venue.most <= 3
    assert said and said[-1].startswith("fetched ") and said[-1].endswith("/60 order books")


@pytest.mark.parametrize("args, words", [
    (["chain", "SPY", "--venue", "dryrun"], "no selected venue lists SPY options"),
    (["chain", "BTC", "--venue", "dryrun", "--expiry", "32FOO26"], "is not a date"),
    (["chain", "B$C", "--venue", "dryrun"], "is not a coin"),
])
def test_bad_chain_input_is_one_line_exit_2(gps_home, monkeypatch, args, words):
    monkeypatch.setenv("GPS_LOAD_PLUGINS", "dryrun")
    result = gps(*args)
    assert result.exit_code == 2 and words in result.stderr and result.stderr.count("\n") == 1


@pytest.mark.parametrize("written", ["SOL", "SOL_USDC"])
def test_the_nearest_strike_hint_follows_the_venues_own_reading_of_the_name(venues, written):
    """A plain ``SOL-...`` on Deribit means its linear ``SOL_USDC-...`` listing: same hint either way."""
    deribit, _ = venues
    names = deribit.instrument_names("SOL_USDC") or deribit.instrument_names("SOL")
    key = OptionKey.parse(names[0])
    strikes = sorted(strikes_by_expiry(names)[key.expiry])
    between = (strikes[0] + strikes[1]) / 2
    leg = f"buy 1 {written}-{code(key.expiry)}-{str(between.normalize()).replace('.', 'd')}-{key.option_type.value}"
    result = gps("quote", "--venue", "deribit", "--json", "--quiet", "--leg", leg)
    notes = [q["note"] for q in json.loads(result.stdout)["quotes"]]
    assert notes == [f"not listed (nearest strikes on {code(key.expiry)}: "
                     f"{strikes[0].normalize():f}, {strikes[1].normalize():f})"], notes


def test_chain_mixes_paper_and_live_venues_labelling_paper_and_never_best(venues, monkeypatch):
    deribit, _ = venues
    monkeypatch.setenv("GPS_LOAD_PLUGINS", "dryrun,deribit")
    result = gps("chain", "BTC", "--venue", "dryrun,deribit", "--json")
    assert result.exit_code == 0, result.output
    listing = json.loads(result.stdout)
    assert listing["venues"] == ["deribit", "dryrun"] and listing["paper_venues"] == ["dryrun"]
    text = gps("chain", "BTC", "--venue", "dryrun,deribit").stdout
    assert "DRYRUN STRIKES (PAPER)" in text and "DERIBIT STRIKES" in text
    both = [r for r in listing["expiries"] if set(r["strikes"]) == {"deribit", "dryrun"}]
    assert both, "the fake Deribit and the paper venue list no expiry in common"
    strikes = gps("chain", "BTC", "--venue", "dryrun,deribit", "--expiry", both[0]["code"], "--json")
    rows = json.loads(strikes.stdout)["strikes"]
    assert {q["venue"] for r in rows for q in r["quotes"]} == {"deribit", "dryrun"}
    assert "dryrun" not in {r["best_bid"] for r in rows} | {r["best_ask"] for r in rows}
    table = gps("chain", "BTC", "--venue", "dryrun,deribit", "--expiry", both[0]["code"]).stdout
    assert "dryrun (paper)" in table
