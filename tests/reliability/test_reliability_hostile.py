"""Hostile venue replies: missing fields, wrong types, NaN, negative fills, overfills, unknown statuses.

The plugin must report an error and the engine must treat the order as unknown: no invented
fill, no crash, the order left for ``gps recover``, and the exit code saying it did not complete.
"""

from __future__ import annotations

import pytest

from reliability.audit import audit
from reliability.fakes import HOSTILE_MODES
from reliability.ledger import Row

CASES = [("deribit", mode) for mode in HOSTILE_MODES] + [("aevo", mode) for mode in HOSTILE_MODES]


@pytest.mark.parametrize("venue,mode", CASES, ids=[f"{v}-{m}" for v, m in CASES])
def test_hostile_reply_makes_the_order_unknown_never_filled(venue, mode, make_harness, gps, ledger,
                                                             short_http_timeouts):
    harness = make_harness(venue)
    good, hostile = harness.instruments(2)
    harness.make_hostile(hostile, mode)
    run = gps(["execute", "--venue", venue, "--yes", "--json", "--quiet", "--timeout", "1",
               "--leg", f"buy {harness.quantity} {good}", "--leg", f"sell {harness.quantity} {hostile}"],
              {**harness.env(), **short_http_timeouts})

    assert run.code == 1 and "internal error" not in run.stderr, run.stderr
    report = run.json()
    leg = report["legs"][1]
    assert leg["status"] == "unknown" and leg["filled"] == "0", leg
    assert report["unsettled"] == [leg["client_order_id"]]
    found = audit(harness, report)
    # The venue did fill it; gps, unable to read the reply, must not claim anything either way.
    (held,) = [o for o in found.venue_orders if o.client_order_id == leg["client_order_id"]]
    others = [d for d in found.disagreements if not d.startswith(leg["client_order_id"])]
    ledger.add(Row(
        "hostile", venue, mode, placed=found.placed, duplicates=found.duplicates, orphans=found.orphans,
        unjournaled=found.unjournaled, disagreements=len(others),
        outcome=f"exit {run.code}, leg reported unknown (venue: {held.status})"))
    assert found.duplicates == found.orphans == found.unjournaled == 0 and others == [], found.explain()
    assert report["unwinds"] and all(u["status"] == "filled" for u in report["unwinds"])
