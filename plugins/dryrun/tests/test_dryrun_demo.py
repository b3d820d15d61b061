"""The demo strategy writer, and the README's first commands end to end through the gps CLI."""

import json
import os
import subprocess
import sys
from datetime import date, timedelta
from decimal import Decimal as D

import pytest

from gps_core.instruments import OptionKey
from gps_venue_dryrun import demo
from gps_venue_dryrun.expiries import last_friday
from gps_venue_dryrun.market import Market


@pytest.mark.parametrize("asof", [date(2026, 11, 24), date(2026, 12, 6), date(2027, 2, 27), date(2030, 1, 14)])
def test_demo_is_a_call_spread_on_the_first_monthly_at_least_20_days_out(asof):
    market = Market(asof)
    strategy = demo.demo_strategy(market)
    buy, sell = strategy["legs"]
    assert (buy["side"], sell["side"]) == ("buy", "sell")
    assert buy["quantity"] == sell["quantity"] == "0.1"
    low, high = OptionKey.parse(buy["instrument"]), OptionKey.parse(sell["instrument"])
    assert low.expiry == high.expiry and low.option_type.value == high.option_type.value == "C"
    assert low.expiry == last_friday(low.expiry.year, low.expiry.month)
    assert low.expiry - asof >= timedelta(days=20)
    earlier = [d for d in market.expiries if asof + timedelta(days=20) <= d < low.expiry]
    assert not [d for d in earlier if d == last_friday(d.year, d.month)]
    assert low.strike == D(95000) and high.strike == D(100000)  # ATM and the grid strike nearest +5%
    for leg, key in ((buy, low), (sell, high)):
        inst = market.find(key)
        assert leg["reference_price"]["currency"] == "USD"
        assert D(leg["reference_price"]["amount"]) == market.mid(inst)


def test_demo_main_writes_the_file(tmp_path, capsys):
    out = tmp_path / "sub" / "demo.json"
    assert demo.main(["--out", str(out)], environ={"GPS_DRYRUN_ASOF": "2030-01-14"}) == 0
    data = json.loads(out.read_text())
    assert data["name"].startswith("BTC bull call spread") and len(data["legs"]) == 2
    assert demo.main(["--out", "-"], environ={"GPS_DRYRUN_ASOF": "2030-01-14"}) == 0
    assert json.loads(capsys.readouterr().out) == data


def _run(*args, env, check=True):
    result = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, timeout=120)
    if check:
        assert result.returncode == 0, result.stderr
    return result


@pytest.fixture
def cli_env(tmp_path):
    pytest.importorskip("gps_core.cli")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GPS_")}
    env["GPS_HOME"] = str(tmp_path / "home")
    env["GPS_LOAD_PLUGINS"] = "dryrun"
    return env


def test_readme_flow_demo_execute_status(cli_env, tmp_path):
    strategy = tmp_path / "demo.json"
    _run("-m", "gps_venue_dryrun.demo", "--out", str(strategy), env=cli_env)
    done = _run("-m", "gps_core.cli", "execute", "--venue", "dryrun", "--yes", "--json", str(strategy), env=cli_env)
    report = json.loads(done.stdout)
    assert report["all_filled"] is True and {leg["venue"] for leg in report["legs"]} == {"dryrun"}
    # the demo spread runs as one paper combo order (quoted at the legs' prices: no worse), filled on both legs
    (combo,) = report["legs"]
    assert combo["role"] == "combo" and len(combo["leg_fills"]) == 2
    status = json.loads(_run("-m", "gps_core.cli", "status", "--json", env=cli_env).stdout)
    assert [o["venue_status"] for o in status["orders"]] == ["filled"]


def test_a_leg_that_never_fills_is_cancelled_and_the_other_unwound(cli_env, tmp_path):
    strategy = tmp_path / "demo.json"
    _run("-m", "gps_venue_dryrun.demo", "--out", str(strategy), env=cli_env)
    sell = json.loads(strategy.read_text())["legs"][1]["instrument"]
    env = {**cli_env, "GPS_DRYRUN_FAULTS": f"never_fill@{sell}"}
    done = _run("-m", "gps_core.cli", "execute", "--venue", "dryrun", "--yes", "--json", "--timeout", "0.3",
                "--combo", "never", str(strategy), env=env, check=False)
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert report["all_filled"] is False
    store = json.loads((tmp_path / "home" / "dryrun" / "orders.json").read_text())
    by_symbol_side = {(o["symbol"], o["side"], o["reduce_only"]): o["status"] for o in store["orders"]}
    assert by_symbol_side[(sell, "sell", False)] == "cancelled"
    unwinds = [o for o in store["orders"] if o["reduce_only"]]
    assert unwinds and all(o["status"] == "filled" for o in unwinds)


def test_the_offline_demo_dry_run_shows_and_trades_the_paper_combo(cli_env, tmp_path):
    """`--dry-run` on the paper venue shows the combo chosen and why, and its store (the book of
    record) holds exactly one order: the combo, filled on both legs."""
    strategy = tmp_path / "demo.json"
    _run("-m", "gps_venue_dryrun.demo", "--out", str(strategy), env=cli_env)
    done = _run("-m", "gps_core.cli", "execute", "--venue", "dryrun", "--dry-run", "--yes", "--json", str(strategy),
                env=cli_env)
    report = json.loads(done.stdout)
    (chosen,) = report["plan"]["combos"]
    assert chosen["reason"].startswith("combo (no worse)") and report["plan"]["combo_notes"] == [f"dryrun: {chosen['reason']}"]
    store = json.loads((tmp_path / "home" / "dryrun" / "orders.json").read_text())
    (order,) = store["orders"]
    assert order["symbol"] == chosen["instrument"] and order["status"] == "filled"
    assert sorted(leg[0] for leg in order["combo_legs"]) == sorted(leg["instrument"] for leg in
                                                                  json.loads(strategy.read_text())["legs"])
