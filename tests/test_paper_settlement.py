"""Expired paper positions settle at expiry, as a real venue's do: through the CLI.

The paper market's clock is moved with ``GPS_DRYRUN_ASOF`` (never by sleeping); its index is
``GPS_DRYRUN_INDEX``. Assertions about what is held and what settled are made at the paper
store (the dryrun venue's book of record), never on gps's journal.
"""

import json
import os
import subprocess
import sys
from decimal import Decimal

import pytest
from click.testing import CliRunner

from gps_core.cli import cli

from builders import paper_held as held

dryrun = pytest.importorskip("gps_venue_dryrun")

D = Decimal
NEAR_LONG, NEAR_SHORT, LATER = "BTC-27MAR26-85000-C", "BTC-27MAR26-95000-P", "BTC-24APR26-95000-C"


def gps(*args):
    return CliRunner().invoke(cli, list(args))


@pytest.fixture
def paper(gps_home, monkeypatch):
    monkeypatch.setenv("GPS_LOAD_PLUGINS", "dryrun")
    monkeypatch.setenv("GPS_DRYRUN_INDEX", "BTC=90000")
    monkeypatch.setenv("GPS_DRYRUN_ASOF", "2026-03-20")
    for name in ("GPS_DRYRUN_FAULTS", "GPS_DRYRUN_COMBOS"):
        monkeypatch.delenv(name, raising=False)
    result = gps("execute", "--venue", "dryrun", "--yes", "--json", "--quiet", "--leg", f"buy 0.2 {NEAR_LONG}",
                 "--leg", f"sell 0.1 {NEAR_SHORT}", "--leg", f"buy 0.1 {LATER}")
    assert result.exit_code == 0, result.stderr
    return gps_home, json.loads(result.stdout)["execution_id"]


def store(home) -> dict:
    return json.loads((home / "dryrun" / "orders.json").read_text())


def expire_near_legs(monkeypatch):
    """The paper market's clock moves past 27MAR26 08:00 UTC; the index is 90000 then too."""
    monkeypatch.setenv("GPS_DRYRUN_ASOF", "2026-03-28")


def test_expired_legs_settle_at_intrinsic_and_leave_positions(paper, monkeypatch):
    home, execution = paper
    assert held(home) == {NEAR_LONG: D("0.2"), NEAR_SHORT: D("-0.1"), LATER: D("0.1")}
    expire_near_legs(monkeypatch)
    result = gps("positions", "--json")
    assert result.exit_code == 0, result.stderr
    (venue,) = json.loads(result.stdout)["venues"]
    assert [p["instrument"] for p in venue["positions"]] == [LATER]
    settled = {s["instrument"]: s for s in venue["settled"]}
    # the call is 5000 in the money at index 90000; the put (strike 95000) 5000 too
    assert settled[NEAR_LONG]["settlement_price"] == "5000" and settled[NEAR_LONG]["quantity"] == "0.2"
    assert settled[NEAR_SHORT]["settlement_price"] == "5000" and settled[NEAR_SHORT]["quantity"] == "-0.1"
    records = {r["symbol"]: r for r in store(home)["settlements"]}
    assert set(records) == {NEAR_LONG, NEAR_SHORT}
    for symbol, record in records.items():
        assert record["index_usd"] == "90000" and record["settled_at"] == "2026-03-27T08:00:00+00:00"
        cash = (D(record["settlement_price"]) - D(record["average_price"])) * D(record["quantity"])
        assert D(record["pnl_usd"]) == cash.quantize(D("0.01"))
    assert held(home) == {LATER: D("0.1")}
    text = gps("positions")
    assert LATER in text.stdout and "settled at expiry, no longer held" in text.stdout
    assert f"{NEAR_LONG} (0.2)" in text.stdout and text.stdout.count(NEAR_LONG) == 1


def test_close_says_an_expired_leg_settled_and_closes_only_what_is_live(paper, monkeypatch):
    home, execution = paper
    expire_near_legs(monkeypatch)
    orders_before = len(store(home)["orders"])
    result = gps("close", execution, "--yes", "--quiet")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith(f"dryrun {NEAR_LONG} (0.2) expired and settled at 5000 USD") for line in lines)
    assert any(line.startswith(f"dryrun {NEAR_SHORT} (-0.1) expired and settled at 5000 USD") for line in lines)
    new_orders = store(home)["orders"][orders_before:]
    assert [(o["symbol"], o["side"], D(o["quantity"]), o["reduce_only"]) for o in new_orders] == [(LATER, "sell", D("0.1"), True)]
    assert held(home) == {}
    again = gps("close", execution, "--yes")
    assert again.exit_code == 0, again.stderr
    assert again.stdout.strip().splitlines()[-1] == f"Execution {execution} holds nothing else to close."
    assert "expired and settled at" in again.stdout
    assert len(store(home)["orders"]) == orders_before + 1
    as_json = json.loads(gps("close", execution, "--json").stdout)
    assert {leg["instrument"]: leg["settlement"]["settlement_price"] for leg in as_json["close"]["legs"]} == \
        {NEAR_LONG: "5000", NEAR_SHORT: "5000"}


def test_closing_a_settled_leg_by_quantity_is_refused(paper, monkeypatch):
    home, execution = paper
    expire_near_legs(monkeypatch)
    result = gps("close", execution, "--leg", f"{NEAR_LONG}:0.1", "--yes")
    assert result.exit_code == 2
    assert "expired and settled at 5000 USD" in result.stderr and "nothing of it can be closed" in result.stderr
    assert "Traceback" not in result.output


def test_status_show_and_recover_of_an_execution_whose_legs_expired(paper, monkeypatch):
    home, execution = paper
    expire_near_legs(monkeypatch)
    status = gps("status", execution)
    assert status.exit_code == 0, status.output
    assert "unexpected" not in status.stdout and "filled" in status.stdout
    assert gps("show", execution).exit_code == 0
    recover = gps("recover")
    assert recover.exit_code == 0, recover.output
    assert "Traceback" not in recover.output


def test_settlement_is_recorded_once_across_two_processes(paper, monkeypatch):
    home, _ = paper
    expire_near_legs(monkeypatch)
    env = {**os.environ}
    command = [sys.executable, "-m", "gps_core.cli", "positions", "--json"]
    runs = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    for run in runs:
        out, err = run.communicate(timeout=60)
        assert run.returncode == 0, err
    assert sorted(r["symbol"] for r in store(home)["settlements"]) == sorted([NEAR_LONG, NEAR_SHORT])
    assert gps("positions").exit_code == 0
    assert len(store(home)["settlements"]) == 2
    assert held(home) == {LATER: D("0.1")}


def test_an_order_read_never_settles_a_position(paper, monkeypatch):
    """`gps status` and `gps cancel` after expiry, under another index (a plain shell: the default
    95,000), settle nothing; `gps positions` with the trade's index settles at that index."""
    home, execution = paper
    expire_near_legs(monkeypatch)
    monkeypatch.delenv("GPS_DRYRUN_INDEX")  # the default index, not the one the trade used
    for command in (("status", execution), ("cancel", execution)):
        result = gps(*command)
        assert result.exit_code in (0, 1), result.output
        assert "settlements" not in store(home), command
    assert held(home) == {NEAR_LONG: D("0.2"), NEAR_SHORT: D("-0.1"), LATER: D("0.1")}
    monkeypatch.setenv("GPS_DRYRUN_INDEX", "BTC=90000")
    assert gps("positions").exit_code == 0
    assert {r["symbol"]: r["index_usd"] for r in store(home)["settlements"]} == {NEAR_LONG: "90000",
                                                                               NEAR_SHORT: "90000"}


def test_a_settled_short_is_not_called_uncovered_by_a_close(paper, monkeypatch):
    home, execution = paper
    expire_near_legs(monkeypatch)
    preview = gps("close", execution, "--dry-run")
    assert preview.exit_code == 0, preview.output
    assert "UNCOVERED" not in preview.output  # the short put settled: it is held no more
    assert held(home) == {LATER: D("0.1")}
