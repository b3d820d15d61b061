"""What Aevo's answers to POST /orders mean: only known refusals are definitive, everything else is looked up.

Also: post-only with IOC is refused before anything is sent. Every order goes through the
plugin's real HTTP code to the fake Aevo on 127.0.0.1; the fake's book of record is checked.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from gps_core.engine import Engine, ExecutionOptions
from gps_core.errors import (
    AuthenticationError,
    InvalidOrder,
    OrderNotFound,
    OrderRejected,
    OutcomeUnknown,
    RateLimited,
    VenueError,
    VenueUnavailable,
)
from gps_core.journal import Journal, read_events
from gps_core.model import TimeInForce, VenueOrderStatus
from gps_core.orders import OrderState, TrackedOrder
from gps_core.plugins import PluginHost
from gps_venue_aevo import AevoVenue, signing
from gps_venue_aevo.errors import ERROR_TABLE, error_for, placement_outcome

README = Path(__file__).resolve().parents[1] / "README.md"
UNLISTED = "ORDER_SOMETHING_NEW"  # a code gps does not know (Aevo's list is not complete)
EXPECTED_CLASS = {"definitive": (OrderRejected, AuthenticationError), "rate-limit": (RateLimited,),
                  "not placed": (VenueUnavailable,), "unknown": (OutcomeUnknown,)}


@pytest.mark.parametrize("code", sorted(ERROR_TABLE))
def test_every_code_in_the_table_has_one_placement_outcome(code):
    outcome = placement_outcome(code)
    error = error_for(400, {"error": code}, {}, what="POST /orders", placing=True)
    assert isinstance(error, EXPECTED_CLASS[outcome]), (code, outcome, type(error))
    if outcome != "unknown":
        assert not isinstance(error, OutcomeUnknown)
    if outcome == "definitive":
        assert error.code == code


def test_only_refusal_classes_are_definitive():
    definitive = {c for c in ERROR_TABLE if placement_outcome(c) == "definitive"}
    assert definitive == {c for c, (cls, _) in ERROR_TABLE.items() if issubclass(cls, (OrderRejected, AuthenticationError))}
    # Lookup / cancel codes and pending states never settle a placement.
    for code in ("ORDER_DOES_NOT_EXIST", "ORDER_EXISTS", "ORDER_EXISTS_MATCHED", "ORDER_CANCELLED",
                 "ORDER_CREATE_PENDING", "INTERNAL_ERROR"):
        assert placement_outcome(code) == "unknown"


@pytest.mark.parametrize("status", [400, 404, 409, 422])
def test_an_unlisted_code_on_post_orders_is_unknown_never_rejected(status):
    error = error_for(status, {"error": UNLISTED}, {}, what="POST /orders", placing=True)
    assert isinstance(error, OutcomeUnknown) and not isinstance(error, OrderRejected)
    assert error.code == UNLISTED and "looked up" in error.message
    # For a lookup or a cancel the same answer is a plain venue error, not an order verdict.
    other = error_for(status, {"error": UNLISTED}, {}, what="GET /orders/0x1", placing=False)
    assert type(other) is VenueError


@pytest.mark.parametrize("status", [400, 401, 403])
@pytest.mark.parametrize("body", [None, {"error": UNLISTED}, {"message": "Forbidden"}])
def test_a_4xx_without_a_documented_code_on_post_orders_is_unknown_even_401_403(status, body):
    """A proxy's or an edge's 401/403 may come after Aevo took the order: never a verdict."""
    error = error_for(status, body, {}, what="POST /orders", placing=True)
    assert isinstance(error, OutcomeUnknown) and not isinstance(error, (OrderRejected, AuthenticationError))


def test_documented_auth_codes_on_post_orders_are_definitive_and_401_elsewhere_is_authentication():
    for status in (401, 403):
        assert isinstance(error_for(status, {"error": "INVALID_SIGNATURE"}, {}, what="POST /orders", placing=True),
                          AuthenticationError)
        assert isinstance(error_for(status, None, {}, what="GET /account", placing=False), AuthenticationError)
        assert isinstance(error_for(status, {"error": UNLISTED}, {}, what="GET /account", placing=False),
                          AuthenticationError)


def test_readme_table_matches_the_code():
    rows = {}
    for line in README.read_text().splitlines():
        found = re.match(r"^\| `([A-Z_]+)` \| .* \| (definitive|unknown|rate-limit|not placed) \| `(\w+)` \|$", line)
        if found:
            rows[found.group(1)] = (found.group(2), found.group(3))
    assert rows == {code: (placement_outcome(code), cls.__name__) for code, (cls, _) in ERROR_TABLE.items()}


def test_unlisted_refusal_after_aevo_took_the_order_is_settled_by_lookup(aevo_backend, fake_aevo, new_order, sent):
    fake_aevo.inject("error_after", status=400, code=UNLISTED)
    order = new_order()
    with pytest.raises(OutcomeUnknown) as caught:
        aevo_backend.place(order)
    assert not isinstance(caught.value, OrderRejected)
    snap = aevo_backend.status(sent(order))
    assert snap.status is VenueOrderStatus.FILLED and snap.venue_order_id == sent(order).venue_order_id
    assert [o["order_id"] for o in fake_aevo.orders_for(sent(order).venue_data["salt"])] == [sent(order).venue_order_id]
    assert len(fake_aevo.orders_received) == 1


def test_unlisted_refusal_when_nothing_was_placed_is_unknown_then_not_found(aevo_backend, fake_aevo, new_order, sent):
    fake_aevo.inject("reject", code=UNLISTED)
    order = new_order()
    with pytest.raises(OutcomeUnknown):
        aevo_backend.place(order)
    with pytest.raises(OrderNotFound):
        aevo_backend.status(sent(order))
    assert fake_aevo.orders == {}


def test_execute_after_an_unlisted_refusal_reports_the_fill_and_places_once(fake_aevo, aevo_env, tmp_path):
    cli = pytest.importorskip("gps_core.cli")
    from click.testing import CliRunner

    env = dict(aevo_env, AEVO_BASE_URL=fake_aevo.url, GPS_HOME=str(tmp_path / "home"), GPS_LOAD_PLUGINS="aevo")
    fake_aevo.inject("error_after", status=400, code=UNLISTED)
    calls = fake_aevo.option_names("BTC", call=True)
    result = CliRunner().invoke(cli.cli, ["execute", "--venue", "aevo", "--yes", "--json", "--quiet", "--timeout",
                                          "10", "--leg", f"buy 0.1 {calls[5]}", "--leg", f"sell 0.1 {calls[7]}"],
                                env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["all_filled"] is True
    for leg in report["legs"]:
        accepted = fake_aevo.orders_for(signing.salt_for(leg["client_order_id"]))
        assert len(accepted) == 1 and accepted[0]["order_status"] == "filled"
    assert len(fake_aevo.orders_received) == 2 and len(fake_aevo.orders) == 2


@pytest.mark.parametrize("status,code", [(403, "ACCESS_DENIED_BY_EDGE"), (401, None), (403, None)])
def test_execute_after_a_403_from_an_edge_finds_the_filled_leg_and_unwinds_nothing(
        fake_aevo, aevo_env, tmp_path, status, code):
    """Aevo takes leg 1, then something in front of it answers 401/403 (an unlisted code, or no
    Aevo body): the leg is looked up and found filled; nothing is reported rejected or unwound."""
    cli = pytest.importorskip("gps_core.cli")
    from click.testing import CliRunner

    env = dict(aevo_env, AEVO_BASE_URL=fake_aevo.url, GPS_HOME=str(tmp_path / "home"), GPS_LOAD_PLUGINS="aevo")
    fake_aevo.inject("error_after", status=status, code=code)
    calls = fake_aevo.option_names("BTC", call=True)
    result = CliRunner().invoke(cli.cli, ["execute", "--venue", "aevo", "--yes", "--json", "--quiet", "--timeout",
                                          "10", "--leg", f"buy 0.1 {calls[5]}", "--leg", f"sell 0.1 {calls[7]}"],
                                env=env, catch_exceptions=False)
    report = json.loads(result.stdout)
    assert result.exit_code == 0 and report["all_filled"] and report["unwinds"] == [], result.output
    for leg in report["legs"]:  # the book of record: each leg once, filled; no unwind order
        accepted = fake_aevo.orders_for(signing.salt_for(leg["client_order_id"]))
        assert len(accepted) == 1 and accepted[0]["order_status"] == "filled"
    assert len(fake_aevo.orders_received) == 2 and len(fake_aevo.orders) == 2


def test_a_documented_auth_refusal_is_rejected_with_its_help_and_nothing_exists(aevo_backend, fake_aevo, new_order,
                                                                               tmp_path):
    host = PluginHost(environ={})
    host.register(AevoVenue(aevo_backend), "aevo")
    journal = Journal(tmp_path, "auth-refused")
    engine = Engine({"aevo": host.venue("aevo")}, journal, ExecutionOptions(unknown_grace=0.2), sleep=lambda s: None)
    fake_aevo.inject("reject", code="ORDER_INVALID_SIGNATURE", status=401)
    tracked = TrackedOrder(request=new_order(), leg_index=0)
    engine._submit(tracked)
    journal.close()
    assert tracked.state is OrderState.REJECTED and "signature" in tracked.reason
    assert fake_aevo.orders == {}


# --- post-only with IOC -------------------------------------------------------------------


def _posts(fake) -> int:
    return sum(1 for method, path in fake.requests if (method, path) == ("POST", "/orders"))


def test_post_only_ioc_is_refused_before_sending(aevo_backend, fake_aevo, new_order, sent):
    name = fake_aevo.option_names("BTC", call=True)[4]
    bid = fake_aevo.market(name).bids[0][0]
    order = new_order(name=name, price=str(bid), post_only=True, time_in_force=TimeInForce.IOC)
    with pytest.raises(InvalidOrder, match="post-only cannot be combined with IOC") as caught:
        aevo_backend.place(order)
    assert "\n" not in str(caught.value)
    assert sent(order).venue_order_id is None and sent(order).venue_data == {}  # never signed, never recorded
    assert fake_aevo.orders_received == [] and _posts(fake_aevo) == 0 and fake_aevo.orders == {}
    # Each alone is still sent.
    assert aevo_backend.place(new_order(name=name, price=str(bid), post_only=True, cid="gps-test-L2-1")).is_working
    assert _posts(fake_aevo) == 1


def test_engine_treats_post_only_ioc_as_definitive_and_sends_nothing(aevo_backend, fake_aevo, new_order, tmp_path):
    host = PluginHost(environ={})
    host.register(AevoVenue(aevo_backend), "aevo")
    journal = Journal(tmp_path, "post-only-ioc")
    engine = Engine({"aevo": host.venue("aevo")}, journal, ExecutionOptions(unknown_grace=0.2), sleep=lambda s: None)
    tracked = TrackedOrder(request=new_order(post_only=True, time_in_force=TimeInForce.IOC), leg_index=0)
    engine._submit(tracked)
    journal.close()
    assert tracked.state is OrderState.REJECTED and "post-only cannot be combined with IOC" in tracked.reason
    events = [e["event"] for e in read_events(journal.path)]
    assert "order_rejected" in events and "order_unknown" not in events
    assert fake_aevo.orders_received == [] and _posts(fake_aevo) == 0


def test_an_error_field_that_is_not_a_code_is_never_echoed():
    leaked = "INVALID_SECRET_canaryapisecret-6e2b58f4c1"
    for placing in (True, False):
        error = error_for(400, {"error": leaked}, {}, what="POST /orders", placing=placing)
        assert "canary" not in str(error) and "canary" not in str(error.code)
    assert isinstance(error_for(400, {"error": leaked}, {}, what="POST /orders", placing=True), OutcomeUnknown)


def test_an_order_left_unknown_by_an_unlisted_code_shows_the_code_and_is_settled_once(aevo_backend, fake_aevo,
                                                                                      tmp_path):
    """Aevo answers an unlisted code and never takes the order: it stays of unknown state (Aevo
    orders have no valid_until). The text report names the venue's code; the progress says
    'settling', once, never 'cancelling ... working' for an order that is not known to work."""
    from decimal import Decimal

    from gps_core.instruments import OptionKey
    from gps_core.model import Side
    from gps_core.render import report_text
    from gps_core.report import result_to_json
    from gps_core.routing import Quote, plan_strategy
    from gps_core.strategy import Leg, Strategy

    host = PluginHost(environ={})
    host.register(AevoVenue(aevo_backend), "aevo")
    venue = host.venue("aevo")
    key = OptionKey.parse(fake_aevo.option_names("BTC", call=True)[4])
    instrument = aevo_backend.find(key)
    plan = plan_strategy(Strategy(legs=(Leg(Side.BUY, Decimal("0.1"), key),)),
                         {0: [Quote("aevo", instrument, venue.order_book(instrument, 10))]})
    fake_aevo.inject("reject", code=UNLISTED, status=400)
    said = []
    journal = Journal(tmp_path, "unknown-code")
    options = ExecutionOptions(timeout=1, unknown_grace=0.2, settle_timeout=0.5)
    result = Engine({"aevo": venue}, journal, options, progress=said.append).execute(plan)
    journal.close()

    assert fake_aevo.orders == {}  # the book of record: Aevo never took it
    (leg,) = result.legs
    assert leg.state is OrderState.UNKNOWN
    text = report_text(result_to_json(result, "live"))
    (line,) = [x for x in text.splitlines() if x.startswith("leg 1 unknown:")]
    assert UNLISTED in line, line
    assert said.count("settling 1 order of unknown state") == 1, said
    assert not [m for m in said if m.startswith("cancelling")], said
