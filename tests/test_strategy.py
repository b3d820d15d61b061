import json
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gps_core.errors import BadInput
from gps_core.model import Side
from gps_core.strategy import load_strategy, parse_leg_spec, strategy_from_specs

def write(tmp_path, data, name="s.json"):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def test_leg_spec():
    leg = parse_leg_spec("sell 0.5 ETH-27MAR26-3000-P @ 42.5")
    assert leg.side is Side.SELL and leg.quantity == D("0.5") and leg.instrument.name == "ETH-27MAR26-3000-P"
    assert leg.reference_price.amount == D("42.5")


@pytest.mark.parametrize("spec, words", [
    ("purchase 1 BTC-27MAR26-70000-C", "side"),
    ("buy -1 BTC-27MAR26-70000-C", "positive"),
    ("buy one BTC-27MAR26-70000-C", "not a number"),
    ("buy 1 BTC-27MAR26-70000", "UNDERLYING-DMMMYY"),
    ("buy 1", "expected"),
    ("buy nan BTC-27MAR26-70000-C", "finite"),
])
def test_bad_leg_specs_name_the_problem(spec, words):
    with pytest.raises(BadInput, match=words):
        parse_leg_spec(spec)


def test_same_instrument_twice_is_refused():
    with pytest.raises(BadInput, match="same instrument"):
        strategy_from_specs(["buy 1 BTC-27MAR26-70000-C", "sell 1 BTC-27MAR26-70000-C"])


def test_strategy_file_and_size(tmp_path):
    path = write(tmp_path, {"name": "spread", "legs": [
        {"side": "buy", "quantity": "0.1", "instrument": "BTC-25DEC26-95000-C",
         "reference_price": {"amount": "4100", "currency": "USD"}},
        {"side": "sell", "quantity": 0.1, "underlying": "BTC", "expiry": "2026-12-25", "strike": 100000, "option_type": "C"},
    ]})
    strategy = load_strategy(path).scaled(D(3))
    assert [leg.quantity for leg in strategy.legs] == [D("0.3"), D("0.3")]
    assert strategy.legs[1].instrument.name == "BTC-25DEC26-100000-C"
    assert strategy.legs[0].reference_price.amount == D(4100)


@pytest.mark.parametrize("data, field", [
    ({"legs": []}, "legs"),
    ({"legs": [{"side": "buy", "quantity": "x", "instrument": "BTC-25DEC26-95000-C"}]}, r"legs\[0\].quantity"),
    ({"legs": [{"side": "buy", "quantity": 1, "instrument": 5}]}, r"legs\[0\].instrument"),
    ({"legs": [{"side": "buy", "quantity": 1, "underlying": "BTC", "strike": 1, "option_type": "C"}]}, "expiry"),
    ({"legs": [{"side": "hold", "quantity": 1, "instrument": "BTC-25DEC26-95000-C"}]}, r"legs\[0\].side"),
    ("[1, 2]", "JSON object"),
    ("{not json", "not valid JSON"),
])
def test_bad_files_name_the_field(tmp_path, data, field):
    with pytest.raises(BadInput, match=field):
        load_strategy(write(tmp_path, data))


def test_a_strategy_file_is_not_a_decision_log(tmp_path):
    path = write(tmp_path, {"legs": [{"side": "buy", "quantity": 1, "instrument": "BTC-25DEC26-95000-C"}]})
    with pytest.raises(BadInput, match="--card applies to Options GPS decision logs"):
        load_strategy(path, "safer")


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=12))
def test_any_json_is_a_strategy_or_bad_input(tmp_path_factory, value):
    path = tmp_path_factory.mktemp("fuzz") / "s.json"
    for data in (value, {"legs": value}, {"best_match": {"legs": value, "expiry": value}}):
        path.write_text(json.dumps(data))
        try:
            load_strategy(path)
        except BadInput:
            pass
