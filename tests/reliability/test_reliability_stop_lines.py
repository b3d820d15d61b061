"""Drills: the stop line of the report says exactly what the stop did, and the exit code follows the book.

Real ``gps execute`` processes against the Deribit fake, stopped by SIGINT while orders rest.
"""

from __future__ import annotations

import signal
import subprocess

from reliability.audit import net_position
from reliability.conftest import GPS, process_env
from reliability.test_reliability_stops import Drill, assert_ends_safe


def _start_text(harness, symbols) -> Drill:
    sides = ["buy", "sell"]
    legs = [a for side, sym in zip(sides, symbols) for a in ("--leg", f"{side} {harness.quantity} {sym}")]
    child = subprocess.Popen([str(GPS), "execute", "--venue", harness.name, "--yes", "--timeout", "60", *legs],
                             env=process_env(harness.env()), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return Drill(harness, symbols, sides, child)


def test_sigint_after_every_leg_filled_exits_0_and_says_nothing_was_cancelled(make_harness):
    harness = make_harness("deribit")
    symbols = harness.instruments(2)
    for symbol in symbols:  # both rest; each cancel loses the race to a fill
        harness.inject("cancel_race", symbol)
    drill = _start_text(harness, symbols)
    drill.wait_resting(2, 2)
    drill.child.send_signal(signal.SIGINT)
    out, err = drill.child.communicate(timeout=90)

    orders = assert_ends_safe(drill, None)
    assert net_position(orders) == drill.full  # the whole strategy is held: every leg filled
    assert drill.child.returncode == 0, err
    assert "ALL LEGS FILLED" in out, out
    assert "Stopped by SIGINT after every leg had filled: nothing was cancelled or unwound." in out, out
    assert "were cancelled" not in out


def test_sigint_with_one_leg_resting_names_what_was_cancelled_and_unwound(make_harness):
    harness = make_harness("deribit")
    symbols = harness.instruments(2)
    harness.exchange.faults.aim(symbols[1], "partial", fill="0")
    drill = _start_text(harness, symbols)
    drill.wait_resting(2, 1)
    drill.child.send_signal(signal.SIGINT)
    out, err = drill.child.communicate(timeout=90)

    assert drill.child.returncode == 1, err
    assert net_position(assert_ends_safe(drill, None)) == {}
    assert "Stopped (SIGINT): 1 working order cancelled, 1 filled leg unwound." in out, out
