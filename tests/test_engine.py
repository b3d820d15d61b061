"""Engine behaviour against a scripted venue whose book of record the tests inspect."""

from collections import Counter
from decimal import Decimal as D

from gps_core.engine import Engine, ExecutionOptions
from gps_core.journal import Journal, read_events
from gps_core.errors import OrderNotOpen
from gps_core.model import Side, VenueOrderStatus
from gps_core.orders import OrderState
from gps_core.routing import Quote, plan_strategy
from gps_core.strategy import Leg, Strategy

from builders import book, key, usd_instrument
from scripted_venue import Behaviour, ScriptedVenue

KEYS = [key("90000"), key("100000"), key("110000")]
FAST = dict(timeout=0.5, poll_initial=0.01, poll_max=0.05, unknown_grace=0.3, unwind_timeout=0.5)


def make_plan(venue, sides=("buy", "sell", "buy")):
    legs = tuple(Leg(Side(s), D(1), k) for s, k in zip(sides, KEYS))
    quotes = {}
    for i, k in enumerate(KEYS[: len(legs)]):
        inst = usd_instrument(venue.name, k)
        quotes[i] = [Quote(venue.name, inst, book(inst, bids=[("95", "100")], asks=[("100", "100")]))]
    return plan_strategy(Strategy(legs=legs), quotes)


def run(tmp_path, venue, sides=("buy", "sell", "buy"), **options):
    journal = Journal(tmp_path, "test-exec")
    engine = Engine({venue.name: venue}, journal, ExecutionOptions(**{**FAST, **options}), sleep=lambda s: None)
    result = engine.execute(make_plan(venue, sides))
    journal.close()
    return result, read_events(journal.path)


def assert_book_of_record_is_clean(venue, result, events):
    """No order placed twice, nothing left working unseen, every order that reached the venue journaled."""
    counts = Counter(venue.place_calls)
    stored = set(venue.orders)
    assert all(n == 1 for cid, n in counts.items() if cid in stored and not cid.endswith("-rl")), counts
    journaled = {e["order"]["client_order_id"] for e in events if e["event"] == "order_intent"}
    assert stored <= journaled
    assert venue.working() == [], f"orders left working: {venue.working()}"


def test_all_legs_fill(tmp_path):
    venue = ScriptedVenue()
    result, events = run(tmp_path, venue)
    assert result.all_filled and [o.state for o in result.legs] == [OrderState.FILLED] * 3
    assert_book_of_record_is_clean(venue, result, events)
    intents = [e for e in events if e["event"] == "order_intent"]
    assert len(intents) == 3 and all(e["order"]["client_order_id"].startswith("gps-test-exec-L") for e in intents)


def test_leg_two_of_three_rejected_unwinds_the_filled_legs(tmp_path):
    venue = ScriptedVenue(behaviours={KEYS[1].name: Behaviour(reject=True)})
    result, events = run(tmp_path, venue)
    assert not result.all_filled
    assert result.legs[1].state is OrderState.REJECTED
    assert {u.request.client_order_id for u in result.unwinds} == {"gps-test-exec-U1-1", "gps-test-exec-U3-1"}
    for unwind, leg in zip(result.unwinds, (result.legs[0], result.legs[2])):
        assert unwind.request.side is leg.request.side.opposite and unwind.request.reduce_only
        assert unwind.state is OrderState.FILLED and unwind.filled == leg.filled
    assert_book_of_record_is_clean(venue, result, events)


def test_keep_policy_leaves_fills_and_says_so(tmp_path):
    venue = ScriptedVenue(behaviours={KEYS[2].name: Behaviour(reject=True)})
    result, events = run(tmp_path, venue, on_partial="keep")
    assert result.unwinds == [] and {o.client_order_id for o in result.kept} == {"gps-test-exec-L1-1", "gps-test-exec-L2-1"}
    assert any(e["event"] == "kept" for e in events)


def test_partial_fill_then_timeout_cancels_and_unwinds_the_partial(tmp_path):
    venue = ScriptedVenue(behaviours={KEYS[0].name: Behaviour(fill_fraction=D("0.4"))})
    result, events = run(tmp_path, venue)
    first = result.legs[0]
    assert first.state is OrderState.CANCELLED and first.filled == D("0.4")
    first_round = result.unwinds[:3]  # the partial and the two full fills
    assert sorted(u.client_order_id for u in first_round) == [f"gps-test-exec-U{n}-1" for n in (1, 2, 3)]
    assert first_round[0].request.quantity == D("0.4")
    # The venue fills only 40 % of every order on that instrument: the rest is retried, priced wider,
    # for at most unwind_attempts rounds, and what is still held is reported.
    retries = result.unwinds[3:]
    assert [u.client_order_id for u in retries] == [f"gps-test-exec-U1-{n}" for n in (2, 3, 4)]
    assert all(later.request.limit_price < earlier.request.limit_price
               for earlier, later in zip(result.unwinds[:1] + retries, retries))
    held = first.filled - sum(u.filled for u in result.unwinds if u.leg_index == 0)
    assert held > 0 and result.residuals == [{
        "venue": "scripted", "instrument": first.request.instrument.key.name,
        "venue_symbol": first.request.instrument.symbol, "side": "buy", "quantity": held, "unknown_orders": [],
        "unknown_quantity": D(0)}]
    assert_book_of_record_is_clean(venue, result, events)


def test_unknown_outcome_is_settled_by_lookup_and_never_resent(tmp_path):
    venue = ScriptedVenue(behaviours={KEYS[1].name: Behaviour(lose_reply=True)})
    result, events = run(tmp_path, venue)
    assert result.all_filled
    assert venue.place_calls.count("gps-test-exec-L2-1") == 1
    assert any(e["event"] == "order_unknown" for e in events)
    assert_book_of_record_is_clean(venue, result, events)


def test_an_authentication_error_on_place_is_looked_up_never_taken_as_rejected(tmp_path):
    """A 401/403 may come from something in front of the venue after it took the order."""
    venue = ScriptedVenue(paper=False, behaviours={KEYS[1].name: Behaviour(auth_error_after=True)})
    result, events = run(tmp_path, venue)
    assert result.all_filled and result.unwinds == []
    assert venue.orders["gps-test-exec-L2-1"].status is VenueOrderStatus.FILLED
    assert venue.place_calls.count("gps-test-exec-L2-1") == 1
    assert not any(e["event"] == "order_rejected" for e in events)
    assert_book_of_record_is_clean(venue, result, events)


def test_lost_before_accept_on_paper_becomes_rejected_after_lookups(tmp_path):
    venue = ScriptedVenue(behaviours={KEYS[0].name: Behaviour(lost_before_accept=True)})
    result, events = run(tmp_path, venue)
    assert result.legs[0].state is OrderState.REJECTED
    assert venue.place_calls.count("gps-test-exec-L1-1") == 1, "an unknown outcome is never resent"
    assert_book_of_record_is_clean(venue, result, events)


def test_lost_before_accept_on_a_live_venue_stays_unknown(tmp_path):
    venue = ScriptedVenue(paper=False, behaviours={KEYS[0].name: Behaviour(lost_before_accept=True)})
    result, events = run(tmp_path, venue)
    assert result.legs[0].state is OrderState.UNKNOWN
    assert [o.client_order_id for o in result.unsettled] == ["gps-test-exec-L1-1"]


def test_rate_limit_is_ridden_out_with_one_order(tmp_path):
    venue = ScriptedVenue(behaviours={KEYS[0].name: Behaviour(rate_limits=2)})
    result, events = run(tmp_path, venue)
    assert result.all_filled
    assert venue.place_calls.count("gps-test-exec-L1-1") == 3 and len(venue.orders) == 3
    assert sum(e["event"] == "order_not_placed" for e in events) == 2


def test_rate_limit_storm_gives_up_without_placing(tmp_path):
    venue = ScriptedVenue(behaviours={KEYS[0].name: Behaviour(rate_limits=99)})
    result, events = run(tmp_path, venue)
    assert result.legs[0].state is OrderState.REJECTED and "not placed" in result.legs[0].reason
    assert "gps-test-exec-L1-1" not in venue.orders


def test_cancel_that_loses_the_race_reports_filled(tmp_path):
    venue = ScriptedVenue(behaviours={k.name: Behaviour(fill_fraction=D(0), fill_on_cancel=True) for k in KEYS[:1]})
    result, events = run(tmp_path, venue)
    assert result.legs[0].state is OrderState.FILLED, "a filled order is never reported cancelled"
    assert result.all_filled


def test_resting_order_filled_while_monitoring(tmp_path):
    venue = ScriptedVenue(behaviours={KEYS[2].name: Behaviour(fill_fraction=D(0), fill_after_polls=3)})
    result, events = run(tmp_path, venue, timeout=5)
    assert result.all_filled and venue.cancel_calls == []


def test_sequential_stops_at_the_first_failed_leg(tmp_path):
    venue = ScriptedVenue(behaviours={KEYS[1].name: Behaviour(reject=True)})
    result, events = run(tmp_path, venue, sequential=True)
    assert [o.state for o in result.legs] == [OrderState.FILLED, OrderState.REJECTED, OrderState.DENIED]
    assert "gps-test-exec-L3-1" not in venue.place_calls
    assert [u.request.client_order_id for u in result.unwinds] == ["gps-test-exec-U1-1"]


def test_ctrl_c_while_monitoring_cancels_working_orders(tmp_path):
    venue = ScriptedVenue(behaviours={k.name: Behaviour(fill_fraction=D(0)) for k in KEYS})
    journal = Journal(tmp_path, "test-exec")
    calls = {"n": 0}

    def sleep(seconds):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt

    result = Engine({venue.name: venue}, journal, ExecutionOptions(**FAST), sleep=sleep).execute(make_plan(venue))
    journal.close()
    events = read_events(journal.path)
    assert result.interrupted and venue.working() == []
    assert [o.state for o in result.legs] == [OrderState.CANCELLED] * 3
    assert any(e["event"] == "interrupted" for e in events)


def test_journal_has_intent_before_any_outcome(tmp_path):
    venue = ScriptedVenue()
    result, events = run(tmp_path, venue)
    for order in result.legs:
        cid = order.client_order_id
        kinds = [e["event"] for e in events if e.get("client_order_id") == cid or e.get("order", {}).get("client_order_id") == cid]
        assert kinds[0] == "order_intent"


def test_authentication_refusal_on_place_is_a_definitive_reject(tmp_path):
    from gps_core.errors import AuthenticationError

    class Expired(ScriptedVenue):
        def place(self, request):
            self.place_calls.append(request.client_order_id)
            raise AuthenticationError("signing key expired: register a new one")

    venue = Expired()
    result, events = run(tmp_path, venue)
    assert [o.state for o in result.legs] == [OrderState.REJECTED] * 3
    assert len(venue.place_calls) == 3, "refused orders are not retried"


class _FailingJournal(Journal):
    """A journal whose disk fills up after ``good`` writes: every later write raises ENOSPC."""

    def __init__(self, home, execution_id, good: int):
        super().__init__(home, execution_id)
        self.good = good

    def write(self, event, *, sync=True, **data):
        if self.good <= 0:
            raise OSError(28, "No space left on device")
        self.good -= 1
        super().write(event, sync=sync, **data)


def test_a_journal_that_fills_up_after_the_first_send_still_cancels_and_unwinds(tmp_path):
    venue = ScriptedVenue(behaviours={KEYS[1].name: Behaviour(fill_fraction=D(0))})
    journal = _FailingJournal(tmp_path, "test-exec", good=3)  # the three intents, nothing after
    result = Engine({venue.name: venue}, journal, ExecutionOptions(**FAST), sleep=lambda s: None).execute(
        make_plan(venue))
    journal.close()
    assert venue.working() == [] and result.legs[1].state is OrderState.CANCELLED
    assert {u.client_order_id for u in result.unwinds} == {"gps-test-exec-U1-1", "gps-test-exec-U3-1"}
    assert all(u.state is OrderState.FILLED for u in result.unwinds)
    assert result.journal_failures and not result.complete
    assert any(f.startswith("cancel_requested gps-test-exec-L2-1") for f in result.journal_failures)


def test_a_progress_output_that_raises_never_stops_the_execution(tmp_path):
    venue = ScriptedVenue(behaviours={KEYS[1].name: Behaviour(fill_fraction=D(0))})
    journal = Journal(tmp_path, "test-exec")

    def broken_pipe(message):
        raise BrokenPipeError(32, "Broken pipe")

    result = Engine({venue.name: venue}, journal, ExecutionOptions(**FAST), progress=broken_pipe,
                    sleep=lambda s: None).execute(make_plan(venue))
    journal.close()
    assert venue.working() == [] and not result.interrupted
    assert all(u.state is OrderState.FILLED for u in result.unwinds) and len(result.unwinds) == 2


def test_a_bug_after_the_first_send_takes_the_stop_path(tmp_path):
    venue = ScriptedVenue(behaviours={k.name: Behaviour(fill_fraction=D(0)) for k in KEYS})
    journal = Journal(tmp_path, "test-exec")
    engine = Engine({venue.name: venue}, journal, ExecutionOptions(**FAST), sleep=lambda s: None)
    original = engine._monitor

    def buggy(*args, **kwargs):
        engine._monitor = original
        raise ZeroDivisionError("a bug")

    engine._monitor = buggy
    result = engine.execute(make_plan(venue))
    journal.close()
    assert result.interrupted and result.stop_reason == "error: ZeroDivisionError: a bug"
    assert venue.working() == [] and [o.state for o in result.legs] == [OrderState.CANCELLED] * 3


def test_a_cancel_never_confirmed_leaves_the_order_unknown_not_pending(tmp_path):
    from gps_core.errors import NetworkError

    venue = ScriptedVenue(behaviours={KEYS[1].name: Behaviour(fill_fraction=D(0))})
    real_status = venue.order_status

    def status(request):
        if request.client_order_id.endswith("-L2-1") and venue.cancel_calls:
            raise NetworkError("read timed out")
        return real_status(request)

    def cancel(request):  # the venue filled it first; the cancel finds it not open
        venue.cancel_calls.append(request.client_order_id)
        stored = venue.orders[request.client_order_id]
        stored.filled, stored.status = request.quantity, VenueOrderStatus.FILLED
        raise OrderNotOpen("not open")

    venue.order_status, venue.cancel = status, cancel
    result, events = run(tmp_path, venue, settle_timeout=0.2)
    leg = result.legs[1]
    assert leg.state is OrderState.UNKNOWN and "may be working or filled" in leg.reason
    assert leg in result.unsettled and not result.complete
    assert any(e["event"] == "cancel_unconfirmed" for e in events)
    (row,) = [r for r in result.residuals if r["unknown_orders"]]
    assert row["unknown_orders"] == [leg.client_order_id] and row["unknown_quantity"] == leg.request.quantity
    from gps_core.render import report_text
    from gps_core.report import result_to_json

    text = report_text(result_to_json(result, "paper"))
    assert "POSSIBLY STILL WORKING OR FILLED" in text and "POSSIBLY NOT FLAT" in text
    assert "UNKNOWN" in text and "were cancelled" not in text


def test_resume_settles_watches_cancels_and_unwinds(tmp_path):
    """Engine.resume finishes an execution another process started (as gps recover does)."""
    from gps_core.engine import ExecutionResult
    from gps_core.orders import TrackedOrder

    venue = ScriptedVenue(behaviours={KEYS[1].name: Behaviour(fill_fraction=D(0))})
    plan = make_plan(venue)
    first = Engine({venue.name: venue}, Journal(tmp_path, "test-exec"), ExecutionOptions(**FAST),
                   sleep=lambda s: None)
    legs = [first._new_leg_order(p) for p in plan.legs]
    for order in legs[:2]:  # legs 1 and 2 were sent by a process that died; leg 3 never was
        first._journal_intent(order)
        venue.place(order.request)
    legs[0].transition(OrderState.UNKNOWN)
    journal = Journal(tmp_path, "test-exec")
    result = Engine({venue.name: venue}, journal, ExecutionOptions(**FAST), sleep=lambda s: None).resume(
        ExecutionResult("test-exec", plan, legs), timeout=0)
    journal.close()
    assert [o.state for o in result.legs] == [OrderState.FILLED, OrderState.CANCELLED, OrderState.DENIED]
    assert venue.working() == [] and [u.client_order_id for u in result.unwinds] == ["gps-test-exec-U1-1"]
    assert result.unwinds[0].state is OrderState.FILLED and result.residuals == []
    assert result.finished_at is not None and not result.complete
    assert venue.place_calls.count("gps-test-exec-L1-1") == 1


def test_resume_watches_working_orders_until_its_timeout(tmp_path):
    """resume(timeout > 0): a leg that fills while watched completes the strategy; nothing is cancelled."""
    from gps_core.engine import ExecutionResult

    venue = ScriptedVenue(behaviours={KEYS[2].name: Behaviour(fill_fraction=D(0), fill_after_polls=3)})
    plan = make_plan(venue)
    first = Engine({venue.name: venue}, Journal(tmp_path, "test-exec"), ExecutionOptions(**FAST),
                   sleep=lambda s: None)
    legs = [first._new_leg_order(p) for p in plan.legs]
    for order in legs:
        first._journal_intent(order)
        first._apply(order, venue.place(order.request))
    assert legs[2].state is OrderState.ACCEPTED
    journal = Journal(tmp_path, "test-exec")
    result = Engine({venue.name: venue}, journal, ExecutionOptions(**FAST), sleep=lambda s: None).resume(
        ExecutionResult("test-exec", plan, legs), timeout=5)
    journal.close()
    assert result.all_filled and result.complete and venue.cancel_calls == [] and result.unwinds == []


def test_progress_names_orders_of_unknown_state_as_such_and_says_each_step_once(tmp_path):
    """An order of unknown state is 'settled', not 'cancelled as working'; resuming says it once."""
    venue = ScriptedVenue(paper=False, behaviours={KEYS[0].name: Behaviour(lost_before_accept=True)})
    said = []
    journal = Journal(tmp_path, "test-exec")
    engine = Engine({venue.name: venue}, journal, ExecutionOptions(**FAST), sleep=lambda s: None, progress=said.append)
    result = engine.execute(make_plan(venue, ("buy",)))
    assert result.legs[0].state is OrderState.UNKNOWN and venue.orders == {}
    assert said.count("settling 1 order of unknown state") == 1, said
    assert not [m for m in said if m.startswith("cancelling")], said
    again = []
    Engine({venue.name: venue}, journal, ExecutionOptions(**FAST), sleep=lambda s: None,
           progress=again.append).resume(result, 0)
    journal.close()
    assert again.count("settling 1 order of unknown state") == 1, again
    assert not [m for m in again if m.startswith("cancelling")], again


def test_a_leg_found_filled_after_the_unwind_is_unwound_too_never_reported_complete(tmp_path):
    """Leg 2's reply is lost and its lookups fail until leg 1 was unwound; then it reads filled."""
    venue = ScriptedVenue(behaviours={KEYS[1].name: Behaviour(lose_reply=True, lookups_fail_until_unwind=True)})
    result, events = run(tmp_path, venue, sides=("buy", "sell"))
    net = {}
    for stored in venue.orders.values():  # the venue's book of record: net filled per instrument
        r = stored.request
        net[r.instrument.symbol] = net.get(r.instrument.symbol, D(0)) + r.side.sign * stored.filled
    assert [o.state for o in result.legs] == [OrderState.FILLED, OrderState.FILLED]
    assert all(q == 0 for q in net.values()), net
    assert {u.client_order_id for u in result.unwinds if u.filled > 0} == {"gps-test-exec-U1-1", "gps-test-exec-U2-1"}
    assert not result.all_filled and not result.complete and result.residuals == []
    assert_book_of_record_is_clean(venue, result, events)


def test_a_retry_line_names_the_venue_once(tmp_path):
    venue = ScriptedVenue(behaviours={KEYS[0].name: Behaviour(rate_limits=1)})
    said: list[str] = []
    journal = Journal(tmp_path, "test-exec")
    Engine({venue.name: venue}, journal, ExecutionOptions(**FAST), progress=said.append,
           sleep=lambda s: None).execute(make_plan(venue))
    journal.close()
    retry = [line for line in said if "retrying" in line]
    assert retry and all(line.startswith("scripted: private/buy: HTTP 429") for line in retry), said
