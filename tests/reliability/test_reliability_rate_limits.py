"""Rate-limit storms: ridden out with backoff that honours retry-after, bounded, never doubling an order."""

from __future__ import annotations

import pytest

from reliability.audit import audit
from reliability.scenarios import SIDES

STORM = 5  # consecutive 429s on the faulted leg's placement, more than the engine's attempt count


def _storm(harness, symbol: str, retry_after: float, lookups: int) -> None:
    """``STORM`` 429s on placing ``symbol`` and ``lookups`` 429s on the status lookups in between."""
    if harness.name == "dryrun":
        harness.add_faults(f"rate_limit={STORM}@{symbol}")  # the dry run's retry-after is fixed at 0.05 s
    elif harness.name == "deribit":
        harness.exchange.faults.aim(symbol, "http429", times=STORM, retry_after=retry_after)
        if lookups:
            harness.exchange.faults.inject("http429", "private/get_order_state_by_label", times=lookups,
                                           retry_after=retry_after)
    else:
        harness.fake.aim(symbol, "rate_limit", times=STORM, retry_after_ns=int(retry_after * 1e9))
        if lookups:
            harness.fake.inject("rate_limit", method="GET", path="/orders*", times=lookups,
                                retry_after_ns=int(retry_after * 1e9))


def _execute(harness, gps):
    symbols = harness.instruments(len(SIDES))
    return symbols, lambda: gps(["execute", "--venue", harness.name, "--yes", "--json", "--quiet", "--timeout", "1",
                                 *[a for s, sym in zip(SIDES, symbols) for a in ("--leg", f"{s} {harness.quantity} {sym}")]],
                                harness.env())


@pytest.mark.parametrize("venue", ["dryrun", "deribit", "aevo"])
def test_a_storm_of_429s_is_ridden_out_without_a_second_order(venue, make_harness, gps, ledger):
    harness = make_harness(venue)
    symbols, run_it = _execute(harness, gps)
    _storm(harness, symbols[1], retry_after=0.05, lookups=2)
    run = run_it()
    report = run.json()
    found = audit(harness, report)
    ledger.from_audit("rate_limit", venue, f"{STORM} x 429 on placement + 2 on lookups", found, f"exit {run.code}")
    assert found.clean, found.explain()
    assert run.code == 0 and report["all_filled"], run.stderr
    assert len(found.venue_orders) == 3


@pytest.mark.parametrize("venue", ["deribit", "aevo"])
def test_a_retry_after_beyond_the_wait_bound_gives_up_without_sending(venue, make_harness, gps, ledger):
    harness = make_harness(venue)
    symbols, run_it = _execute(harness, gps)
    _storm(harness, symbols[1], retry_after=3600, lookups=0)
    run = run_it()
    report = run.json()
    found = audit(harness, report)
    ledger.from_audit("rate_limit", venue, "retry-after 3600 s (beyond the wait bound)", found, f"exit {run.code}")
    assert found.clean, found.explain()
    assert run.code == 1
    leg = report["legs"][1]
    assert leg["status"] == "rejected" and "not placed" in leg["reason"]
    assert not [o for o in found.venue_orders if o.instrument == symbols[1]]
