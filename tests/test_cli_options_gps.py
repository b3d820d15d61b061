"""Options GPS's real output piped into ``gps execute -``, traded on the dry-run venue.

Every BTC, ETH and SOL card of the fixtures (tests/fixtures/options-gps) executes end to end from
the boxed stdout through stdin; the check is the dry-run venue's book of record (its store
of paper orders), not gps's report. SPY and NVDA cards are refused in one line before
anything is sent.
"""

import json
import os
import subprocess
import sys
from decimal import Decimal as D
from pathlib import Path

import pytest
from click.testing import CliRunner

from gps_core.cli import cli
from gps_core.instruments import OptionKey

pytest.importorskip("gps_venue_dryrun")

from builders import paper_orders as venue_orders

FIXTURES = Path(__file__).parent / "fixtures" / "options-gps"
CARDS = {"best": "best_match", "safer": "safer_alt", "upside": "higher_upside"}
#: Before every fixture card's expiry (ETH/SOL/SPY/NVDA 2026-02-26, BTC 2026-03-27), which real time has passed.
ASOF = "2026-02-20"
#: Near the fixtures' own spot prices, so the cards' strikes are near the money as Options GPS meant.
INDEX = "BTC=70000,ETH=2050,SOL=88"


def log_names(*underlyings):
    return sorted(p.name[: -len(".json")] for p in FIXTURES.glob("*.json") if p.name.split("-")[0] in underlyings)


def crypto_cards():
    return [(name, card) for name in log_names("BTC", "ETH", "SOL") for card, field in CARDS.items()
            if json.loads((FIXTURES / f"{name}.json").read_text())[field] is not None]


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("GPS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GPS_LOAD_PLUGINS", "dryrun")
    monkeypatch.setenv("GPS_DRYRUN_ASOF", ASOF)
    monkeypatch.setenv("GPS_DRYRUN_INDEX", INDEX)
    monkeypatch.delenv("GPS_DRYRUN_FAULTS", raising=False)
    return tmp_path



@pytest.mark.parametrize("name, card", crypto_cards())
def test_every_crypto_card_executes_from_the_boxed_stdout(env, name, card):
    stdout = (FIXTURES / f"{name}.stdout.txt").read_text()
    expected = json.loads((FIXTURES / f"{name}.json").read_text())[CARDS[card]]
    # --combo never: this test follows each card leg to its own order (combos: test_combo*, test_hooks)
    result = CliRunner().invoke(cli, ["execute", "-", "--card", card, "--venue", "dryrun", "--json", "--quiet",
                                      "--combo", "never"], input=stdout)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["card"]["type"] == expected["type"] and D(report["card"]["max_loss"]) == D(str(expected["max_loss"]))
    orders = venue_orders(env / "home")
    assert len(orders) == len(expected["legs"])  # one order per leg, none sent twice
    by_id = {o["client_order_id"]: o for o in orders}
    assert set(by_id) == {leg["client_order_id"] for leg in report["legs"]}
    symbol = name.split("-")[0]
    expiry = expected["expiry"][:10]
    for leg, want in zip(report["legs"], expected["legs"]):
        stored = by_id[leg["client_order_id"]]
        key = OptionKey.parse(stored["symbol"])
        assert key.underlying == symbol and key.expiry.isoformat() == expiry
        assert key.strike == D(str(want["strike"])) and key.option_type.value == want["option_type"][0]
        assert stored["side"] == want["action"].lower()
        assert D(stored["quantity"]) == sum(D(f["quantity"]) for f in stored["fills"]) == want["qty"]
        assert stored["status"] == "filled"


def test_the_readme_pipe_with_a_real_process(env):
    """``python main.py ... | gps execute - --card best --dry-run``, with the saved stdout as main.py."""
    gps = Path(sys.executable).with_name("gps")
    with open(FIXTURES / "BTC-bullish-medium.stdout.txt", "rb") as stdout:
        run = subprocess.run([str(gps), "execute", "-", "--card", "best", "--dry-run"], stdin=stdout,
                             capture_output=True, text=True, timeout=120, env=dict(os.environ))
    assert run.returncode == 0, run.stderr
    assert "Plan for Bull put credit spread" in run.stderr and "Options GPS best card (bull_put_credit_spread)" in run.stderr
    assert "ALL LEGS FILLED" in run.stdout
    assert "Options GPS best card (bull_put_credit_spread), for its own quantities: net cost -$413.00" in run.stdout
    # the offline paper venue offers combos: the spread is one filled combo order, held per leg
    (order,) = venue_orders(env / "home")
    assert order["status"] == "filled" and order["symbol"].startswith("BTC-COMBO-")
    sign = 1 if order["side"] == "buy" else -1
    assert {symbol: sign * ratio for symbol, ratio, _ in order["combo_legs"]} == {
        "BTC-27MAR26-70000-P": 1, "BTC-27MAR26-71000-P": -1}


def test_the_plan_shows_the_card_figures_beside_gps_figures(env):
    stdout = (FIXTURES / "ETH-neutral-medium.stdout.txt").read_text()
    result = CliRunner().invoke(cli, ["quote", "-", "--venue", "dryrun", "--json"], input=stdout)
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)["plan"]
    assert plan["strategy"]["name"] == "Iron condor (defined risk)"
    assert plan["strategy"]["card"] == {"card": "best", "field": "best_match", "type": "iron_condor",
                                        "net_cost": "-15.92", "max_loss": "34.08", "max_profit": "15.92",
                                        "pop": "0.309", "ev": "-33.81",
                                        "max_profit_condition": "$16 if ETH between $2,025-$2,075 at expiry"}
    assert plan["totals"]["max_loss_usd"] is not None
    assert venue_orders(env / "home") == []


@pytest.mark.parametrize("name", log_names("SPY", "NVDA"))
@pytest.mark.parametrize("card", ["best", "safer"])
@pytest.mark.parametrize("command", [["execute", "--yes"], ["quote"], ["execute", "--dry-run"]])
def test_equity_cards_are_refused_in_one_line(env, monkeypatch, name, card, command):
    monkeypatch.setenv("GPS_LOAD_PLUGINS", "dryrun,deribit,aevo")
    for variable in ("DERIBIT_BASE_URL", "AEVO_BASE_URL"):
        monkeypatch.setenv(variable, "http://127.0.0.1:9")  # never asked: the refusal comes first
    stdout = (FIXTURES / f"{name}.stdout.txt").read_text()
    result = CliRunner().invoke(cli, [command[0], "-", "--card", card, *command[1:]], input=stdout)
    assert result.exit_code == 2
    symbol = name.split("-")[0]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"gps: error: {symbol} options are not traded by any venue asked")
    for venue in ("dryrun", "deribit", "aevo"):
        assert venue in lines[0]
    assert "crypto options only" in lines[0]
    assert venue_orders(env / "home") == []
    assert not (env / "home" / "journal").exists() or not any((env / "home" / "journal").iterdir())


@pytest.fixture
def fake_deribit(env, monkeypatch):
    fake_server = pytest.importorskip("gps_venue_deribit.testing.fake_server")
    server = fake_server.FakeDeribit().start()
    monkeypatch.setenv("GPS_LOAD_PLUGINS", "deribit")
    monkeypatch.setenv("DERIBIT_BASE_URL", server.url)
    monkeypatch.setenv("DERIBIT_CLIENT_ID", server.state.client_id)
    monkeypatch.setenv("DERIBIT_CLIENT_SECRET", server.state.client_secret)
    monkeypatch.delenv("DERIBIT_TESTNET", raising=False)
    yield server
    server.stop()


@pytest.mark.parametrize("card, option_type", [("best", "P"), ("safer", "C")])
def test_sol_cards_route_to_deribit_linear_options(fake_deribit, card, option_type):
    """A SOL card names plain ``SOL-...`` legs; Deribit lists SOL only as linear ``SOL_USDC-...``.

    The card is a real Options GPS SOL card whose expiry and strike are moved onto the fake
    exchange's chain (a live venue judges expiry by the real clock, and the mock data's
    2026-02-26 has passed); everything else in the boxed stdout is as Options GPS printed it.
    """
    codes = sorted({n.split("-")[1] for n in fake_deribit.state.instrument_names("SOL_USDC")},
                   key=lambda code: OptionKey.parse(f"SOL-{code}-1-C").expiry)
    expiry = OptionKey.parse(f"SOL-{codes[2]}-1-C").expiry
    stdout = (FIXTURES / "SOL-neutral-low.stdout.txt").read_text()
    assert stdout.count('"strike": 88.0') == 2 and stdout.count('"2026-02-26 08:00:00Z"') == 2
    stdout = stdout.replace('"strike": 88.0', '"strike": 150.0').replace(
        '"2026-02-26 08:00:00Z"', f'"{expiry.isoformat()} 08:00:00Z"')
    result = CliRunner().invoke(cli, ["execute", "-", "--card", card, "--yes", "--force", "--json", "--quiet"],
                                input=stdout)
    assert result.exit_code == 0, result.output
    (leg,) = json.loads(result.stdout)["legs"]
    (order,) = fake_deribit.state.orders_for(leg["client_order_id"])
    assert order["instrument_name"] == f"SOL_USDC-{codes[2]}-150-{option_type}"
    assert order["direction"] == "buy" and order["amount"] == D(1) and order["order_state"] == "filled"


def test_dry_run_with_no_real_venue_reachable_trades_the_card_on_the_offline_market(env, monkeypatch):
    monkeypatch.setenv("GPS_LOAD_PLUGINS", "dryrun,deribit,aevo")
    for variable in ("DERIBIT_BASE_URL", "AEVO_BASE_URL"):
        monkeypatch.setenv(variable, "http://127.0.0.1:9")  # the discard port: nothing listens, refused at once
    stdout = (FIXTURES / "ETH-bearish-high.stdout.txt").read_text()
    result = CliRunner().invoke(cli, ["execute", "-", "--card", "safer", "--dry-run", "--json"], input=stdout)
    assert result.exit_code == 0, result.output
    assert "no real venue could be reached" in result.stderr
    report = json.loads(result.stdout)
    assert {leg["venue"] for leg in report["legs"]} == {"dryrun"}
    orders = venue_orders(env / "home")
    assert sorted((o["side"], o["symbol"], o["status"]) for o in orders) == [
        ("buy", "ETH-26FEB26-2075-C", "filled"), ("sell", "ETH-26FEB26-2050-C", "filled")]


def test_the_readme_example_output_command_runs_as_written(env):
    root = Path(__file__).resolve().parents[1]
    (line,) = [line for line in (root / "README.md").read_text().splitlines()
               if line.endswith("< examples/options-gps-output.txt")]
    assert (root / "examples" / "options-gps-output.txt").read_text() == (
        FIXTURES / "BTC-bullish-medium.stdout.txt").read_text()
    bin_dir = Path(sys.executable).parent
    run = subprocess.run(["bash", "-c", line], cwd=root, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"})
    assert run.returncode == 0, run.stderr
    assert sorted((o["side"], o["symbol"], o["status"]) for o in venue_orders(env / "home")) == [
        ("buy", "BTC-27MAR26-71000-C", "filled"), ("sell", "BTC-27MAR26-73000-C", "filled")]
