"""A close never sells more than the execution it closes still holds.

Two closes of one execution (the second planned before the first ran), a close alongside the
execution's own working order, and ``gps recover`` after a close: each is checked at the paper
venue's store (its book of record), where another execution's position must survive.
"""

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

import gps_core.execution as execution_module
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


def buy_call(*flags) -> str:
    result = gps("execute", "--venue", "dryrun", "--yes", "--json", "--quiet", *flags, "--leg", f"buy 0.1 {CALL_95.name}")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["execution_id"]


def test_a_close_planned_before_another_close_of_the_same_execution_sends_nothing(home, monkeypatch):
    """Shell 1 plans `gps close A` (and waits at a prompt); shell 2's close of A runs; shell 1 then
    goes on: under the lock it finds A holds nothing and sends nothing — B's position survives."""
    a = buy_call()
    b = buy_call()
    assert held(home) == {CALL_95.name: D("0.2")}
    original = execution_module.take_turn
    raced = []

    def other_close_first(ctx, **kwargs):
        if not raced:
            raced.append(subprocess.run([GPS, "close", a, "--yes", "--json", "--quiet"], env=dict(os.environ),
                                        capture_output=True, text=True, timeout=120))
        return original(ctx, **kwargs)

    monkeypatch.setattr(execution_module, "take_turn", other_close_first)
    late = gps("close", a, "--yes")
    assert raced[0].returncode == 0, raced[0].stderr
    assert held(home) == {CALL_95.name: D("0.1")}, late.output  # B's 0.1 is still held
    sells = [o for o in broker(home).orders() if o.side.value == "sell"]
    assert len(sells) == 1
    assert late.exit_code == 2, late.output
    refusal = late.stderr.strip().splitlines()[-1]
    assert f"execution {a} holds nothing to close" in refusal and "nothing was sent" in refusal
    positions = json.loads(gps("positions", "--json").stdout)["venues"][0]["positions"]
    assert positions[0]["executions"] == [{"execution_id": b, "quantity": "0.1"}]


def test_a_close_planned_before_a_partial_close_sends_nothing(home, monkeypatch):
    """The other close took part of A: what was confirmed is no longer what A holds, so nothing is sent."""
    a = gps("execute", "--venue", "dryrun", "--yes", "--json", "--quiet", "--leg", f"buy 0.2 {CALL_95.name}")
    a = json.loads(a.stdout)["execution_id"]
    buy_call()
    original = execution_module.take_turn
    raced = []

    def other_close_first(ctx, **kwargs):
        if not raced:
            raced.append(subprocess.run([GPS, "close", a, "--leg", f"{CALL_95.name}:0.1", "--yes", "--quiet"],
                                        env=dict(os.environ), capture_output=True, text=True, timeout=120))
        return original(ctx, **kwargs)

    monkeypatch.setattr(execution_module, "take_turn", other_close_first)
    late = gps("close", a, "--yes")
    assert raced[0].returncode == 0, raced[0].stderr
    assert late.exit_code == 2, late.output
    assert "nothing was sent" in late.stderr
    assert held(home) == {CALL_95.name: D("0.2")}  # A's other 0.1 and B's 0.1


def test_close_refuses_while_the_execution_has_its_own_working_order(home):
    """X was killed while its short leg rested: closing its long would leave that order to fill naked."""
    buy_call()  # B
    env = {**os.environ, "GPS_DRYRUN_FAULTS": f"never_fill@{CALL_100.name}", "GPS_CRASH_AT": "monitoring"}
    killed = subprocess.run([GPS, "execute", "--venue", "dryrun", "--yes", "--quiet", "--combo", "never",
                             "--timeout", "60", "--leg", f"buy 0.1 {CALL_95.name}", "--leg", f"sell 0.1 {CALL_100.name}"],
                            env=env, capture_output=True, text=True, timeout=120)
    assert killed.returncode == -9, killed.stderr
    assert held(home) == {CALL_95.name: D("0.2")} and len(open_orders(home)) == 1
    orders_before = len(broker(home).orders())
    refused = gps("close", "last", "--allow-unsettled", "--yes")
    assert refused.exit_code == 2, refused.output
    assert "working" in refused.stderr and f"sell 0.1 {CALL_100.name}" in refused.stderr
    assert len(broker(home).orders()) == orders_before  # nothing sent
    assert held(home) == {CALL_95.name: D("0.2")} and len(open_orders(home)) == 1


def test_recover_after_a_close_does_not_unwind_what_the_close_sold(home):
    """X was killed between its legs; `gps close X --allow-unsettled` sold its long; `gps recover`
    must not unwind that long again (it would sell B's)."""
    buy_call()  # B
    env = {**os.environ, "GPS_CRASH_AT": "between_legs"}
    killed = subprocess.run([GPS, "execute", "--venue", "dryrun", "--yes", "--quiet", "--combo", "never", "--sequential",
                             "--leg", f"buy 0.1 {CALL_95.name}", "--leg", f"sell 0.1 {CALL_100.name}"],
                            env=env, capture_output=True, text=True, timeout=120)
    assert killed.returncode == -9, killed.stderr
    assert held(home) == {CALL_95.name: D("0.2")} and open_orders(home) == []
    x = sorted((home / "journal").glob("*.jsonl"))[-1].stem
    closed = gps("close", x, "--allow-unsettled", "--yes")
    assert closed.exit_code == 0, closed.output
    assert held(home) == {CALL_95.name: D("0.1")}
    recovered = gps("recover", "--json")
    assert recovered.exit_code in (0, 1), recovered.output
    assert held(home) == {CALL_95.name: D("0.1")}, recovered.output  # B's long is untouched
    sells = [o for o in broker(home).orders() if o.side.value == "sell"]
    assert len(sells) == 1


def open_call_spread() -> str:
    result = gps("execute", "--venue", "dryrun", "--yes", "--json", "--quiet", "--combo", "never",
                 "--leg", f"buy 0.1 {CALL_95.name}", "--leg", f"sell 0.1 {CALL_100.name}")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["execution_id"]


def test_closing_a_spread_buys_the_short_back_before_selling_its_cover(home):
    """The short's buy-back does not fill: the long that covers it is not sold (no naked short)."""
    open_call_spread()
    result = gps("close", "--yes", "--timeout", "2", env={"GPS_DRYRUN_FAULTS": f"never_fill@{CALL_100.name}"})
    assert result.exit_code == 1, result.output
    assert held(home) == {CALL_95.name: D("0.1"), CALL_100.name: D("-0.1")}  # the spread is intact
    assert [o for o in broker(home).orders() if o.symbol == CALL_95.name and o.side.value == "sell"] == []
    assert open_orders(home) == []
    assert "UNCOVERED" not in result.output


def test_a_close_that_leaves_a_short_uncovered_says_so_in_the_plan_and_the_report(home):
    opened = open_call_spread()
    preview = gps("close", "--leg", CALL_95.name, "--dry-run")
    assert preview.exit_code == 0, preview.output
    assert (f"WARNING: after this close, short 0.1 {CALL_100.name} on dryrun is UNCOVERED"
            in preview.output), preview.output
    closed = gps("close", "--leg", CALL_95.name, "--yes", "--json", "--quiet")
    assert closed.exit_code == 0, closed.output
    assert held(home) == {CALL_100.name: D("-0.1")}
    partial = gps("execute", "--venue", "dryrun", "--yes", "--json", "--quiet", "--combo", "never",
                  "--leg", f"buy 0.1 {CALL_95.name}", "--leg", f"sell 0.1 {CALL_100.name}")
    second = json.loads(partial.stdout)["execution_id"]
    report = gps("close", second, "--yes", "--timeout", "2", env={"GPS_DRYRUN_FAULTS": f"never_fill@{CALL_95.name}"})
    assert report.exit_code == 1, report.output
    assert held(home) == {CALL_95.name: D("0.1"), CALL_100.name: D("-0.1")}  # the short bought back, the long kept
    assert "UNCOVERED" not in report.output and opened != second


def test_the_close_dry_run_suggests_the_command_that_sends_exactly_that_close(home):
    import shlex

    open_call_spread()
    preview = gps("close", "last", "--leg", f"{CALL_95.name}:0.05", "--tif", "ioc", "--dry-run")
    assert preview.exit_code == 0, preview.output
    (hint,) = [line for line in preview.stdout.splitlines() if line.startswith("Dry run:")]
    command = hint.split("`")[1]
    assert f"--leg {CALL_95.name}:0.05" in command and "--tif ioc" in command, hint
    words = shlex.split(command)
    assert words[:2] == ["gps", "close"]
    sent = gps(*words[1:], "--yes")
    assert sent.exit_code == 0, sent.output
    assert held(home) == {CALL_95.name: D("0.05"), CALL_100.name: D("-0.1")}  # exactly the previewed close


def test_a_close_dry_run_never_suggests_a_command_that_would_be_refused(home):
    open_call_spread()
    env = {**os.environ, "GPS_CRASH_AT": "between_legs"}
    killed = subprocess.run([GPS, "execute", "--venue", "dryrun", "--yes", "--quiet", "--combo", "never", "--sequential",
                             "--leg", f"buy 0.1 {CALL_95.name}", "--leg", f"sell 0.1 {CALL_100.name}"],
                            env=env, capture_output=True, text=True, timeout=120)
    assert killed.returncode == -9, killed.stderr
    preview = gps("close", "last", "--dry-run")
    assert preview.exit_code == 0, preview.output
    (hint,) = [line for line in preview.stdout.splitlines() if line.startswith("Dry run:")]
    assert "`gps close" not in hint and "would be refused now" in hint and "gps recover" in hint, hint
    preview = gps("close", "last", "--dry-run", "--allow-unsettled")
    (hint,) = [line for line in preview.stdout.splitlines() if line.startswith("Dry run:")]
    command = hint.split("`")[1]
    assert command.endswith("--allow-unsettled"), hint


def test_cancel_of_an_execution_with_a_rejected_leg_says_nothing_to_cancel(home):
    faults = {"GPS_DRYRUN_FAULTS": f"reject@{CALL_100.name}"}
    opened = gps("execute", "--venue", "dryrun", "--yes", "--quiet", "--combo", "never",
                 "--leg", f"buy 0.1 {CALL_95.name}", "--leg", f"sell 0.1 {CALL_100.name}", env=faults)
    assert opened.exit_code == 1, opened.output
    orders_before = len(broker(home).orders())
    cancel = gps("cancel", "last")
    assert cancel.exit_code == 0, cancel.output
    assert cancel.stdout.startswith("Nothing to cancel in execution "), cancel.output
    assert "1 rejected" in cancel.stdout
    assert len(broker(home).orders()) == orders_before and open_orders(home) == []
    assert json.loads(gps("cancel", "last", "--json").stdout)["nothing_to_cancel"] is True


def test_what_a_close_says_is_still_held_comes_from_the_venues_position(home):
    """The journal of A says it holds the long; the venue nets it out (B sold it): the report of an
    incomplete close of A must not say "you still hold: long …" for an account that holds none."""
    opened = open_call_spread()
    sold = gps("execute", "--venue", "dryrun", "--yes", "--quiet", "--leg", f"sell 0.1 {CALL_95.name}")
    assert sold.exit_code == 0, sold.output
    assert held(home) == {CALL_100.name: D("-0.1")}
    result = gps("close", opened, "--yes", "--timeout", "1", "--json", "--quiet",
                 env={"GPS_DRYRUN_FAULTS": f"never_fill@{CALL_100.name}"})
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)["report"]
    assert [(r["instrument"], r["side"], r["quantity"]) for r in report["still_held"]] == [(CALL_100.name, "sell", "0.1")]
    assert report["uncovered"] == [{"venue": "dryrun", "instrument": CALL_100.name, "quantity": "0.1"}]
    assert held(home) == {CALL_100.name: D("-0.1")}
    text = gps("show", "last").stdout
    assert f"UNCOVERED short 0.1 {CALL_100.name} on dryrun" in text
