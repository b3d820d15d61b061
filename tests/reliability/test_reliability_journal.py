"""The journal and the execution lock under stress, audited at the Deribit fake's book of record.

* ``gps recover`` / ``gps cancel`` against an execution a live ``gps execute`` still drives:
  nothing is touched, the PID is named; after SIGKILL, recover finishes it.
* A journal that cannot grow (RLIMIT_FSIZE, SIGXFSZ ignored, as on a full disk): the cancels of
  ``recover --cancel-working`` and ``cancel`` are still sent, and what was not journaled is named.
* A closed stdout or stderr never turns a finished execution into a traceback.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import time
from collections import Counter
from decimal import Decimal

import pytest

from reliability.audit import audit, journal_events, net_position
from reliability.conftest import GPS, process_env
from reliability.scenarios import SIDES


def _legs(harness, count: int = len(SIDES)) -> list[str]:
    symbols = harness.instruments(count)
    sides = (SIDES * 2)[:count]
    return [a for s, sym in zip(sides, symbols) for a in ("--leg", f"{s} {harness.quantity} {sym}")]


def _rest_last(harness, legs: list[str]) -> None:
    harness.exchange.faults.aim(legs[-1].split()[-1], "partial", fill="0")


def _journaled(harness) -> list[str]:
    return [e["order"]["client_order_id"] for e in journal_events(harness.home) if e["event"] == "order_intent"]


def _wait_until_resting(harness, child, count: int) -> None:
    for _ in range(600):
        if len(harness.orders()) == count or child.poll() is not None:
            break
        time.sleep(0.05)
    assert child.poll() is None and len(harness.orders()) == count, harness.orders()
    for _ in range(200):  # every leg acknowledged in the journal: the process is watching
        updates = {e["client_order_id"] for e in journal_events(harness.home) if e["event"] == "order_update"}
        if len(updates) >= count:
            return
        time.sleep(0.05)


def _start(harness, legs: list[str], timeout: str = "120", **extra_env) -> subprocess.Popen:
    return subprocess.Popen([str(GPS), "execute", "--venue", harness.name, "--yes", "--json", "--timeout", timeout,
                             *legs], env=process_env({**harness.env(), **extra_env}),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _kill(child: subprocess.Popen) -> None:
    if child.poll() is None:
        child.send_signal(signal.SIGKILL)
    child.communicate(timeout=10)


def _assert_safe_at_the_venue(harness, recovered: dict) -> None:
    """Nothing open, no duplicate client id, net position zero or exactly the exposures recover named."""
    orders = harness.orders(_journaled(harness))
    assert not [o for o in orders if o.is_open], orders
    ids = Counter(o.client_order_id for o in orders)
    assert all(n == 1 for n in ids.values()), ids
    named = {x["instrument"]: Decimal(x["position"]) for x in recovered["exposures"]}
    assert net_position(orders) == named, (net_position(orders), named)


@pytest.mark.parametrize("legs_count", [2, 4])
def test_recover_leaves_a_running_execution_alone_then_finishes_it_after_sigkill(legs_count, make_harness,
                                                                                 gps_process, ledger):
    harness = make_harness("deribit")
    legs = _legs(harness, legs_count)
    _rest_last(harness, legs)
    child = _start(harness, legs)
    try:
        _wait_until_resting(harness, child, legs_count)
        before = harness.orders()
        events_before = len(journal_events(harness.home))

        left = gps_process(["recover", "--json", "--cancel-working", "--settle-after", "0"], harness.env())
        data = left.json()
        assert left.code == 1, left.stderr  # an execution was left alone: not done
        assert [r["pid"] for r in data["running"]] == [child.pid] and data["orders"] == [], data
        assert f"is running in process {child.pid}" in left.stderr
        text = gps_process(["recover"], harness.env())
        assert f"is running in process {child.pid}: left alone" in text.stdout, text.stdout
        assert "Nothing to recover" not in text.stdout and text.code == 1, text.stdout
        refused = gps_process(["cancel", "last"], harness.env())
        assert refused.code == 2 and refused.stderr.count("\n") == 1, refused.stderr
        assert f"running in process {child.pid}" in refused.stderr
        blocked = gps_process(["execute", "--venue", "deribit", "--yes", "--json", *legs], harness.env())
        assert blocked.code == 2 and f"running in process {child.pid}" in blocked.stderr, blocked.stderr

        assert harness.orders() == before  # the venue saw nothing from recover or cancel
        assert len(journal_events(harness.home)) >= events_before and child.poll() is None
    finally:
        _kill(child)

    recovered = gps_process(["recover", "--json", "--cancel-working", "--settle-after", "0"], harness.env())
    data = recovered.json()
    assert data["running"] == [] and data["live"] == [] and data["unknown"] == [], data
    assert recovered.code == 1  # the strategy did not complete (the resting leg was cancelled, the rest unwound)
    assert data["exposures"] == [] and [e["complete"] for e in data["executions"]] == [False]
    _assert_safe_at_the_venue(harness, data)
    found = audit(harness, live=set(data["live"]))
    assert found.clean, found.explain()
    ledger.from_audit("journal", "deribit", f"recover against a live {legs_count}-leg execution, then SIGKILL",
                      found, f"left alone, then exit {recovered.code}, {len(data['exposures'])} exposure(s) named")
    shown = gps_process(["show", "last"], harness.env())
    assert "RECOVERED" in shown.stdout and "no final report" not in shown.stdout


def _full_disk(limit: int):
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


@pytest.mark.parametrize("command", [["recover", "--json", "--cancel-working", "--settle-after", "0"],
                                     ["cancel", "last", "--json"]])
def test_cancel_is_sent_when_the_journal_cannot_grow(command, make_harness, ledger):
    harness = make_harness("deribit")
    legs = _legs(harness, 2)
    _rest_last(harness, legs)
    child = _start(harness, legs, GPS_CRASH_AT="monitoring")
    child.communicate(timeout=60)
    assert child.returncode == -signal.SIGKILL
    assert [o for o in harness.orders() if o.is_open]
    (journal,) = (harness.home / "journal").glob("*.jsonl")
    size = journal.stat().st_size

    done = subprocess.run([str(GPS), *command], env=process_env(harness.env()), capture_output=True, text=True,
                          timeout=60, preexec_fn=_full_disk(size))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "NOT JOURNALED" in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert journal.stat().st_size == size  # really nothing could be journaled
    assert not [o for o in harness.orders() if o.is_open], harness.orders()  # ...and the cancel went out
    found = audit(harness)
    assert found.duplicates == 0 and found.orphans == 0, found.explain()
    journaled = set(_journaled(harness))
    for order in found.venue_orders:  # an unwind sent without its intent journaled is named as such
        assert order.client_order_id in journaled or order.client_order_id in done.stdout + done.stderr
    if command[0] == "recover":  # the filled leg was unwound: flat
        assert net_position(found.venue_orders) == {}, found.explain()
    ledger.from_audit("journal", "deribit", f"journal cannot grow: gps {' '.join(command[:2])}", found,
                      f"exit {done.returncode}, cancel sent, {found.unjournaled} unwind(s) sent unjournaled, named")

    after = subprocess.run([str(GPS), "recover", "--json", "--settle-after", "0"], env=process_env(harness.env()),
                           capture_output=True, text=True, timeout=60)
    assert "internal error" not in after.stderr, after.stderr
    data = json.loads(after.stdout)
    assert data["live"] == [] and data["unknown"] == [], data
    _assert_safe_at_the_venue(harness, data)  # no unwind sent twice, flat once recover could journal
    assert net_position(harness.orders()) == {}
    found = audit(harness)
    assert found.clean, found.explain()  # the unwind found at the venue is journaled now


@pytest.mark.parametrize("closed", ["stdout", "stderr"])
def test_a_closed_output_never_turns_a_finished_execution_into_a_traceback(closed, make_harness, ledger):
    harness = make_harness("deribit")
    legs = _legs(harness, 2)
    read_end, write_end = os.pipe()
    os.close(read_end)  # whatever gps writes there fails with EPIPE
    streams = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, closed: write_end}
    done = subprocess.run([str(GPS), "execute", "--venue", "deribit", "--yes", "--json", "--timeout", "10", *legs],
                          env=process_env(harness.env()), text=True, timeout=60, **streams)
    os.close(write_end)
    assert done.returncode == 0, (done.stdout, done.stderr)
    other = done.stderr if closed == "stdout" else done.stdout
    assert "Traceback" not in (other or "") and "Exception ignored" not in (other or ""), other
    kinds = [e["event"] for e in journal_events(harness.home)]
    assert kinds[-1] == "execution_finished"
    found = audit(harness)
    assert found.clean and not [o for o in found.venue_orders if o.is_open], found.explain()
    assert len(net_position(found.venue_orders)) == 2  # the full strategy, both legs
    ledger.from_audit("journal", "deribit", f"closed {closed}", found, f"exit {done.returncode}, journaled")


def test_a_leg_whose_lookups_failed_while_it_filled_is_unwound_by_recover(make_harness, gps, gps_process,
                                                                          short_http_timeouts, ledger):
    """Item 6: every reply about one leg is unreadable while it fills; execute unwinds the other leg and
    leaves this one unknown. Once the venue answers again, recover finds it filled and unwinds it too."""
    harness = make_harness("deribit")
    good, hostile = harness.instruments(2)
    harness.make_hostile(hostile, "unknown_status")
    run = gps(["execute", "--venue", "deribit", "--yes", "--json", "--quiet", "--timeout", "1",
               "--leg", f"buy {harness.quantity} {good}", "--leg", f"sell {harness.quantity} {hostile}"],
              {**harness.env(), **short_http_timeouts})
    assert run.code == 1 and run.json()["unsettled"], run.stdout
    held = net_position(harness.orders(_journaled(harness)))
    assert held == {hostile: -harness.quantity}  # the naked short leg the issue describes

    harness.exchange.hostile.clear()
    recovered = gps_process(["recover", "--json", "--settle-after", "0"], harness.env())
    data = recovered.json()
    assert recovered.code == 1, recovered.stdout  # the strategy did not complete; never "found at the venue", 0
    (closed,) = data["executions"]
    assert closed["complete"] is False and data["exposures"] == [] and data["unknown"] == [], data
    _assert_safe_at_the_venue(harness, data)
    assert net_position(harness.orders()) == {}  # flat: recover unwound the leg the lookups had hidden
    found = audit(harness, live=set(data["live"]))
    assert found.clean, found.explain()
    ledger.from_audit("journal", "deribit", "lookups fail while a leg fills, then recover", found,
                      f"recover exit {recovered.code}, hidden leg unwound, flat")
    listing = gps_process(["journal"], harness.env())
    assert "recovered: incomplete" in listing.stdout, listing.stdout


def test_recover_under_keep_names_exactly_the_position_it_leaves(make_harness, gps_process, ledger):
    harness = make_harness("deribit")
    legs = _legs(harness, 2)
    _rest_last(harness, legs)
    child = subprocess.Popen([str(GPS), "execute", "--venue", "deribit", "--yes", "--json", "--timeout", "1",
                              "--on-partial", "keep", *legs],
                             env=process_env({**harness.env(), "GPS_CRASH_AT": "monitoring"}),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    child.communicate(timeout=60)
    assert child.returncode == -signal.SIGKILL
    recovered = gps_process(["recover", "--json", "--settle-after", "0"], harness.env())
    data = recovered.json()
    assert recovered.code == 1 and data["live"] == [] and data["unknown"] == [], recovered.stdout
    assert data["executions"][0]["report"]["kept"], data  # the recorded policy, applied
    _assert_safe_at_the_venue(harness, data)  # net position == exactly the exposures recover named
    symbol = legs[1].split()[-1]
    assert [(x["instrument"], x["position"]) for x in data["exposures"]] == [(symbol, f"{harness.quantity}")]
    text = gps_process(["recover"], harness.env())
    assert text.code == 0 and "Nothing to recover" in text.stdout
    found = audit(harness, live=set(data["live"]))
    assert found.clean, found.explain()
    ledger.from_audit("journal", "deribit", "SIGKILL under --on-partial keep, then recover", found,
                      f"recover exit {recovered.code}, kept position named")
