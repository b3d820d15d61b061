"""The offline market: expiries that never go stale, valid strikes, ticks and books, determinism."""

from datetime import date, datetime, timedelta, timezone
from dataclasses import replace
from decimal import Decimal as D

import pytest

from gps_core.errors import ConfigurationError
from gps_core.instruments import OptionKey, OptionType
from gps_core.money import is_multiple
from gps_venue_dryrun import market as mk
from gps_venue_dryrun.expiries import expiries, last_friday

ASOFS = [date(2026, 1, 1), date(2026, 2, 27), date(2026, 11, 24), date(2026, 12, 31), date(2027, 6, 25),
         date(2028, 2, 29), date(2031, 7, 4)]


def midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=timezone.utc)


@pytest.mark.parametrize("asof", ASOFS)
def test_expiries_are_live_and_follow_the_calendar(asof):
    days = expiries(asof)
    assert days == sorted(set(days)) and days[0] >= asof
    assert days[:3] == [asof + timedelta(days=n) for n in range(3)]  # dailies
    fridays = [d for d in days if d.weekday() == 4]
    assert len(fridays) >= 4
    monthly = [d for d in days if d == last_friday(d.year, d.month)]
    assert len(monthly) >= 3
    quarterly = [d for d in monthly if d.month in (3, 6, 9, 12)]
    assert quarterly and all(d <= asof + timedelta(days=366) for d in quarterly)
    assert days[-1] <= asof + timedelta(days=366)
    # every quarter end within ~11 months is listed
    assert len(quarterly) >= 3


@pytest.mark.parametrize("asof", ASOFS)
def test_no_instrument_is_expired_at_the_as_of_moment(asof):
    market = mk.Market(asof)
    for underlying in ("BTC", "ETH"):
        chain = market.instruments(underlying)
        assert chain
        for inst in chain:
            assert inst.expires_at.hour == 8 and inst.expires_at.tzinfo is not None
            assert not inst.is_expired(midnight(asof))


def test_today_expiry_disappears_after_0800_utc():
    asof = date(2026, 11, 24)
    before = mk.Market(asof, midnight(asof) + timedelta(hours=7, minutes=59))
    after = mk.Market(asof, midnight(asof) + timedelta(hours=8))
    assert before.expiries[0] == asof
    assert after.expiries[0] == asof + timedelta(days=1)
    assert len(after.expiries) >= len(before.expiries) - 1
    assert all(not i.is_expired(after.now) for i in after.instruments("BTC"))


def test_current_market_uses_the_as_of_env_and_caches():
    a = mk.current_market({"GPS_DRYRUN_ASOF": "2026-03-02"})
    assert a.asof == date(2026, 3, 2) and a is mk.current_market({"GPS_DRYRUN_ASOF": "2026-03-02"})
    with pytest.raises(ConfigurationError, match="GPS_DRYRUN_ASOF"):
        mk.current_market({"GPS_DRYRUN_ASOF": "next tuesday"})


def test_today_market_judges_expiries_by_the_real_clock():
    now = datetime(2026, 11, 24, 16, 0, tzinfo=timezone.utc)
    market = mk.current_market({}, now=now)
    assert market.asof == now.date() and market.expiries[0] == date(2026, 11, 25)


def test_strike_grids():
    market = mk.Market(date(2026, 11, 24))
    for underlying, near, far in (("BTC", 1000, 5000), ("ETH", 50, 100), ("SOL", 2, 10)):
        index = market.index(underlying)
        strikes = {i.key.strike for i in market.instruments(underlying)}
        for strike in strikes:
            assert strike > 0 and is_multiple(strike, D(near))
            if abs(strike - index) > index * D("0.08"):
                assert is_multiple(strike, D(far)), strike
        assert index in strikes


def test_instrument_rules():
    inst = mk.Market(date(2026, 11, 24)).instruments("BTC")[0]
    assert (inst.venue, inst.price_currency, inst.tick_size) == ("dryrun", "USD", D("0.1"))
    assert (inst.min_quantity, inst.quantity_step) == (D("0.01"), D("0.01"))
    assert inst.fees.taker_rate == D("0.0003") and inst.fees.premium_cap == D("0.125")
    assert inst.symbol == inst.key.name


@pytest.mark.parametrize("asof", [date(2026, 11, 24), date(2027, 6, 25)])
def test_every_book_is_sane(asof):
    market = mk.Market(asof)
    for underlying in ("BTC", "ETH", "SOL"):
        for inst in market.instruments(underlying):
            book = market.book(inst)
            assert len(book.bids) == len(book.asks) == 5
            assert book.bids[0].price < book.asks[0].price
            bids, asks = [l.price for l in book.bids], [l.price for l in book.asks]
            assert bids == sorted(bids, reverse=True) and len(set(bids)) == 5
            assert asks == sorted(asks) and len(set(asks)) == 5
            for level in book.bids + book.asks:
                tick = inst.tick_size
                assert level.price >= tick and is_multiple(level.price, tick), (inst.symbol, level)
                assert level.quantity > 0 and is_multiple(level.quantity, inst.quantity_step)
            assert book.usd_per_unit == 1 and book.index_price == market.index(underlying)


def test_books_are_deterministic_across_market_instances():
    asof = date(2026, 11, 24)
    first, second = mk.Market(asof), mk.Market(asof)
    for inst in first.instruments("ETH")[::7]:
        assert first.book(inst).bids == second.book(inst).bids
        assert first.book(inst).asks == second.book(inst).asks


def test_depth_argument_limits_levels():
    market = mk.Market(date(2026, 11, 24))
    inst = market.instruments("BTC")[10]
    assert len(market.book(inst, 2).bids) == 2 and len(market.book(inst, 50).asks) == 5


def test_prices_are_consistent_with_black_scholes():
    market = mk.Market(date(2026, 11, 24))
    expiry = date(2026, 12, 25)
    calls = [market.find(OptionKey("BTC", expiry, D(k), OptionType.CALL)) for k in (90000, 95000, 100000)]
    values = [market.fair_value(c) for c in calls]
    assert values[0] > values[1] > values[2] > 0
    put = market.find(OptionKey("BTC", expiry, D(95000), OptionType.PUT))
    # zero rates: put-call parity at the money
    assert abs(values[1] - market.fair_value(put)) < 1e-6
    assert 3000 < values[1] < 10000  # ~1 month ATM BTC call at ~55% vol


def test_find_matches_all_four_fields():
    market = mk.Market(date(2026, 11, 24))
    inst = market.instruments("BTC")[0]
    assert market.find(inst.key) == inst
    assert market.find(replace(inst.key, strike=inst.key.strike + D("0.5"))) is None  # off BTC's 1 USD increment
    assert market.find(replace(inst.key, underlying="DOGE")) is None
    assert market.find(replace(inst.key, settlement="USDC")) is None  # BTC_USDC-... is another contract


def test_any_strike_and_expiry_is_listed_on_demand_until_it_expires():
    market = mk.Market(date(2026, 2, 20))
    # Off the grid: a Friday the calendar does not list, strikes between grid steps.
    key = OptionKey("BTC", date(2026, 4, 17), D("71000.0"), OptionType.PUT)
    odd = OptionKey("ETH", date(2026, 3, 3), D("2047.5"), OptionType.CALL)
    assert key.expiry not in market.expiries and odd.expiry not in market.expiries
    for wanted in (key, odd):
        inst = market.find(wanted)
        assert inst is not None and inst.key == wanted and inst.symbol == wanted.name
        assert "E" not in str(inst.key.strike)  # written plainly in the store and the journal
        assert inst.expires_at == datetime(wanted.expiry.year, wanted.expiry.month, wanted.expiry.day, 8,
                                           tzinfo=timezone.utc)
        book = market.book(inst)
        assert book.bids and book.asks and book.bids[0].price < book.asks[0].price
        assert book.timestamp == market.clock() == midnight(market.asof)
    assert market.find(replace(key, strike=D("71000.3"))) is None  # not on the strike increment
    assert market.find(replace(odd, strike=D("2047.25"))) is None
    assert market.find(replace(key, expiry=date(2026, 2, 19))) is None  # expired at the as-of date
    assert market.find(replace(key, expiry=date(2026, 2, 20))) is not None  # 08:00 is after the as-of midnight
    assert market.find(replace(key, expiry=date(2030, 1, 1))) is None  # beyond the on-demand horizon
    assert mk.Market(date(2026, 4, 18)).find(key) is None


def test_on_demand_books_are_deterministic_and_follow_the_index():
    key = OptionKey("BTC", date(2026, 3, 27), D(71000), OptionType.PUT)
    a, b = mk.Market(date(2026, 2, 20)), mk.Market(date(2026, 2, 20))
    assert a.book(a.find(key)) == b.book(b.find(key))
    low = mk.Market(date(2026, 2, 20), index={"BTC": D(67000)})
    assert low.index("BTC") == D(67000) and low.index("ETH") == a.index("ETH")
    # a lower index makes the put dearer and the call cheaper
    assert low.mid(low.find(key)) > a.mid(a.find(key))
    call = replace(key, option_type=OptionType.CALL)
    assert low.mid(low.find(call)) < a.mid(a.find(call))
    assert low.book(low.find(key)).index_price == D(67000)


def test_index_levels_come_from_the_environment():
    env = {"GPS_DRYRUN_ASOF": "2026-02-20", "GPS_DRYRUN_INDEX": "btc=67000, ETH=2000.5"}
    market = mk.current_market(env)
    assert market.index("BTC") == D(67000) and market.index("ETH") == D("2000.5")
    assert market is mk.current_market(dict(env)) and market is not mk.current_market({"GPS_DRYRUN_ASOF": "2026-02-20"})
    for bad in ("BTC", "BTC=", "BTC=-1", "BTC=abc", "DOGE=1", "BTC=nan"):
        with pytest.raises(ConfigurationError, match="GPS_DRYRUN_INDEX"):
            mk.current_market({"GPS_DRYRUN_INDEX": bad})
