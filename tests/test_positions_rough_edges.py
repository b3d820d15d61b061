"""`gps positions` and `gps chain` rough edges, through the CLI; what is held is read at the paper store."""

import json
from decimal import Decimal

import pytest
from click.testing import CliRunner

from gps_core.cli import cli

dryrun = pytest.importorskip("gps_venue_dryrun")
pytest.importorskip("gps_venue_deribit")

D = Decimal
CALL = "BTC-25JUN27-95000-C"


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("GPS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GPS_LOAD_PLUGINS", "dryrun,deribit")
    for name in ("DERIBIT_CLIENT_ID", "DERIBIT_CLIENT_SECRET", "GPS_DRYRUN_FAULTS", "GPS_DRYRUN_ASOF",
                 "GPS_DRYRUN_INDEX"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DERIBIT_BASE_URL", "http://127.0.0.1:9")  # never reached: nothing may be asked
    return tmp_path / "home"


def gps(*args):
    return CliRunner().invoke(cli, list(args))


def buy(quantity="0.1"):
    result = gps("execute", "--venue", "dryrun", "--yes", "--quiet", "--leg", f"buy {quantity} {CALL}")
    assert result.exit_code == 0, result.output


def test_a_venue_without_credentials_is_listed_not_configured_and_the_others_answer(home):
    buy()
    result = gps("positions")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    (deribit,) = [line for line in lines if line.startswith("deribit:")]
    assert deribit.startswith("deribit: not configured (no credentials: set DERIBIT_CLIENT_ID and DERIBIT_CLIENT_SECRET")
    assert deribit.count("DERIBIT_CLIENT_ID") == 1
    assert CALL in result.stdout
    data = json.loads(gps("positions", "--json").stdout)
    assert {v["venue"]: v["status"] for v in data["venues"]} == {"deribit": "not_configured", "dryrun": "ok"}
    named = gps("positions", "--venue", "deribit")
    assert named.exit_code == 1, named.output  # asked for by name: it could not be asked


def test_the_paper_mark_is_the_markets_mark_as_in_the_plan(home):
    plan = json.loads(gps("quote", "--venue", "dryrun", "--json", "--leg", f"buy 0.1 {CALL}").stdout)["plan"]
    buy()
    (venue,) = [v for v in json.loads(gps("positions", "--json").stdout)["venues"] if v["venue"] == "dryrun"]
    (position,) = venue["positions"]
    assert D(position["mark_price"]) == D(plan["payoff"]["legs"][0]["mark"]), (position, plan["payoff"]["legs"][0])


def test_an_underlying_no_venue_lists_is_refused_in_one_line(home):
    result = gps("positions", "--underlying", "doge")
    assert result.exit_code == 2
    assert result.stderr.startswith("gps: error: --underlying doge: no installed venue lists DOGE options (they list ")
    assert len(result.stderr.splitlines()) == 1


def test_a_chain_expiry_in_the_past_is_called_expired(home):
    result = gps("chain", "BTC", "--venue", "dryrun", "--expiry", "1JAN20")
    assert result.exit_code == 2
    assert result.stderr.startswith("gps: error: BTC options expiring 1JAN20 have expired; the earliest listed expiry is ")
    assert len(result.stderr.splitlines()) == 1


def test_the_opened_by_column_stays_short_with_many_executions(home):
    for _ in range(4):
        buy()
    text = gps("positions", "--venue", "dryrun").stdout
    (row,) = [line for line in text.splitlines() if CALL in line]
    assert "+3 more (--json)" in row and len(row) < 140, row
