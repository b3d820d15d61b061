"""The stale-card guard: a leg's executable price far from the card's premium is warned about
(text and JSON), and ``--max-premium-drift PCT`` refuses the plan. Checked on the paper venue;
a refusal leaves its book of record (the paper order store) empty."""

import json
from decimal import Decimal as D
from pathlib import Path

import pytest
from click.testing import CliRunner

from gps_core.cli import cli

pytest.importorskip("gps_venue_dryrun")

from builders import paper_orders as venue_orders

FIXTURES = Path(__file__).parent / "fixtures" / "options-gps"


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("GPS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GPS_LOAD_PLUGINS", "dryrun")
    monkeypatch.setenv("GPS_DRYRUN_ASOF", "2026-02-20")
    monkeypatch.setenv("GPS_DRYRUN_INDEX", "BTC=70000,ETH=2050")
    monkeypatch.delenv("GPS_DRYRUN_FAULTS", raising=False)
    return tmp_path



def card_priced_at_the_market(premiums):
    """The ETH bearish card (one long put, premium $17.32) with its premium replaced."""
    log = json.loads((FIXTURES / "ETH-bearish-high.json").read_text())
    for leg, premium in zip(log["best_match"]["legs"], premiums):
        leg["premium"] = premium
    return json.dumps(log)


def plan_of(text, *options):
    result = CliRunner().invoke(cli, ["quote", "-", "--venue", "dryrun", "--json", "--quiet", *options], input=text)
    return result, json.loads(result.stdout)


def test_a_stale_premium_is_warned_per_leg(env):
    result, out = plan_of(card_priced_at_the_market([17.32]))
    assert result.exit_code == 0
    leg = out["plan"]["legs"][0]
    price = D(leg["expected_price_usd"])
    assert price > 2 * D("17.32")  # the paper market prices this put far above the card
    assert out["plan"]["warnings"] == [
        f"leg 1 ETH-26FEB26-2050-P: executable price ${price:,.2f} on dryrun is "
        f"{abs(price - D('17.32')) * 100 / D('17.32'):.0f}% off the card's premium $17.32: the card may be stale"]
    text = CliRunner().invoke(cli, ["quote", "-", "--venue", "dryrun", "--quiet"],
                              input=card_priced_at_the_market([17.32]))
    assert "WARNING: leg 1 ETH-26FEB26-2050-P: executable price" in text.output


def test_a_premium_near_the_market_is_not_warned(env):
    _, out = plan_of(card_priced_at_the_market([17.32]))
    price = D(out["plan"]["legs"][0]["expected_price_usd"])
    _, near = plan_of(card_priced_at_the_market([float(price * D("1.2"))]))  # 20% off: within 50%
    assert near["plan"]["warnings"] == []


def test_both_thresholds_must_be_exceeded(env):
    _, out = plan_of(card_priced_at_the_market([17.32]))
    price = D(out["plan"]["legs"][0]["expected_price_usd"])
    # more than $5 off but only 4% (a big premium): not a stale card
    assert price > 10
    _, small = plan_of(card_priced_at_the_market([float(price + D("3"))]), "--max-premium-drift", "1")
    assert small["plan"]["warnings"] == [] and small["error"] is None  # $3: under the $5 floor


def test_max_premium_drift_refuses_the_plan_and_sends_nothing(env):
    text = card_priced_at_the_market([17.32])
    result = CliRunner().invoke(cli, ["execute", "-", "--venue", "dryrun", "--yes", "--quiet",
                                      "--max-premium-drift", "50"], input=text)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "off the card's premium $17.32, over --max-premium-drift 50%" in lines[0]
    assert venue_orders(env / "home") == []
    # the default only warns: the same card executes
    done = CliRunner().invoke(cli, ["execute", "-", "--venue", "dryrun", "--yes", "--json", "--quiet"], input=text)
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["warnings"][0].startswith("leg 1 ETH-26FEB26-2050-P: executable price")
    assert [o["symbol"] for o in venue_orders(env / "home")] == ["ETH-26FEB26-2050-P"]
