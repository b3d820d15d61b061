"""Options GPS decision logs, read from Options GPS's own output (tests/fixtures/options-gps)."""

import io
import json
from datetime import date
from decimal import Decimal as D
from pathlib import Path

import pytest

from gps_core.errors import BadInput
from gps_core.model import Side
from gps_core.options_gps import CARDS, card_expiry, decision_log_json, format_card_figures
from gps_core.strategy import load_strategy, strategy_from_text

FIXTURES = Path(__file__).parent / "fixtures" / "options-gps"
LOGS = sorted(p.name[: -len(".json")] for p in FIXTURES.glob("*.json"))
CRYPTO_LOGS = [name for name in LOGS if name.split("-")[0] in ("BTC", "ETH")]


def raw(name: str) -> dict:
    """The fixture's JSON, read without gps (the expected values)."""
    return json.loads((FIXTURES / f"{name}.json").read_text())


def cards_of(names):
    return [(name, card) for name in names for card, field in CARDS.items() if raw(name)[field] is not None]


def test_the_fixtures_cover_what_options_gps_prints():
    logs = {name: raw(name) for name in LOGS}
    assert {name.split("-")[0] for name in LOGS} == {"BTC", "ETH", "SOL", "SPY", "NVDA"}
    cards = [c for log in logs.values() for c in (log[f] for f in CARDS.values())]
    assert None in cards and any(log["no_trade"] for log in logs.values())
    assert any(not log["no_trade"] for log in logs.values())
    assert any(leg["premium"] == 0.0 for c in cards if c for leg in c["legs"])
    crypto_types = {c["type"] for name in CRYPTO_LOGS for c in (raw(name)[f] for f in CARDS.values()) if c}
    assert crypto_types == {"long_call", "long_put", "call_debit_spread", "put_debit_spread", "bull_put_credit_spread",
                            "bear_call_credit_spread", "iron_condor", "long_call_butterfly", "long_straddle",
                            "long_strangle"}


@pytest.mark.parametrize("name", LOGS)
def test_the_box_holds_the_same_json_as_the_extracted_file(name):
    boxed = (FIXTURES / f"{name}.stdout.txt").read_text()
    assert json.loads(decision_log_json(boxed)) == raw(name)


@pytest.mark.parametrize("name, card", cards_of(CRYPTO_LOGS))
def test_every_btc_and_eth_card_parses_with_its_legs(name, card):
    log = raw(name)
    expected = log[CARDS[card]]
    boxed = load_strategy(FIXTURES / f"{name}.stdout.txt", card)
    bare = load_strategy(FIXTURES / f"{name}.json", card)
    assert (boxed.legs, boxed.name, boxed.meta) == (bare.legs, bare.name, bare.meta)
    assert boxed.name == expected["description"]
    assert boxed.no_trade is log["no_trade"] and boxed.no_trade_reason == log["no_trade_reason"]
    expiry = date.fromisoformat(expected["expiry"][:10])
    assert len(boxed.legs) == len(expected["legs"])
    for leg, want in zip(boxed.legs, expected["legs"]):
        assert leg.side is {"BUY": Side.BUY, "SELL": Side.SELL}[want["action"]]
        assert leg.quantity == want["qty"]
        key = leg.instrument
        assert (key.underlying, key.expiry, key.strike, key.option_type.value) == (
            log["inputs"]["symbol"], expiry, D(str(want["strike"])), want["option_type"][0])
        assert leg.reference_price.amount == D(str(want["premium"])) and leg.reference_price.currency == "USD"
    figures = boxed.to_json()["card"]
    assert figures["type"] == expected["type"] and figures["card"] == card
    for field in ("net_cost", "max_loss", "max_profit", "pop", "ev"):
        assert (figures[field] is None and expected[field] is None) or D(figures[field]) == D(str(expected[field]))


def test_one_card_by_name():
    strategy = load_strategy(FIXTURES / "BTC-bullish-medium.json", "best")
    assert strategy.name == "Bull put credit spread"
    assert [leg.describe() for leg in strategy.legs] == ["sell 1 BTC-27MAR26-71000-P", "buy 1 BTC-27MAR26-70000-P"]
    assert [leg.reference_price.amount for leg in strategy.legs] == [D("2762.0"), D("2349.0")]
    assert strategy.no_trade and "Signals unclear" in strategy.no_trade_reason
    assert format_card_figures(strategy.to_json()["card"]) == (
        "Options GPS best card (bull_put_credit_spread), for its own quantities: net cost -$413.00, max loss $587.00, "
        "max profit $413.00, PoP 63.2%, EV $67.37")


def test_a_zero_premium_gives_no_reference_price():
    strategy = load_strategy(FIXTURES / "SPY-neutral-medium.json", "best")
    assert [str(leg.instrument) for leg in strategy.legs] == [
        "SPY-26FEB26-691-P", "SPY-26FEB26-693-P", "SPY-26FEB26-695-C", "SPY-26FEB26-697-C"]
    assert [leg.reference_price and leg.reference_price.amount for leg in strategy.legs] == [
        None, D("0.08"), D("0.03"), None]


@pytest.mark.parametrize("name, card, available", [
    ("BTC-vol-medium", "safer", "best (best_match)"),
    ("BTC-vol-medium", "upside", "best (best_match)"),
    ("SOL-neutral-low", "upside", "best (best_match), safer (safer_alt)"),
])
def test_a_null_card_is_one_line_naming_the_cards_there_are(name, card, available):
    with pytest.raises(BadInput) as caught:
        load_strategy(FIXTURES / f"{name}.stdout.txt", card)
    message = str(caught.value)
    assert f"the {card} card ({CARDS[card]}) is null" in message and f"cards available: {available}" in message
    assert "\n" not in message


def test_a_log_without_any_card():
    log = dict(raw("BTC-vol-medium"), best_match=None)
    with pytest.raises(BadInput, match="best card .best_match. is null.*no card at all"):
        strategy_from_text(json.dumps(log), "best")


def test_stdin_dash_reads_the_boxed_output():
    text = (FIXTURES / "ETH-vol-medium.stdout.txt").read_text()
    strategy = load_strategy("-", "safer", stdin=io.StringIO(text))
    assert strategy.name == raw("ETH-vol-medium")["safer_alt"]["description"]
    assert strategy.source == "stdin (safer_alt)"
    with pytest.raises(BadInput, match="stdin: empty"):
        load_strategy("-", stdin=io.StringIO(""))


def test_a_cut_short_box_and_output_without_a_box():
    text = (FIXTURES / "BTC-bullish-medium.stdout.txt").read_text()
    with pytest.raises(BadInput, match="cut short"):
        strategy_from_text(text[: text.rindex("\u2514")])
    with pytest.raises(BadInput, match="not valid JSON"):
        strategy_from_text(text[: text.index("Decision Log")])
    broken = text.replace('"max_loss": 587.0,', '"max_loss": 587.0', 1)
    with pytest.raises(BadInput, match="decision log box: not valid JSON"):
        strategy_from_text(broken)


@pytest.mark.parametrize("value, expected", [
    ("2026-02-26 08:00:00Z", date(2026, 2, 26)),
    ("2026-02-26T08:00:00Z", date(2026, 2, 26)),
    ("2026-02-26 08:00Z", date(2026, 2, 26)),
    ("2026-02-26", date(2026, 2, 26)),
    ("26FEB26", date(2026, 2, 26)),
])
def test_card_expiry_forms(value, expected):
    assert card_expiry(value, "best_match.expiry") == expected


@pytest.mark.parametrize("value", ["2026-02-30 08:00:00Z", "2026-02-26 25:00:00Z", "tomorrow", 7, None])
def test_bad_card_expiry_names_the_field(value):
    with pytest.raises(BadInput, match="best_match.expiry"):
        card_expiry(value, "best_match.expiry")


@pytest.mark.parametrize("field, value, where", [
    ("action", "HOLD", "best_match.legs[0].action"),
    ("qty", 0, "best_match.legs[0].qty"),
    ("option_type", "Straddle", "best_match.legs[0]"),
    ("strike", "high", "best_match.legs[0]"),
    ("premium", -1, "best_match.legs[0].premium"),
])
def test_bad_leg_fields_name_the_field(field, value, where):
    log = raw("BTC-bullish-medium")
    log["best_match"]["legs"][0][field] = value
    with pytest.raises(BadInput, match=where.replace("[", r"\[").replace("]", r"\]")):
        strategy_from_text(json.dumps(log))


def test_bad_card_figures_name_the_field():
    log = raw("BTC-bullish-medium")
    log["best_match"]["pop"] = "likely"
    with pytest.raises(BadInput, match="best_match.pop"):
        strategy_from_text(json.dumps(log))


def test_expiry_is_judged_by_a_paper_market_clock_only_when_every_venue_is_paper():
    from datetime import datetime, timezone
    from types import SimpleNamespace

    from gps_core.paper import paper_market_time

    past = datetime(2026, 2, 20, tzinfo=timezone.utc)
    book = SimpleNamespace(timestamp=past)
    quotes = {0: [SimpleNamespace(book=book), SimpleNamespace(book=None)]}
    paper, live = SimpleNamespace(info=SimpleNamespace(paper=True)), SimpleNamespace(info=SimpleNamespace(paper=False))
    assert paper_market_time([paper], quotes) == past
    assert paper_market_time([paper, live], quotes) is None  # a live venue: the real clock
    assert paper_market_time([paper], {0: [SimpleNamespace(book=None)]}) is None


def test_stdin_dash_refuses_a_terminal():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    with pytest.raises(BadInput, match="stdin, which is a terminal"):
        load_strategy("-", stdin=Terminal("{}"))


def test_card_text_is_one_clean_line():
    log = raw("BTC-bullish-medium")
    log["best_match"]["description"] = "Bull put\n\x1b[31mspread\x07 " + "x" * 300
    log["best_match"]["type"] = "bull_put\r\ncredit"
    strategy = strategy_from_text(json.dumps(log))
    assert strategy.name.startswith("Bull put [31mspread xxx") and len(strategy.name) == 120
    assert "\n" not in strategy.name and "\x1b" not in strategy.name
    assert strategy.to_json()["card"]["type"] == "bull_put credit"
