"""The fault matrix: every fault on the first, middle and last of three legs, on every venue.

Each scenario runs ``gps execute`` and then audits the venue's own book of record: no order
placed twice, nothing working that gps does not report, every venue order journaled, the
report's fills equal to the venue's, and a failed strategy unwound (or kept and said so).
"""

from __future__ import annotations

import json

import pytest

from reliability.audit import audit, net_position
from reliability.scenarios import SIDES, matrix

SCENARIOS = matrix()


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_fault_matrix(scenario, make_harness, gps, ledger, short_http_timeouts):
    harness = make_harness(scenario.venue)
    symbols = harness.instruments(len(SIDES))
    harness.inject(scenario.fault, symbols[scenario.leg])
    legs = [arg for side, symbol in zip(SIDES, symbols) for arg in ("--leg", f"{side} {harness.quantity} {symbol}")]

    run = gps(["execute", "--venue", harness.name, "--yes", "--json", "--quiet", "--timeout", "1",
               "--on-partial", scenario.on_partial, *legs], {**harness.env(), **short_http_timeouts})

    assert run.code in (0, 1), run.stderr
    report = run.json()
    found = audit(harness, report)
    filled_legs = [leg for leg in report["legs"] if leg["filled"] != "0"]
    ledger.from_audit("matrix", scenario.venue, scenario.id, found,
                      f"exit {run.code}, {len(filled_legs)}/3 legs filled, {len(report['unwinds'])} unwound")
    assert found.clean, found.explain()

    # The exit code and the report say what happened.
    assert (run.code == 0) == report["all_filled"] == all(leg["status"] == "filled" for leg in report["legs"])
    assert report["all_filled"] is scenario.completes, found.explain()
    faulted = report["legs"][scenario.leg]
    assert faulted["instrument"] == symbols[scenario.leg]
    if scenario.fault == "latency" and scenario.venue != "dryrun":
        # The reply came after the plugin's read timeout: gps had to settle the order by lookup.
        events = [json.loads(line) for line in open(report["journal"])]
        assert any(e["event"] == "order_unknown" and e["client_order_id"] == faulted["client_order_id"]
                   for e in events), "the latency fault did not outlast the read timeout"
    if scenario.completes:
        assert report["unwinds"] == [] and report["unsettled"] == []
        return
    assert faulted["status"] != "filled"
    if scenario.on_partial == "keep":
        assert report["unwinds"] == []
        assert sorted(report["kept"]) == sorted(leg["client_order_id"] for leg in filled_legs)
        assert net_position(found.venue_orders) == {
            leg["instrument"]: (1 if leg["side"] == "buy" else -1) * __import__("decimal").Decimal(leg["filled"])
            for leg in filled_legs}
    else:
        assert {u["leg"] for u in report["unwinds"]} == {leg["leg"] for leg in filled_legs}
        assert all(u["status"] == "filled" for u in report["unwinds"]), report["unwinds"]
        assert net_position(found.venue_orders) == {}, found.explain()
