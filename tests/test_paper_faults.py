"""Fault injection in the paper engine: every fault, the xN budgets across processes, the parser."""

from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gps_core.errors import (
    ConfigurationError,
    OrderNotFound,
    OrderNotOpen,
    OrderRejected,
    OutcomeUnknown,
    RateLimited,
)
from gps_core.model import VenueOrderStatus
from gps_core.paper import FAULTS, FaultPlan, FaultRule

# --- each fault ----------------------------------------------------------------------------


def test_reject_matches_by_glob_and_stores_nothing(make_broker, kit):
    broker = make_broker("reject@BTC-*-75000-C")
    hit, miss = kit.instrument(75000), kit.instrument(80000)
    with pytest.raises(OrderRejected, match="injected"):
        broker.place(kit.order("r", hit), kit.book(hit))
    assert broker.orders() == []
    assert broker.place(kit.order("ok", miss), kit.book(miss)).status is VenueOrderStatus.FILLED


def test_partial_fills_a_fraction_and_rests_the_rest(make_broker, kit):
    eth = kit.instrument(3400, "ETH")
    snap = make_broker("partial=0.5@ETH-*").place(kit.order("p", eth, quantity="2", price="1030"), kit.book(eth))
    assert (snap.status, snap.filled_quantity) == (VenueOrderStatus.OPEN, 1)
    assert snap.average_price == D(1010)


def test_partial_with_ioc_cancels_the_rest(make_broker, kit):
    from gps_core.model import TimeInForce

    eth = kit.instrument(3400, "ETH")
    snap = make_broker("partial=0.25@*").place(
        kit.order("p", eth, quantity="2", price="1030", tif=TimeInForce.IOC), kit.book(eth))
    assert (snap.status, snap.filled_quantity) == (VenueOrderStatus.CANCELLED, D("0.5"))


def test_never_fill_rests_a_crossing_order(make_broker, kit):
    broker = make_broker("never_fill@*-P")
    put, call = kit.instrument(90000, option_type="P"), kit.instrument(90000)
    snap = broker.place(kit.order("put", put), kit.book(put))
    assert (snap.status, snap.filled_quantity) == (VenueOrderStatus.OPEN, 0)
    assert broker.place(kit.order("call", call), kit.book(call)).status is VenueOrderStatus.FILLED


def test_unknown_after_accept_stores_the_order_then_loses_the_reply(make_broker, kit):
    broker = make_broker("unknown_after_accept x1@BTC-*")
    inst = kit.instrument()
    with pytest.raises(OutcomeUnknown) as caught:
        broker.place(kit.order("lost", inst), kit.book(inst))
    assert not isinstance(caught.value, OrderRejected)
    found = broker.status(kit.order("lost", inst))
    assert found.status is VenueOrderStatus.FILLED and found.venue_order_id
    # x1: the next order's reply arrives
    assert broker.place(kit.order("next", inst), kit.book(inst)).status is VenueOrderStatus.FILLED


def test_unknown_before_accept_stores_nothing(make_broker, kit):
    broker = make_broker("unknown_before_accept@*")
    inst = kit.instrument()
    with pytest.raises(OutcomeUnknown):
        broker.place(kit.order("gone", inst), kit.book(inst))
    with pytest.raises(OrderNotFound):
        broker.status(kit.order("gone", inst))
    assert broker.orders() == []


def test_latency_sleeps_on_every_call(make_broker, kit, sleeps):
    broker = make_broker("latency=200ms@*; latency=0.05s@ETH-*")
    inst = kit.instrument()
    broker.place(kit.order("a", inst), kit.book(inst))
    broker.status(kit.order("a", inst))
    assert sleeps == [0.2, 0.2]
    eth = kit.instrument(3400, "ETH")
    with pytest.raises(OrderNotFound):
        broker.status(kit.order("missing", eth))
    assert sleeps[-1] == pytest.approx(0.25)


def test_rate_limit_refuses_the_first_n_places_and_stores_nothing(make_broker, kit):
    broker = make_broker("rate_limit=2@*")
    inst = kit.instrument()
    for attempt in range(2):
        with pytest.raises(RateLimited) as caught:
            broker.place(kit.order("rl", inst), kit.book(inst))
        assert caught.value.retry_after == 0.05
    assert broker.orders() == []
    assert broker.place(kit.order("rl", inst), kit.book(inst)).status is VenueOrderStatus.FILLED


def test_cancel_race_fills_before_the_cancel(make_broker, kit):
    broker = make_broker("cancel_race@*")
    inst = kit.instrument()
    broker.place(kit.order("cr", inst, quantity="2", price="1000"), kit.book(inst))
    with pytest.raises(OrderNotOpen, match="filled before the cancel"):
        broker.cancel(kit.order("cr", inst))
    snap = broker.status(kit.order("cr", inst))
    assert (snap.status, snap.filled_quantity, snap.average_price) == (VenueOrderStatus.FILLED, 2, D(1000))
    assert snap.fee.amount == D("57")  # maker fee, 28.5 USD per contract
    assert [f.liquidity for f in broker.orders()[0].fills] == ["maker"]


def test_cancel_race_keeps_an_earlier_partial_fill(make_broker, kit):
    broker = make_broker("cancel_race@*")
    inst = kit.instrument()
    broker.place(kit.order("cr", inst, quantity="5", price="1020"), kit.book(inst))
    with pytest.raises(OrderNotOpen):
        broker.cancel(kit.order("cr", inst))
    snap = broker.status(kit.order("cr", inst))
    assert snap.filled_quantity == 5 and snap.average_price == (D(1010) + D(2040) + D(2) * D(1020)) / 5


def test_fill_after_fills_a_resting_order_on_a_later_status_check(make_broker, kit):
    broker = make_broker("fill_after=2@*")
    inst = kit.instrument()
    broker.place(kit.order("fa", inst, price="1000"), kit.book(inst))
    assert broker.status(kit.order("fa", inst)).status is VenueOrderStatus.OPEN
    snap = broker.status(kit.order("fa", inst))
    assert (snap.status, snap.average_price) == (VenueOrderStatus.FILLED, D(1000))


def test_times_budget_is_shared_across_broker_instances(make_broker, kit):
    spec = "reject x2@*"
    inst = kit.instrument()
    with pytest.raises(OrderRejected):
        make_broker(spec).place(kit.order("a", inst), kit.book(inst))
    with pytest.raises(OrderRejected):
        make_broker(spec).place(kit.order("b", inst), kit.book(inst))
    assert make_broker(spec).place(kit.order("c", inst), kit.book(inst)).status is VenueOrderStatus.FILLED


def test_rate_limit_count_is_shared_across_broker_instances(make_broker, kit):
    inst = kit.instrument()
    with pytest.raises(RateLimited):
        make_broker("rate_limit=1@*").place(kit.order("a", inst), kit.book(inst))
    assert make_broker("rate_limit=1@*").place(kit.order("a", inst), kit.book(inst)).filled_quantity > 0


def test_reset_fault_counters_rearms_the_plan(make_broker, kit):
    inst = kit.instrument()
    broker = make_broker("reject x1@*")
    with pytest.raises(OrderRejected):
        broker.place(kit.order("a", inst), kit.book(inst))
    broker.reset_fault_counters()
    with pytest.raises(OrderRejected):
        broker.place(kit.order("a", inst), kit.book(inst))


def test_the_first_matching_fill_rule_wins(make_broker, kit):
    broker = make_broker("never_fill@*; partial=0.5@*")
    inst = kit.instrument()
    assert broker.place(kit.order("a", inst, quantity="2"), kit.book(inst)).filled_quantity == 0


# --- the parser ----------------------------------------------------------------------------


def test_the_documented_example_parses():
    plan = FaultPlan.parse("reject@BTC-*-75000-C; partial=0.5@ETH-*; never_fill@*-P; unknown_after_accept@BTC-*; "
                           "latency=200ms@*; rate_limit=2@*; cancel_race@*; unknown_before_accept@*")
    assert [r.name for r in plan.rules] == ["reject", "partial", "never_fill", "unknown_after_accept", "latency",
                                            "rate_limit", "cancel_race", "unknown_before_accept"]
    assert plan.rules[1] == FaultRule("partial", "ETH-*", D("0.5"))
    assert plan.rules[4].value == D(200) and plan.rules[5].budget == 2


@pytest.mark.parametrize("text, rule", [
    ("unknown_after_accept x1@BTC-*", FaultRule("unknown_after_accept", "BTC-*", None, 1)),
    ("reject", FaultRule("reject", "*")),
    ("  Partial = 0.25 x3 @ eth-*  ", FaultRule("partial", "ETH-*", D("0.25"), 3)),
    ("latency=1.5s@*", FaultRule("latency", "*", D(1500))),
    ("latency=30", FaultRule("latency", "*", D(30))),
    ("fill_after=3 x2@*-C", FaultRule("fill_after", "*-C", 3, 2)),
])
def test_clause_forms(text, rule):
    assert FaultPlan.parse(text).rules == (rule,)


def test_empty_specs_are_empty_plans():
    assert not FaultPlan.parse("") and not FaultPlan.parse(" ; ;\n") and not FaultPlan.parse(None)


@pytest.mark.parametrize("text, why", [
    ("explode@*", "unknown fault 'explode'"),
    ("partial@*", "needs a value"),
    ("reject=1@*", "takes no value"),
    ("partial=1.5@*", "between 0 and 1"),
    ("partial=half@*", "not a number"),
    ("latency=-5ms@*", "negative"),
    ("latency=fast@*", "not a number"),
    ("rate_limit=0@*", "positive whole number"),
    ("rate_limit=2 x1@*", "drop the xN"),
    ("reject x0@*", "positive whole number"),
    ("reject xx@*", "positive whole number"),
    ("reject@", "expected NAME"),
    ("@BTC-*", "expected NAME"),
    ("reject@a b", "expected NAME"),
])
def test_bad_clauses_are_configuration_errors(text, why):
    with pytest.raises(ConfigurationError, match=why) as caught:
        FaultPlan.parse(f"latency=1ms@*; {text}")
    assert text.strip() in str(caught.value)


# --- property tests ------------------------------------------------------------------------

PATTERNS = st.text(alphabet="ABCETHP0123456789*?-", min_size=1, max_size=12)


@st.composite
def rules(draw) -> FaultRule:
    name = draw(st.sampled_from(sorted(FAULTS)))
    kind = FAULTS[name]
    value = None
    if kind == "fraction":
        value = D(draw(st.integers(0, 100))) / 100
    elif kind == "duration":
        value = D(draw(st.integers(0, 5000)))
    elif kind == "count":
        value = draw(st.integers(1, 50))
    times = None if name == "rate_limit" else draw(st.none() | st.integers(1, 9))
    return FaultRule(name, draw(PATTERNS), value, times)


@settings(max_examples=200, deadline=None)
@given(st.lists(rules(), max_size=6))
def test_plans_round_trip_through_their_text(rule_list):
    plan = FaultPlan(tuple(rule_list))
    assert FaultPlan.parse(str(plan)) == plan


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("abcdeilmnoprstux_=@;.*-0123456789 xXBTCms\n")), max_size=40))
def test_any_text_parses_or_is_a_configuration_error(text):
    try:
        plan = FaultPlan.parse(text)
    except ConfigurationError:
        return
    assert all(rule.name in FAULTS for rule in plan.rules)
    assert FaultPlan.parse(str(plan)) == plan
