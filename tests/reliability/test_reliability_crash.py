"""Crash safety: SIGKILL gps at each dangerous point, then ``gps recover`` must agree with the venue.

The kills happen in a real ``gps`` process (``GPS_CRASH_AT`` makes the engine SIGKILL
itself at an exact point; "monitoring" is also killed from outside). Afterwards
``gps execute`` refuses to start until ``gps recover`` settled every order, and what
recover reports as live is exactly what the venue still has working.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from decimal import Decimal

from reliability.audit import audit, journal_events, net_position
from reliability.conftest import GPS, process_env
from reliability.scenarios import SIDES

POINTS = {
    "before_send": ("before_send@L2", []),
    "after_send": ("after_send@L2", []),
    "between_legs": ("between_legs@L1", ["--sequential"]),
    "monitoring": ("monitoring", []),
}
STATE_OF = {"open": {"accepted", "partially_filled", "pending_cancel"}, "filled": {"filled"},
            "cancelled": {"cancelled"}, "rejected": {"rejected"}, "expired": {"expired"}}


def _rest(harness, symbol: str) -> None:
    """Make the order on ``symbol`` rest unfilled."""
    if harness.name == "dryrun":
        harness.add_faults(f"never_fill x1@{symbol}")
    elif harness.name == "deribit":
        harness.exchange.faults.aim(symbol, "partial", fill="0")
    else:
        harness.fake.aim(symbol, "partial_fill", fill="0")


def _legs(harness) -> list[str]:
    symbols = harness.instruments(len(SIDES))
    return [a for s, sym in zip(SIDES, symbols) for a in ("--leg", f"{s} {harness.quantity} {sym}")]


def _assert_recovered(harness, recovered: dict) -> None:
    """``gps recover``'s report agrees with the venue's book of record, order by order."""
    at_venue = {o.client_order_id: o for o in harness.orders(_journaled(harness))}
    for row in recovered["orders"]:
        held = at_venue.get(row["client_order_id"])
        if held is None:
            assert row["after"] == "rejected" and not row["live"], row
        else:
            assert row["after"] in STATE_OF[held.status], (row, held)
            assert row["live"] == held.is_open and row["filled"] == f"{held.filled.normalize():f}", (row, held)
    found = audit(harness, live=set(recovered["live"]))
    assert found.clean, found.explain()


def _assert_exposures_named(harness, recovered: dict) -> None:
    """Every open position the venue holds for a closed, incomplete execution is named by recover."""
    held = net_position([o for o in harness.orders(_journaled(harness)) if not o.is_open])
    named = {x["instrument"]: Decimal(x["position"]) for x in recovered["exposures"]}
    if not recovered["live"]:
        complete = all(e["complete"] for e in recovered["executions"])
        assert named == ({} if complete else {_canonical(harness, k): v for k, v in held.items()}), (named, held)


def _canonical(harness, symbol: str) -> str:
    return symbol  # every fake names its instruments canonically


def _assert_full_or_flat(harness, legs: list[str]) -> None:
    """At the venue, every instrument's net position is the full strategy's or zero, never a naked leg."""
    specs = [legs[i + 1].split() for i in range(0, len(legs), 2)]
    full = {sym: Decimal(qty) * (1 if side == "buy" else -1) for side, qty, sym in specs}
    held = net_position(harness.orders(_journaled(harness)))
    assert held in ({}, full), (held, full)


def crashed_id(harness) -> str:
    (started,) = [e for e in journal_events(harness.home) if e["event"] == "execution_started"]
    return started["execution_id"]


def _wait_for_requests_in_flight(harness) -> None:
    """A killed process's requests that already reached the fake server are still processed.

    Wait (bounded) until every placement the Deribit fake received has been handled, then, on
    every venue, until the book of record has stopped changing for half a second: a request
    still in a socket buffer when the process died lands after the kill (seen on Aevo under load).
    """
    if harness.name == "deribit":
        exchange = harness.exchange
        for _ in range(200):
            with exchange.lock:
                if sum(exchange.received.values()) <= sum(exchange.placed.values()):
                    break
            time.sleep(0.05)
    last, stable = None, 0
    for _ in range(200):
        now = sorted((o.client_order_id or "", o.status, str(o.filled)) for o in harness.orders())
        stable = stable + 1 if now == last else 0
        if stable >= 10:
            return
        last = now
        time.sleep(0.05)


def _journaled(harness) -> list[str]:
    return [e["order"]["client_order_id"] for e in journal_events(harness.home) if e["event"] == "order_intent"]


@pytest.mark.parametrize("point", list(POINTS))
@pytest.mark.parametrize("venue", ["dryrun", "deribit", "aevo"])
def test_sigkill_then_recover(venue, point, make_harness, gps_process, ledger):
    harness = make_harness(venue)
    legs = _legs(harness)
    crash_at, extra = POINTS[point]
    if point == "monitoring":
        _rest(harness, legs[-1].split()[-1])
    env = harness.env()

    crashed = gps_process(["execute", "--venue", venue, "--yes", "--json", "--timeout", "5", *extra, *legs],
                          {**env, "GPS_CRASH_AT": crash_at})
    assert crashed.code == -signal.SIGKILL, crashed.stderr
    assert crashed.stdout == ""
    _wait_for_requests_in_flight(harness)
    placed_before = len(harness.orders(_journaled(harness)))

    refused = gps_process(["execute", "--venue", venue, "--yes", "--json", *legs], env)
    assert refused.code == 2 and "gps recover" in refused.stderr, refused.stderr
    assert len(harness.orders(_journaled(harness))) == placed_before  # nothing was sent

    recovered = gps_process(["recover", "--json", "--settle-after", "0"], env)
    data = recovered.json()
    assert data["orders"] or data["executions"], "recover found nothing to settle"
    assert [e["execution_id"] for e in data["executions"]] == ([] if data["live"] else [crashed_id(harness)])
    _assert_recovered(harness, data)
    complete = all(e["complete"] for e in data["executions"])
    assert recovered.code == (1 if data["live"] or data["exposures"] or data["unknown"] or not complete else 0)
    _assert_exposures_named(harness, data)
    # recover finished the dead process's job: its deadline passed, so nothing is left working, and the
    # strategy is whole or unwound (the default --on-partial)
    assert data["live"] == [] and data["unknown"] == [], data
    assert not [o for o in harness.orders(_journaled(harness)) if o.is_open]
    _assert_full_or_flat(harness, legs)
    again_recover = gps_process(["recover", "--json", "--cancel-working", "--settle-after", "0"], env)
    assert again_recover.code == 0 and again_recover.json()["orders"] == [], again_recover.stdout
    found = audit(harness, live=set(data["live"]))
    ledger.from_audit("crash", venue, f"SIGKILL {point}", found, f"recover: {len(data['orders'])} settled, "
                                                                    f"{len(data['live'])} live")

    again = gps_process(["execute", "--venue", venue, "--yes", "--json", "--timeout", "2", *legs[:2]], env)
    assert again.code == 0, again.stderr  # settled: execute no longer refuses


def test_external_sigkill_while_monitoring(make_harness, ledger):
    """The same, with the kill sent from outside while gps watches a resting dry-run order."""
    harness = make_harness("dryrun")
    legs = _legs(harness)
    _rest(harness, legs[-1].split()[-1])
    child = subprocess.Popen([str(GPS), "execute", "--venue", "dryrun", "--yes", "--json", "--timeout", "60", *legs],
                             env=process_env(harness.env()), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for _ in range(600):
            if len(harness.orders()) == 3 or child.poll() is not None:
                break
            time.sleep(0.05)
        assert len(harness.orders()) == 3
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
        child.communicate()
    done = subprocess.run([str(GPS), "recover", "--json", "--cancel-working"], env=process_env(harness.env()),
                          capture_output=True, text=True, timeout=60)
    import json

    data = json.loads(done.stdout)
    _assert_recovered(harness, data)
    assert data["live"] == [] and done.returncode == 1  # the strategy did not complete
    assert not [o for o in harness.orders() if o.is_open]
    _assert_full_or_flat(harness, legs)
    ledger.from_audit("crash", "dryrun", "external SIGKILL while monitoring", audit(harness, live=set(data["live"])),
                      "recover --cancel-working: cancelled, unwound, exit 1")
