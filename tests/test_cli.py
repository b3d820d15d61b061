"""The gps command line, through click's runner, on the dry-run venue."""

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from gps_core.cli import cli

dryrun_demo = pytest.importorskip("gps_venue_dryrun.demo")


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("GPS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GPS_LOAD_PLUGINS", "dryrun")
    monkeypatch.delenv("GPS_DRYRUN_FAULTS", raising=False)
    return tmp_path


@pytest.fixture
def strategy(env):
    path = env / "demo.json"
    subprocess.run([sys.executable, "-m", "gps_venue_dryrun.demo", "--out", str(path)], check=True, capture_output=True)
    return path


def gps(*args, env=None):
    result = CliRunner().invoke(cli, [str(a) for a in args], env=env)
    return result


def test_venues_json_contract(env):
    result = gps("venues", "--json")
    assert result.exit_code == 0
    venues = json.loads(result.stdout)
    assert isinstance(venues, list)
    assert {k: venues[0][k] for k in ("name", "distribution", "ok", "error")} == {
        "name": "dryrun", "distribution": "gps-venue-dryrun", "ok": True, "error": None}
    assert venues[0]["version"]


def test_execute_json_contract_and_journal(env, strategy):
    result = gps("execute", "--venue", "dryrun", "--json", "--quiet", strategy)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["all_filled"] is True and report["execution_id"]
    for leg in report["legs"]:
        assert {"venue", "instrument", "side", "quantity", "filled", "status", "client_order_id"} <= set(leg)
        assert leg["status"] == "filled" and leg["filled"] == leg["quantity"]
    listing = json.loads(gps("journal", "--json").stdout)
    assert [e["execution_id"] for e in listing] == [report["execution_id"]]
    shown = json.loads(gps("show", report["execution_id"][:15], "--json").stdout)
    assert shown["report"]["legs"] == report["legs"]
    assert [e["event"] for e in shown["events"]][:2] == ["execution_started", "plan"]


def test_execute_json_carries_its_plan_with_the_worst_loss(env):
    result = gps("execute", "--venue", "dryrun", "--json", "--combo", "never", "--leg", "buy 0.1 BTC-25DEC26-100000-C",
                 "--leg", "sell 0.1 BTC-25DEC26-110000-C")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    totals = report["plan"]["totals"]
    assert totals["max_loss_unbounded"] is False and float(totals["max_loss_usd"]) > 0
    assert [leg["instrument"] for leg in report["plan"]["legs"]] == [leg["instrument"] for leg in report["legs"]]


def test_status_and_cancel_in_later_processes(env, strategy):
    env_faults = {"GPS_DRYRUN_FAULTS": "never_fill@*-100000-C"}
    # legged (--combo never): the fault leaves one leg unfilled, the other kept
    result = gps("execute", "--venue", "dryrun", "--json", "--quiet", "--timeout", "0.3", "--on-partial", "keep",
                 "--combo", "never", strategy, env=env_faults)
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["all_filled"] is False and report["kept"]
    status = json.loads(gps("status", "last", "--json").stdout)
    states = {o["client_order_id"]: o["venue_status"] for o in status["orders"]}
    assert sorted(states.values()) == ["cancelled", "filled"]


def decision_log(strategy_path, no_trade):
    legs = json.loads(strategy_path.read_text())["legs"]
    from gps_core.instruments import OptionKey

    keys = [OptionKey.parse(leg["instrument"]) for leg in legs]
    return {  # Options GPS's own format (see tests/fixtures/options-gps)
        "inputs": {"symbol": keys[0].underlying, "view": "bullish", "risk": "medium"},
        "no_trade": no_trade,
        "no_trade_reason": "edge below costs" if no_trade else None,
        "best_match": {"description": "Call debit spread", "type": "call_debit_spread",
                       "expiry": f"{keys[0].expiry.isoformat()} 08:00:00Z", "legs": [
            {"action": leg["side"].upper(), "qty": float(leg["quantity"]),
             "option_type": "Call" if k.option_type.value == "C" else "Put",
             "strike": float(k.strike), "premium": float(leg["reference_price"]["amount"])} for leg, k in zip(legs, keys)]},
        "safer_alt": None,
        "higher_upside": None,
    }


def test_no_trade_card_only_warns_on_paper(env, strategy):
    path = env / "log.json"
    path.write_text(json.dumps(decision_log(strategy, no_trade=True)))
    result = gps("execute", "--venue", "dryrun", "--json", path)
    assert result.exit_code == 0 and "no trade (edge below costs)" in result.stderr


@pytest.fixture
def fake_deribit(env, monkeypatch):
    fake_server = pytest.importorskip("gps_venue_deribit.testing.fake_server")
    server = fake_server.FakeDeribit().start()
    monkeypatch.setenv("GPS_LOAD_PLUGINS", "deribit")
    monkeypatch.setenv("DERIBIT_BASE_URL", server.url)
    monkeypatch.setenv("DERIBIT_CLIENT_ID", server.state.client_id)
    monkeypatch.setenv("DERIBIT_CLIENT_SECRET", server.state.client_secret)
    yield server
    server.stop()


def deribit_leg(server):
    names = sorted(n for n in server.state.instrument_names("BTC") if n.endswith("-C"))
    return f"buy 0.1 {names[len(names) // 2]}"


def test_live_orders_need_confirmation(fake_deribit):
    result = gps("execute", "--leg", deribit_leg(fake_deribit))
    assert result.exit_code == 2 and "confirmation" in result.stderr
    assert sum(fake_deribit.state.placed.values()) == 0


def test_no_trade_card_is_refused_live_without_force(fake_deribit, tmp_path):
    leg = deribit_leg(fake_deribit).split()[-1]
    from gps_core.instruments import OptionKey

    key = OptionKey.parse(leg)
    log = {"inputs": {"symbol": "BTC"}, "no_trade": True, "no_trade_reason": "edge below costs",
           "best_match": {"description": "Long call", "type": "long_call", "expiry": f"{key.expiry.isoformat()} 08:00:00Z",
                          "legs": [{"action": "BUY", "qty": 0.1, "option_type": "Call", "strike": float(key.strike),
                                    "premium": 0.0}]}}
    path = tmp_path / "log.json"
    path.write_text(json.dumps(log))
    refused = gps("execute", "--yes", path)
    assert refused.exit_code == 2 and "--force" in refused.stderr
    assert sum(fake_deribit.state.placed.values()) == 0
    forced = gps("execute", "--yes", "--force", "--json", path)
    assert forced.exit_code == 0, forced.stderr
    assert sum(fake_deribit.state.placed.values()) == 1


@pytest.mark.parametrize("args, words", [
    (["execute", "--leg", "buy one BTC-25DEC26-100000-C"], "not a number"),
    (["execute", "--leg", "buy 1 BTC-25XYZ26-100000-C"], "unknown month"),
    (["execute", "--leg", "buy 1 BTC-100000-C"], "UNDERLYING-DMMMYY"),
    (["execute", "--venue", "nowhere", "--leg", "buy 1 BTC-25DEC26-100000-C"], "venue 'nowhere' is not installed: `gps install nowhere`"),
    (["execute", "--max-slippage", "lots", "--leg", "buy 1 BTC-25DEC26-100000-C"], "--max-slippage"),
    (["execute", "--size", "0", "--leg", "buy 1 BTC-25DEC26-100000-C"], "--size"),
    (["execute"], "no strategy"),
    (["execute", "missing-file.json"], "cannot read"),
    (["show", "nope"], "no execution"),
])
def test_bad_input_is_one_line_and_exit_2(env, args, words):
    result = gps(*args)
    assert result.exit_code == 2, result.output
    assert words in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert not (env / "home" / "journal").exists() or not list((env / "home" / "journal").iterdir())


@pytest.mark.parametrize("size", ["0", "-1", "-0.5"])
def test_a_size_that_is_not_positive_gets_one_wording(env, size):
    result = gps("quote", "--venue", "dryrun", "--size", size, "--leg", "buy 1 BTC-25DEC26-100000-C")
    assert result.exit_code == 2
    assert result.stderr.strip() == f"gps: error: --size: must be a positive number, got {size!r}"


@pytest.mark.parametrize("quantity, words", [("0.00000001", "quantity 0.00000001 is below"),
                                              ("100000000", "of 100000000 available")])
def test_messages_write_numbers_plainly(env, quantity, words):
    result = gps("quote", "--venue", "dryrun", "--leg", f"buy {quantity} BTC-25DEC26-100000-C")
    assert words in result.output and "E-" not in result.output and "E+" not in result.output


def test_with_json_an_error_is_json_on_stdout_too(env):
    result = gps("execute", "--json", "--leg", "buy one BTC-25DEC26-100000-C")
    assert result.exit_code == 2
    answer = json.loads(result.stdout)
    assert answer["exit_code"] == 2 and "not a number" in answer["error"]
    assert result.stderr.strip() == f"gps: error: {answer['error']}"


def test_expired_leg_is_refused_before_sending(env):
    result = gps("execute", "--venue", "dryrun", "--leg", "buy 0.1 BTC-27MAR26-70000-C")
    assert result.exit_code == 2 and "expired" in result.stderr


def test_certify_the_dry_run_venue(env):
    result = gps("venues", "certify", "dryrun", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["certified"] and report["counts"]["failed"] == 0


def test_help_imports_no_venue_code():
    code = ("import sys\nfrom gps_core.cli import cli\ntry:\n    cli(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in sys.modules if m.split('.')[0] in "
            "('requests', 'eth_account', 'urllib3', 'gps_venue_aevo', 'gps_venue_deribit', 'gps_venue_dryrun')]\n"
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_venues_imports_no_http_client_or_eth_account(env):
    code = ("import sys\nfrom gps_core.cli import cli\ntry:\n    cli(['venues'])\nexcept SystemExit:\n    pass\n"
            "print([m for m in sys.modules if m.split('.')[0] in ('requests', 'eth_account', 'urllib3')])")
    import os
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "GPS_LOAD_PLUGINS": ""}).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_python_dash_m_runs_every_command():
    """``python -m gps_core.cli`` offers the commands registered by the other cli modules too."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "gps_core.cli", "--help"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert "positions" in done.stdout and "close" in done.stdout
