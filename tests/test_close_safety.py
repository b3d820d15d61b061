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

import pytest
from click.testing import CliRunner

from gps_core.cli import cli
from gps_core.instruments import OptionKey

dryrun = pytest.importorskip("gps_venue_dryrun")

D = Decimal
CALL_95, CALL_100 = OptionKey.parse("BTC-25JUN27-95000-C"), OptionKey.parse("BTC-25JUN27-100000-C")


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("GPS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GPS_LOAD_PLUGINS", "dryrun")
    monkeypatch.delenv("GPS_DRYRUN_FAULTS", raising=False)
    monkeypatch.delenv("GPS_PAPER_FAULTS", raising=False)
    return tmp_path / "home"


def gps(*args, env=None):
    return CliRunner().invoke(cli, [str(a) for a in args], env=env)


def broker(home):
    return dryrun.DryRunVenue(environ={"GPS_HOME": str(home)}).broker()


def held(home) -> dict:
    return {p.symbol: p.quantity for p in broker(home).positions()}


def open_orders(home) -> list:
    return [o for o in broker(home).orders() if o.status.value == "open"]


def test_close_refuses_a_running_execution_whatever_its_flags(home):
    """A close alongside a running execution would sell a leg that execution may still unwind."""
    env = {**os.environ, "GPS_DRYRUN_FAULTS": f"never_fill@{CALL_100.name}"}
    running = subprocess.Popen([sys.executable, "-m", "gps_core.cli", "execute", "--venue", "dryrun", "--yes",
                                "--quiet", "--json", "--timeout", "120",
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
