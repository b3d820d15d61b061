"""The engine sends only what a venue says it takes: client order ids whole, unwinds by its capabilities.

Asserted at the scripted venue's book of record (``venue.orders``, ``venue.place_calls``).
"""

from dataclasses import replace
from decimal import Decimal as D

import pytest

from gps_core.errors import ConfigurationError
from gps_core.journal import Journal, read_events
from gps_core.model import Capability, Position, TimeInForce
from gps_core.engine import Engine, ExecutionOptions

from scripted_venue import Behaviour, ScriptedVenue
from test_engine import FAST, KEYS, assert_book_of_record_is_clean, make_plan


class HoldingVenue(ScriptedVenue):
    """A scripted venue that reports positions: net fills per symbol, less what ``closed_outside`` took away."""

    has_positions = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.closed_outside: dict[str, D] = {}

    def positions(self, underlying=None):
        net: dict[str, D] = {}
        for stored in self.orders.values():
            r = stored.request
            net[r.instrument.symbol] = net.get(r.instrument.symbol, D(0)) + r.side.sign * stored.filled
        for symbol, quantity in self.closed_outside.items():
            net[symbol] -= quantity
        return [Position(self.name, symbol, q, "USD") for symbol, q in net.items() if q]


def without(venue, *capabilities):
    venue.info = replace(venue.info, capabilities=venue.info.capabilities - set(capabilities))
    return venue


def run(tmp_path, venue, said=None, **options):
    journal = Journal(tmp_path, "test-exec")
    engine = Engine({venue.name: venue}, journal, ExecutionOptions(**{**FAST, **options}), sleep=lambda s: None,
                    progress=(said.append if said is not None else None))
    try:
        return engine.execute(make_plan(venue)), read_events(journal.path)
    finally:
        journal.close()


def test_a_venue_without_ioc_gets_gtc_unwinds_and_is_told_so(tmp_path):
    venue = without(ScriptedVenue(behaviours={KEYS[1].name: Behaviour(reject=True)}), Capability.IOC)
    said: list[str] = []
    result, events = run(tmp_path, venue, said)
    assert {u.client_order_id for u in result.unwinds} == {"gps-test-exec-U1-1", "gps-test-exec-U3-1"}
    for cid in ("gps-test-exec-U1-1", "gps-test-exec-U3-1"):
        stored = venue.orders[cid].request
        assert stored.time_in_force is TimeInForce.GTC and stored.reduce_only
    assert all(venue.orders[u.client_order_id].filled == D(1) for u in result.unwinds)
    assert any("takes no IOC orders: unwinds are GTC orders" in line for line in said)
    assert_book_of_record_is_clean(venue, result, events)


def test_a_venue_without_reduce_only_gets_plain_unwinds_capped_at_its_position(tmp_path):
    venue = without(HoldingVenue(behaviours={KEYS[1].name: Behaviour(reject=True)}), Capability.REDUCE_ONLY)
    venue.closed_outside[KEYS[0].name] = D("0.6")  # 0.4 of leg 1's fill is still held
    said: list[str] = []
    result, events = run(tmp_path, venue, said)
    first = venue.orders["gps-test-exec-U1-1"].request
    assert not first.reduce_only and first.quantity == D("0.4") and first.side.value == "sell"
    assert venue.orders["gps-test-exec-U3-1"].request.quantity == D(1)
    assert not any(cid.startswith("gps-test-exec-U1-2") for cid in venue.place_calls)
    assert any("takes no reduce-only orders" in line for line in said)
    assert_book_of_record_is_clean(venue, result, events)


def test_a_venue_without_reduce_only_nor_positions_gets_no_unwind_and_the_legs_are_reported_held(tmp_path):
    venue = without(ScriptedVenue(behaviours={KEYS[1].name: Behaviour(reject=True)}), Capability.REDUCE_ONLY)
    result, events = run(tmp_path, venue)
    assert result.unwinds == [] and not any("-U" in cid for cid in venue.place_calls)
    impossible = [e for e in events if e["event"] == "unwind_impossible"]
    assert {e["client_order_id"] for e in impossible} == {"gps-test-exec-L1-1", "gps-test-exec-L3-1"}
    assert all("takes no reduce-only orders and it cannot report positions" in e["reason"] for e in impossible)
    assert {r["venue_symbol"] for r in result.residuals} == {KEYS[0].name, KEYS[2].name}
    assert_book_of_record_is_clean(venue, result, events)


@pytest.mark.parametrize("options, longest", [
    ({"on_partial": "unwind", "unwind_attempts": 10}, "gps-test-exec-U3-10"),  # the last leg's last unwind
    ({"on_partial": "keep"}, "gps-test-exec-L1-1"),
])
def test_client_order_ids_too_long_for_the_venue_are_refused_before_anything_is_sent(tmp_path, options, longest):
    venue = ScriptedVenue()
    venue.info = replace(venue.info, client_id_max_length=len(longest) - 1)
    with pytest.raises(ConfigurationError, match=f"at most {len(longest) - 1} characters.*{longest}.*nothing was sent"):
        run(tmp_path, venue, **options)
    assert venue.place_calls == [] and venue.orders == {}
    assert not [e for e in read_events(tmp_path / "journal" / "test-exec.jsonl") if e["event"] == "order_intent"]


def test_ids_that_fit_exactly_are_sent_whole(tmp_path):
    venue = ScriptedVenue()
    venue.info = replace(venue.info, client_id_max_length=len("gps-test-exec-U3-4"))
    result, events = run(tmp_path, venue)
    assert result.all_filled and set(venue.orders) == {"gps-test-exec-L1-1", "gps-test-exec-L2-1", "gps-test-exec-L3-1"}
