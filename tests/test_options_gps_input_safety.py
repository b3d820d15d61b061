"""What gps refuses to guess when reading Options GPS output: several decision logs, a key
given twice, odd card figures; and the encodings Windows tools write.

Refusals are checked at the CLI: exit 2, one line, and the dry-run venue's book of record
(its store of paper orders) stays empty.
"""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from gps_core.cli import cli
from gps_core.errors import BadInput
from gps_core.options_gps import format_card_figures
from gps_core.strategy import load_strategy, strategy_from_text

pytest.importorskip("gps_venue_dryrun")

from builders import paper_orders as venue_orders

FIXTURES = Path(__file__).parent / "fixtures" / "options-gps"


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("GPS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GPS_LOAD_PLUGINS", "dryrun")
    monkeypatch.setenv("GPS_DRYRUN_ASOF", "2026-02-20")
    monkeypatch.setenv("GPS_DRYRUN_INDEX", "BTC=70000,ETH=2050,SOL=88")
    monkeypatch.delenv("GPS_DRYRUN_FAULTS", raising=False)
    return tmp_path



def refused(result) -> str:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def boxed(name: str) -> str:
    return (FIXTURES / f"{name}.stdout.txt").read_text()


def bare(name: str) -> str:
    return (FIXTURES / f"{name}.json").read_text()


@pytest.mark.parametrize("text", [
    boxed("BTC-bullish-medium") + boxed("ETH-bearish-high"),  # cat BTC.txt ETH.txt | gps execute -
    boxed("BTC-bullish-medium") + "\n" + boxed("ETH-bearish-high"),  # runs appended with >>
    bare("BTC-bullish-medium") + "\n" + bare("ETH-bearish-high"),  # two bare logs
])
def test_several_decision_logs_are_refused_and_nothing_is_sent(env, text):
    result = CliRunner().invoke(cli, ["execute", "-", "--card", "best", "--venue", "dryrun", "--yes"], input=text)
    line = refused(result)
    assert line == ("gps: error: found 2 decision logs in the input (BTC bullish medium, ETH bearish high); "
                    "give one")
    assert venue_orders(env / "home") == []


@pytest.mark.parametrize("make", [
    # a decision log whose no_trade is given twice: JSON would keep the last (false) silently
    lambda: bare("BTC-bullish-medium").replace('"no_trade": true', '"no_trade": true, "no_trade": false', 1),
    lambda: boxed("BTC-bullish-medium").replace('"no_trade": true', '"no_trade": true, "no_trade": false', 1),
])
def test_a_decision_log_key_given_twice_is_refused(env, make):
    text = make()
    assert text.count('"no_trade"') == 2
    result = CliRunner().invoke(cli, ["execute", "-", "--venue", "dryrun", "--yes"], input=text)
    line = refused(result)
    assert "'no_trade' is given twice" in line
    assert venue_orders(env / "home") == []


def test_a_strategy_file_key_given_twice_is_refused(env, tmp_path):
    path = tmp_path / "s.json"
    path.write_text('{"name": "x", "legs": [{"side": "buy", "side": "sell", "quantity": 1, '
                    '"instrument": "BTC-27MAR26-70000-P"}]}')
    line = refused(CliRunner().invoke(cli, ["execute", str(path), "--venue", "dryrun", "--yes"]))
    assert "'side' is given twice" in line and str(path) in line
    assert venue_orders(env / "home") == []


@pytest.mark.parametrize("encoding, bom", [("utf-16", b""), ("utf-8", b"\xef\xbb\xbf"), ("utf-16-le", b"\xff\xfe"),
                                           ("utf-16-be", b"\xfe\xff")])
@pytest.mark.parametrize("name", ["BTC-bullish-medium.stdout.txt", "BTC-bullish-medium.json"])
def test_utf16_and_bom_files_are_read(tmp_path, encoding, bom, name):
    text = (FIXTURES / name).read_text()
    path = tmp_path / "log"
    path.write_bytes(bom + text.encode(encoding))
    assert load_strategy(path).legs == load_strategy(FIXTURES / name).legs


def test_utf16_stdin_executes(env):
    data = boxed("BTC-bullish-medium").encode("utf-16")
    result = CliRunner().invoke(cli, ["execute", "-", "--venue", "dryrun", "--yes", "--json", "--quiet", "--combo", "never"],
                                input=data)
    assert result.exit_code == 0, result.output
    assert sorted(o["symbol"] for o in venue_orders(env / "home")) == ["BTC-27MAR26-70000-P", "BTC-27MAR26-71000-P"]


def test_undecodable_bytes_are_one_line_naming_the_encoding(env, tmp_path):
    path = tmp_path / "log.txt"
    path.write_bytes(bare("BTC-bullish-medium").encode("utf-8").replace(b"Bull", b"B\xfcll", 1))  # latin-1 u-umlaut
    line = refused(CliRunner().invoke(cli, ["quote", str(path), "--venue", "dryrun"]))
    assert "not utf-8 text" in line and str(path) in line


@pytest.mark.parametrize("pop", [63.2, -0.1, 1.01])
def test_pop_outside_zero_to_one_is_refused(env, pop):
    log = json.loads(bare("BTC-bullish-medium"))
    log["best_match"]["pop"] = pop
    line = refused(CliRunner().invoke(cli, ["quote", "-", "--venue", "dryrun"], input=json.dumps(log)))
    assert "best_match.pop" in line and str(pop) in line


def test_a_card_expiry_at_another_time_of_day_is_refused(env):
    log = json.loads(bare("BTC-bullish-medium"))
    log["best_match"]["expiry"] = "2026-03-27 10:00:00Z"
    result = CliRunner().invoke(cli, ["execute", "-", "--venue", "dryrun", "--yes"], input=json.dumps(log))
    line = refused(result)
    assert "best_match.expiry" in line and "10:00 UTC" in line and "08:00 UTC" in line
    assert venue_orders(env / "home") == []


def test_a_missing_symbol_names_inputs_symbol(env):
    log = json.loads(bare("BTC-bullish-medium"))
    del log["inputs"]["symbol"]
    line = refused(CliRunner().invoke(cli, ["quote", "-", "--venue", "dryrun"], input=json.dumps(log)))
    assert "inputs.symbol: missing" in line


@pytest.mark.parametrize("name, card, shown", [
    ("BTC-bullish-medium", "upside", "max profit unlimited"),  # long call: "Unlimited upside if ..."
    ("ETH-bearish-high", "best", "max profit not given"),  # long put: "Max profit if ETH falls well below ..."
])
def test_a_null_max_profit_says_what_options_gps_meant(name, card, shown):
    strategy = strategy_from_text(bare(name), card)
    assert strategy.to_json()["card"]["max_profit"] is None
    line = format_card_figures(strategy.to_json()["card"])
    assert shown in line and "$-" not in line


@pytest.mark.parametrize("variable, value, expected", [
    ("GPS_DRYRUN_INDEX", "BTC:70000", "GPS_DRYRUN_INDEX: 'BTC:70000' is not UNDERLYING=LEVEL"),
    ("GPS_DRYRUN_ASOF", "2026-02-31", "GPS_DRYRUN_ASOF='2026-02-31' is not a date YYYY-MM-DD"),
])
@pytest.mark.parametrize("command", [["quote", "--venue", "dryrun"], ["execute", "--venue", "dryrun", "--yes"],
                                     ["execute", "--dry-run", "--yes"]])
def test_a_malformed_paper_market_variable_is_the_first_and_only_error(env, monkeypatch, variable, value, expected,
                                                                       command):
    monkeypatch.setenv(variable, value)
    result = CliRunner().invoke(cli, [command[0], "-", *command[1:]], input=bare("BTC-bullish-medium"))
    assert result.exit_code == 2, result.output
    errors = [line for line in result.stderr.splitlines() if "error" in line or "did not answer" in line]
    assert errors == [f"gps: error: {expected}" + errors[0].split(expected, 1)[1]] and len(errors) == 1
    assert "expired" not in result.output and "did not answer" not in result.output
    assert venue_orders(env / "home") == []


def test_an_expired_leg_on_the_paper_market_hints_at_its_date(env, monkeypatch):
    monkeypatch.setenv("GPS_DRYRUN_ASOF", "2026-11-29")
    result = CliRunner().invoke(cli, ["execute", "-", "--venue", "dryrun", "--yes"], input=bare("BTC-bullish-medium"))
    line = refused(result) if len(result.stderr.strip().splitlines()) == 1 else result.stderr.strip().splitlines()[-1]
    assert result.exit_code == 2
    # No leg has a book, so the market's date is unknown and not claimed (the real clock judged it).
    assert line == ("gps: error: leg 1: BTC-27MAR26-71000-P has expired "
                    "(set GPS_DRYRUN_ASOF=YYYY-MM-DD to paper-trade an older card)")
    assert venue_orders(env / "home") == []


def test_an_expired_leg_beside_a_live_one_names_the_paper_markets_own_date(env, monkeypatch):
    """The date in the hint is the paper market's (GPS_DRYRUN_ASOF), never the real clock's."""
    monkeypatch.setenv("GPS_DRYRUN_ASOF", "2026-10-01")
    result = CliRunner().invoke(cli, ["execute", "--venue", "dryrun", "--yes", "--leg", "buy 0.1 BTC-25JUN27-95000-C",
                                      "--leg", "sell 0.1 BTC-27MAR26-71000-P"])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "gps: error: leg 2: BTC-27MAR26-71000-P has expired (the paper market's date is 2026-10-01; "
        "set GPS_DRYRUN_ASOF=YYYY-MM-DD to paper-trade an older card)")
    assert venue_orders(env / "home") == []


@pytest.mark.parametrize("command", [["quote", "--venue", "dryrun"], ["execute", "--venue", "dryrun", "--yes"]])
def test_a_crypto_underlying_another_installed_venue_lists_is_not_called_non_crypto(env, monkeypatch, command):
    monkeypatch.setenv("GPS_LOAD_PLUGINS", "dryrun,deribit")
    monkeypatch.setenv("DERIBIT_BASE_URL", "http://127.0.0.1:9")  # never asked
    result = CliRunner().invoke(cli, [*command, "--leg", "buy 1 XRP_USDC-25DEC26-0d625-C"])
    line = refused(result)
    assert line == ("gps: error: no venue asked lists XRP options (dryrun: BTC, ETH, SOL); deribit lists them "
                    "(--venue deribit); nothing was sent")
    assert venue_orders(env / "home") == []


def test_an_underlying_no_installed_venue_lists_is_crypto_only(env, monkeypatch):
    monkeypatch.setenv("GPS_LOAD_PLUGINS", "dryrun,deribit,aevo")
    monkeypatch.setenv("DERIBIT_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AEVO_BASE_URL", "http://127.0.0.1:9")
    result = CliRunner().invoke(cli, ["quote", "--venue", "dryrun", "--leg", "buy 1 SPY-26FEB26-691-P"])
    line = refused(result)
    assert line.startswith("gps: error: SPY options are not traded by any venue asked (dryrun: BTC, ETH, SOL) "
                           "nor by any installed venue; gps executes crypto options only")


def test_with_venue_plugins_left_unloaded_gps_does_not_claim_the_underlying_is_not_crypto(env):
    # GPS_LOAD_PLUGINS=dryrun leaves the installed deribit and aevo plugins out: they may list XRP
    result = CliRunner().invoke(cli, ["quote", "--venue", "dryrun", "--leg", "buy 1 XRP_USDC-25DEC26-0d625-C"])
    line = refused(result)
    assert line.startswith("gps: error: no venue asked lists XRP options (dryrun: BTC, ETH, SOL); venue plugins "
                           "not loaded (GPS_LOAD_PLUGINS/GPS_DISABLE_PLUGINS): ")
    assert "deribit" in line and "crypto" not in line
