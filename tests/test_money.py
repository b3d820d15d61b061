from decimal import Decimal as D

import pytest

from gps_core.errors import InvalidReply
from gps_core.model import Side
from gps_core.money import Money, format_decimal, round_to_step, to_decimal

from builders import coin_instrument, usd_instrument


@pytest.mark.parametrize("raw, expected", [(0.1, D("0.1")), ("12.50", D("12.50")), (3, D(3))])
def test_to_decimal_accepts_venue_numbers(raw, expected):
    assert to_decimal(raw) == expected


@pytest.mark.parametrize("raw", [float("nan"), "NaN", "inf", None, True, "abc", [1]])
def test_to_decimal_refuses_nonsense(raw):
    with pytest.raises(InvalidReply):
        to_decimal(raw, field="price")


def test_money_refuses_float_and_mixed_currencies():
    with pytest.raises(TypeError):
        Money(0.1, "BTC")
    with pytest.raises(ValueError):
        Money(D(1), "BTC") + Money(D(1), "USD")
    assert str(Money(D("0.0125"), "BTC")) == "0.0125 BTC"


def test_round_to_step():
    assert round_to_step(D("0.01234"), D("0.0005"), up=False) == D("0.0120")
    assert round_to_step(D("0.01234"), D("0.0005"), up=True) == D("0.0125")
    assert round_to_step(D("0.0125"), D("0.0005"), up=True) == D("0.0125")
    assert format_decimal(D("70000")) == "70000"


@pytest.mark.parametrize(
    "price, side, expected",
    [
        (D("0.00437"), Side.BUY, D("0.0043")),   # below 0.005: tick 0.0001
        (D("0.00437"), Side.SELL, D("0.0044")),
        (D("0.0052"), Side.BUY, D("0.0050")),    # above 0.005: tick 0.0005, down
        (D("0.0052"), Side.SELL, D("0.0055")),   # up
        (D("0.00499"), Side.SELL, D("0.0050")),  # rounds up onto the boundary
        (D("0.005"), Side.BUY, D("0.005")),
        (D("0.00503"), Side.BUY, D("0.0050")),   # rounds down onto the boundary
        (D("0.12345"), Side.BUY, D("0.1230")),
    ],
)
def test_tick_steps_round_in_the_bound_keeping_direction(price, side, expected):
    assert coin_instrument().round_price(price, side) == expected


def test_a_tick_step_applies_at_its_own_price():
    inst = coin_instrument()  # 0.0001, and 0.0005 from 0.005 up
    assert inst.tick_at(D("0.005")) == D("0.0005")
    assert inst.tick_at(D("0.0049")) == D("0.0001")


def test_usd_tick():
    inst = usd_instrument(tick="0.5")
    assert inst.round_price(D("101.3"), Side.BUY) == D("101.0")
    assert inst.round_price(D("101.3"), Side.SELL) == D("101.5")
