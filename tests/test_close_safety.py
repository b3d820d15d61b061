"""``gps close`` never acts alongside a running execution, and names what it leaves held.

Assertions about what is held are made at the paper venue's store (its book of record).
"""

import json
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from gps_core.cli import cli
from gps_core.instruments import OptionKey

from builders import paper_broker as broker, paper_held as held, paper_open_orders as open_orders

dryrun = pytest.importorskip("gps_venue_dryrun")

D = Decimal
GPS = str(Path(sys.executable).with_name("gps"))
CALL_95, CALL_100 = OptionKey.parse("BTC-25JUN27-95000-C"), OptionKey.parse("BTC-25JUN27-100000-C")


@pytest.fixture
def home(dryrun_home):
    return dryrun_home


def gps(*args, env=None):
    return CliRunner().invoke(cli, [str(a) for a in args], env=env)


def test_close_refuses_a_running_execution_whatever_its_flags(home):
    """A close alongside a running execution would sell a leg that execution may still unwind."""
    env = {**os.environ, "GPS_DRYRUN_FAULTS": f"never_fill@{CALL_100.name}"}
    running = subprocess.Popen([sys.executable, "-m", "gps_core.cli", "execute", "--venue", "dryrun", "--yes",
                                "--quiet", "--json", "--timeout", "120", "--combo", "never",
                                "--leg", f"buy 0.1 {CALL_95.name}", "--leg", f"sell 0.1 {CALL_100.name}"],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        while not (held(home) == {CALL_95.name: D("0.1")} and open_orders(home)):
            assert running.poll() is None, running.communicate()
            assert time.monotonic() < deadline, "the execution never rested"
            time.sleep(0.2)
        orders_before = len(broker(home).orders())
        for flags in ([], ["--allow-unsettled"]):
            refused = gps("close", "last", "--yes", *flags)
            assert refused.exit_code == 2, refused.output
            assert f"running in process {running.pid}" in refused.stderr, refused.stderr
            assert "--allow-unsettled" not in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
        assert len(broker(home).orders()) == orders_before  # the close sent nothing
        running.send_signal(signal.SIGINT)  # the execution cancels its resting leg and unwinds the filled one
        out, err = running.communicate(timeout=120)
    finally:
        if running.poll() is None:
            running.kill()
            running.wait(timeout=30)
    report = json.loads(out)
    assert held(home) == {}, (report, err)  # the unwind was not refused: nothing naked, nothing left
    assert open_orders(home) == []


def open_two_calls(home):
    result = gps("execute", "--venue", "dryrun", "--yes", "--json", "--quiet", "--combo", "never",
                 "--leg", f"buy 0.2 {CALL_95.name}", "--leg", f"sell 0.1 {CALL_100.name}")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["execution_id"]


def test_a_partial_close_names_what_is_still_held_not_what_it_closed(home):
    opened = open_two_calls(home)
    faults = {"GPS_DRYRUN_FAULTS": f"never_fill@{CALL_95.name}"}
    result = gps("close", "last", "--yes", "--timeout", "1", env=faults)
    assert result.exit_code == 1, result.output
    assert held(home) == {CALL_95.name: D("0.2")}  # the 100000 short bought back (first); the long is still held
    (warning,) = [line for line in result.stdout.splitlines() if "you still hold" in line]
    assert warning == (f"WARNING: the close of {opened} did not complete; you still hold: "
                       f"dryrun: long 0.2 {CALL_95.name}")
    report = json.loads(gps("show", "last", "--json").stdout)["report"]
    assert report["closes"] == opened
    assert report["still_held"] == [{"venue": "dryrun", "instrument": CALL_95.name, "venue_symbol": CALL_95.name,
                                     "side": "buy", "quantity": "0.2"}]


def test_recover_of_a_killed_close_names_what_is_still_held(home):
    opened = open_two_calls(home)
    env = {**os.environ, "GPS_DRYRUN_FAULTS": f"never_fill@{CALL_95.name}", "GPS_CRASH_AT": "monitoring"}
    crashed = subprocess.run([GPS, "close", "last", "--yes", "--timeout", "30"],
                             env=env, capture_output=True, text=True, timeout=120)
    assert crashed.returncode == -9, crashed.stderr
    recovered = gps("recover", "--cancel-working", "--json")
    data = json.loads(recovered.stdout)
    assert held(home) == {CALL_95.name: D("0.2")} and open_orders(home) == []  # the short was bought back first
    (closed,) = data["executions"]
    assert closed["exposures"] == [{"execution_id": opened, "venue": "dryrun", "instrument": CALL_95.name,
                                    "position": "0.2"}]
    text = gps("show", closed["execution_id"]).stdout
    (warning,) = [line for line in text.splitlines() if "hold" in line]
    assert warning == f"WARNING: the close of {opened} did not complete; you still hold: dryrun: long 0.2 {CALL_95.name}"


def test_a_leg_quantity_off_the_venue_step_is_refused_not_rounded(home):
    opened = open_two_calls(home)
    orders_before = len(broker(home).orders())
    for quantity in ("0.015", "0.005"):  # 0.005 used to round to 0: "holds nothing to close"
        refused = gps("close", opened, "--leg", f"{CALL_95.name}:{quantity}", "--yes")
        assert refused.exit_code == 2, refused.output
        assert refused.stderr.strip() == (f"gps: error: --leg {CALL_95.name}:{quantity}: dryrun trades {CALL_95.name} "
                                          f"in steps of 0.01; give a multiple of it (nothing was sent)")
    assert len(broker(home).orders()) == orders_before
    assert held(home) == {CALL_95.name: D("0.2"), CALL_100.name: D("-0.1")}


# --- a venue that cannot be asked ----------------------------------------------------------------

from builders import closed_port_url

deribit_fake = pytest.importorskip("gps_venue_deribit.testing.fake_server")



@pytest.fixture
def deribit(home, monkeypatch):
    fake = deribit_fake.FakeDeribit().start()
    monkeypatch.setenv("GPS_LOAD_PLUGINS", "dryrun,deribit")
    for key, value in {"DERIBIT_BASE_URL": fake.url, "DERIBIT_CLIENT_ID": fake.state.client_id,
                       "DERIBIT_CLIENT_SECRET": fake.state.client_secret, "DERIBIT_READ_TIMEOUT": "2"}.items():
        monkeypatch.setenv(key, value)
    yield fake.state
    fake.stop()


def open_on_deribit(deribit):
    name = sorted(deribit.instrument_names("BTC"))[0]
    result = gps("execute", "--venue", "deribit", "--yes", "--json", "--quiet", "--leg", f"buy 0.1 {name}")
    assert result.exit_code == 0, result.output
    assert deribit.position_of(name) == D("0.1")
    return name


def test_a_close_against_an_unreachable_venue_is_a_failed_venue_call(deribit, monkeypatch):
    name = open_on_deribit(deribit)
    monkeypatch.setenv("DERIBIT_BASE_URL", closed_port_url())
    result = gps("close", "last", "--yes")
    assert result.exit_code == 1, result.output  # a failed venue call (README), not bad input
    assert "could not connect" in result.stderr and "authentication failed" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert deribit.position_of(name) == D("0.1")


def test_positions_json_marks_a_venue_that_could_not_be_asked_unavailable(deribit, monkeypatch):
    open_on_deribit(deribit)
    monkeypatch.setenv("DERIBIT_BASE_URL", closed_port_url())
    result = gps("positions", "--venue", "deribit", "--json")
    assert result.exit_code == 1, result.output
    (answer,) = json.loads(result.stdout)["venues"]
    assert answer["available"] is False and answer["status"] == "failed" and "could not connect" in answer["error"]


# --- wording ---------------------------------------------------------------------------------------


def test_cancel_of_a_one_order_execution_agrees_in_number(home):
    result = gps("execute", "--venue", "dryrun", "--yes", "--quiet", "--leg", f"buy 0.1 {CALL_95.name}")
    assert result.exit_code == 0, result.output
    cancel = gps("cancel", "last")
    assert cancel.stdout.endswith("its only order is filled or closed (1 filled).\n"), cancel.output


def test_not_flat_names_the_instrument_once_and_close_help_shows_the_current_id_format(home):
    from gps_core.render import report_text

    result = gps("execute", "--venue", "dryrun", "--yes", "--quiet", "--json", "--leg", f"buy 0.1 {CALL_95.name}")
    report = json.loads(result.stdout)
    report["residuals"] = [{"venue": "dryrun", "instrument": CALL_95.name, "venue_symbol": CALL_95.name,
                            "side": "buy", "quantity": "0.1"}]
    (line,) = [line for line in report_text(report).splitlines() if "NOT FLAT" in line]
    assert line == f"WARNING: NOT FLAT: you still hold long 0.1 {CALL_95.name} on dryrun"
    assert "gps close 20261124T160405.123456-3f9a1c" in gps("close", "--help").stdout


def test_a_close_plan_shows_what_it_closes_and_leaves_not_the_risk_of_a_new_position(home):
    opened = open_two_calls(home)
    whole = gps("close", "last", "--dry-run")
    assert whole.exit_code == 0, whole.output
    assert f"Closes 0.2 of long 0.2 {CALL_95.name} on dryrun (flat after it)" in whole.stdout
    assert f"Closes 0.1 of short 0.1 {CALL_100.name} on dryrun (flat after it)" in whole.stdout
    assert "Worst loss" not in whole.stdout and "UNBOUNDED" not in whole.stdout and "Payoff" not in whole.stdout
    part = gps("close", opened, "--leg", f"{CALL_95.name}:0.05", "--dry-run", "--json")
    plan = json.loads(part.stdout)["plan"]
    assert "payoff" not in plan
    assert plan["closing"] == [{"venue": "dryrun", "instrument": CALL_95.name, "side": "sell", "quantity": "0.05",
                                "held": "0.2"}]
    text = gps("close", opened, "--leg", f"{CALL_95.name}:0.05", "--dry-run").stdout
    assert f"Closes 0.05 of long 0.2 {CALL_95.name} on dryrun (left after it: long 0.15)" in text
    assert held(home) == {CALL_95.name: D("0.2"), CALL_100.name: D("-0.1")}


def test_close_writes_its_report_where_asked_and_refuses_an_unwritable_path_first(home, tmp_path):
    open_two_calls(home)
    refused = gps("close", "last", "--yes", "--report", str(tmp_path / "missing" / "r.json"))
    assert refused.exit_code == 2 and refused.stderr.startswith("gps: error: --report "), refused.output
    assert held(home) == {CALL_95.name: D("0.2"), CALL_100.name: D("-0.1")}  # nothing was sent
    target = tmp_path / "close.json"
    result = gps("close", "last", "--yes", "--quiet", "--json", "--report", str(target))
    assert result.exit_code == 0, result.output
    assert held(home) == {}
    written = json.loads(target.read_text())
    assert written == json.loads(result.stdout)["report"] and written["closes"]


def test_show_json_exposes_the_plan_with_its_payoff_like_execute_json(home):
    result = gps("execute", "--venue", "dryrun", "--yes", "--quiet", "--json", "--leg", f"buy 0.1 {CALL_95.name}")
    executed = json.loads(result.stdout)
    shown = json.loads(gps("show", "last", "--json").stdout)
    assert shown["plan"]["payoff"] == executed["plan"]["payoff"] and shown["plan"]["payoff"]["profile"]
    assert shown["report"]["legs"] == executed["legs"]
