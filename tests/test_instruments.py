from datetime import date
from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gps_core.errors import BadInput
from gps_core.instruments import OptionKey, OptionType, parse_expiry


@pytest.mark.parametrize(
    "name, fields",
    [
        ("BTC-27MAR26-70000-C", ("BTC", date(2026, 3, 27), D(70000), OptionType.CALL)),
        ("ETH-6JUL25-1500-P", ("ETH", date(2025, 7, 6), D(1500), OptionType.PUT)),
        ("XRP_USDC-30JUN23-0d625-C", ("XRP", date(2023, 6, 30), D("0.625"), OptionType.CALL)),
        ("btc-27mar26-70000-c", ("BTC", date(2026, 3, 27), D(70000), OptionType.CALL)),
    ],
)
def test_parse_known_names(name, fields):
    parsed = OptionKey.parse(name)
    assert (parsed.underlying, parsed.expiry, parsed.strike, parsed.option_type) == fields


def test_the_settlement_is_part_of_the_key():
    inverse = OptionKey.parse("BTC-25DEC26-95000-C")
    linear = OptionKey.parse("BTC_USDC-25DEC26-95000-C")
    assert (linear.underlying, linear.settlement) == ("BTC", "USDC") and inverse.settlement == ""
    assert inverse != linear and hash(inverse) != hash(linear) and len({inverse, linear}) == 2
    assert linear.name == "BTC_USDC-25DEC26-95000-C" and inverse.name == "BTC-25DEC26-95000-C"
    assert linear.plain == inverse and inverse.settled_in("usdc") == linear
    assert sorted([linear, inverse]) == [inverse, linear]
    # the underscore form of the underlying is the same key, however it is built
    assert OptionKey("SOL_USDC", date(2026, 12, 25), D(140), OptionType.CALL) == OptionKey(
        "SOL", date(2026, 12, 25), D(140), OptionType.CALL, "USDC")


@pytest.mark.parametrize("name, strike", [
    ("XRP_USDC-25DEC26-0d625-C", D("0.625")), ("XRP_USDC-25DEC26-0.625-C", D("0.625")),
    ("SOL_USDC-25DEC26-140-C", D(140)), ("XRP_USDC-25DEC26-1d5-P", D("1.5")),
])
def test_decimal_strikes_parse_and_print_both_ways(name, strike):
    key = OptionKey.parse(name)
    assert key.strike == strike and key.settlement == "USDC"
    assert OptionKey.parse(key.name) == key and "." not in key.name


def test_name_round_trip_prints_canonical_form():
    assert OptionKey.parse("XRP_USDC-30JUN23-0.625-C").name == "XRP_USDC-30JUN23-0d625-C"
    assert OptionKey.parse("BTC-05DEC26-100000-P").name == "BTC-5DEC26-100000-P"


@pytest.mark.parametrize("bad", ["", "BTC", "BTC-27MAR26-70000", "BTC-27XXX26-70000-C", "BTC-31FEB26-70000-C",
                                 "BTC-27MAR26-0-C", "BTC-27MAR26-abc-C", "BTC-27MAR26-70000-X"])
def test_bad_names_are_bad_input(bad):
    with pytest.raises(BadInput):
        OptionKey.parse(bad)


def test_matching_uses_all_four_fields():
    a = OptionKey.parse("BTC-27MAR26-70000-C")
    assert a != OptionKey.parse("BTC-26JUN26-70000-C")
    assert a != OptionKey.parse("BTC-27MAR26-70000-P")
    assert a != OptionKey.parse("ETH-27MAR26-70000-C")
    assert a == OptionKey.parse("BTC-27MAR26-70000.0-C")


def test_expiry_formats():
    assert parse_expiry("2026-03-27") == date(2026, 3, 27)
    assert parse_expiry("27MAR26") == date(2026, 3, 27)
    assert parse_expiry("2026-03-27T08:00:00Z") == date(2026, 3, 27)
    with pytest.raises(BadInput):
        parse_expiry("next friday")


@given(
    underlying=st.sampled_from(["BTC", "ETH", "SOL_USDC"]),
    day=st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)),
    strike=st.decimals(min_value=D("0.001"), max_value=D("10000000"), places=3, allow_nan=False, allow_infinity=False),
    option_type=st.sampled_from(list(OptionType)),
)
def test_round_trip_property(underlying, day, strike, option_type):
    key = OptionKey(underlying, day, strike, option_type)
    assert OptionKey.parse(key.name) == key
    assert OptionKey.parse(key.name).name == key.name


@given(st.text(max_size=40))
def test_parser_never_crashes_on_garbage(text):
    try:
        OptionKey.parse(text)
    except BadInput:
        pass
