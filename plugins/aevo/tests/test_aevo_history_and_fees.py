"""Order-history lookups that page through the whole window, and the fees Aevo charged.

The plugin's real HTTP code talks to the fake Aevo on 127.0.0.1, which pages its history
like Aevo does (at most 50 rows, newest first, ``offset``, ``count``) and records a fee on
every fill (``GET /trade-history``). Assertions are made at the fake's book of record.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

from gps_core.errors import OutcomeUnknown, VenueError
from gps_core.model import VenueOrderStatus
from gps_core.money import Money
from gps_venue_aevo import history, signing
from gps_venue_aevo.testing.fake_server import FEE_CAP, HISTORY_MAX_AGE_NS, TAKER_FEE

NS = 10**9


def _window(service, order=None):
    return history.window(order.venue_data.get("timestamp") if order else None, service.clock())


def _offsets(fake, path: str) -> list[int]:
    return [int(q.get("offset", 0)) for p, q in fake.queries if p == path]


def _charged(fake, order_id: str) -> Decimal:
    return sum((Decimal(t["fees"]) for t in fake.trades if t["order_id"] == order_id), Decimal(0))


# --- the fake pages like Aevo ----------------------------------------------------------------


def test_fake_history_pages_like_aevo(aevo_backend, fake_aevo, aevo_env):
    fake_aevo.seed_orders(aevo_env["AEVO_API_KEY"], 120)
    client = aevo_backend.transport
    start, end = _window(aevo_backend)
    default = client.request("GET", "/order-history", params={"start_time": start, "end_time": end}, private=True)
    assert default["count"] == "120" and len(default["order_history"]) == 10  # default limit
    first = client.order_history(start, end, limit=500)  # above the maximum: 50
    assert len(first["order_history"]) == 50
    last = client.order_history(start, end, offset=100)
    assert len(last["order_history"]) == 20
    stamps = [int(o["created_timestamp"]) for o in first["order_history"]]
    assert stamps == sorted(stamps, reverse=True)  # newest first
    with pytest.raises(VenueError) as old:
        client.order_history(time.time_ns() - HISTORY_MAX_AGE_NS - 3600 * NS, end)
    assert old.value.code == "START_TIME_LESS_THAN_30_DAYS"
    with pytest.raises(VenueError) as negative:
        client.order_history(start, end, offset=-1)
    assert negative.value.code == "INVALID_OFFSET_NUMBER"


def test_window_never_starts_more_than_30_days_back():
    now = 1_800_000_000
    assert history.window(now - 40 * 86400, now) == (now * NS - history.MAX_AGE_NS, now * NS + 60 * NS)
    assert history.window(now - 10, now) == ((now - 70) * NS, (now + 60) * NS)
    assert history.window(None, now)[0] == (now - 86400) * NS


# --- item: a lost reply found on a later page -------------------------------------------------


def test_lost_order_is_found_on_a_later_history_page(aevo_backend, fake_aevo, aevo_env, new_order, sent):
    fake_aevo.forget_closed = True  # GET /orders/{id} no longer serves closed orders
    fake_aevo.seed_orders(aevo_env["AEVO_API_KEY"], 55)  # older orders in the window
    fake_aevo.inject("drop_after", seed=55)  # the reply is lost; 55 newer orders follow
    order = new_order()
    with pytest.raises(OutcomeUnknown):
        aevo_backend.place(order)
    start, end = _window(aevo_backend, sent(order))
    first_page = aevo_backend.transport.order_history(start, end)["order_history"]
    assert sent(order).venue_order_id not in {o["order_id"] for o in first_page}  # not on page one
    fake_aevo.queries.clear()
    snap = aevo_backend.status(sent(order))
    assert snap.status is VenueOrderStatus.FILLED and snap.venue_order_id == sent(order).venue_order_id
    assert _offsets(fake_aevo, "/order-history")[:2] == [0, 50]
    assert len(fake_aevo.orders_for(sent(order).venue_data["salt"])) == 1 and len(fake_aevo.orders_received) == 1


def test_an_absent_order_is_not_found_only_after_the_last_page(aevo_backend, fake_aevo, aevo_env, new_order, sent):
    from gps_core.errors import OrderNotFound

    fake_aevo.seed_orders(aevo_env["AEVO_API_KEY"], 120)
    fake_aevo.inject("drop_before")
    order = new_order()
    with pytest.raises(OutcomeUnknown):
        aevo_backend.place(order)
    fake_aevo.queries.clear()
    with pytest.raises(OrderNotFound):
        aevo_backend.status(sent(order))
    assert _offsets(fake_aevo, "/order-history") == [0, 50, 100]


def test_a_history_that_ignores_offset_is_not_settled(aevo_backend, fake_aevo, aevo_env, new_order, monkeypatch, sent):
    fake_aevo.forget_closed = True
    order = new_order()
    aevo_backend.place(order)
    fake_aevo.seed_orders(aevo_env["AEVO_API_KEY"], 60)  # newer: the order is on page two
    real = fake_aevo.get_order_history  # a server that ignores offset serves page one again
    monkeypatch.setattr(fake_aevo, "get_order_history", lambda account, query: real(account, {**query, "offset": "0"}))
    with pytest.raises(OutcomeUnknown):  # never "not found" when the search could not finish
        aevo_backend.status(sent(order))


def test_execute_settles_a_lost_reply_from_a_later_history_page(fake_aevo, aevo_env, tmp_path):
    cli = pytest.importorskip("gps_core.cli")
    from click.testing import CliRunner

    env = dict(aevo_env, AEVO_BASE_URL=fake_aevo.url, GPS_HOME=str(tmp_path / "home"), GPS_LOAD_PLUGINS="aevo")
    fake_aevo.forget_closed = True
    fake_aevo.inject("drop_after", seed=60)
    calls = fake_aevo.option_names("BTC", call=True)
    result = CliRunner().invoke(cli.cli, ["execute", "--venue", "aevo", "--yes", "--json", "--quiet", "--timeout",
                                          "10", "--leg", f"buy 0.1 {calls[5]}", "--leg", f"sell 0.1 {calls[7]}"],
                                env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["all_filled"] is True and report["unsettled"] == []
    for leg in report["legs"]:
        accepted = fake_aevo.orders_for(signing.salt_for(leg["client_order_id"]))
        assert len(accepted) == 1 and accepted[0]["order_status"] == "filled"
    assert len(fake_aevo.orders_received) == 2
    assert 50 in _offsets(fake_aevo, "/order-history")


def test_recover_finds_a_crashed_order_on_a_later_history_page(fake_aevo, aevo_env, tmp_path):
    """SIGKILL right after Aevo took leg 1 (reply not journaled); 60 newer orders follow; recover settles it."""
    gps = Path(sys.executable).with_name("gps")
    env = {**os.environ, **aevo_env, "AEVO_BASE_URL": fake_aevo.url, "GPS_HOME": str(tmp_path / "home"),
           "GPS_LOAD_PLUGINS": "aevo"}
    env.pop("AEVO_TESTNET", None)
    fake_aevo.forget_closed = True
    fake_aevo.inject("latency", seconds=0, seed=60)  # the first order placed is followed by 60 newer ones
    calls = fake_aevo.option_names("BTC", call=True)
    crashed = subprocess.run([str(gps), "execute", "--venue", "aevo", "--yes", "--json", "--sequential",
                              "--timeout", "10", "--leg", f"buy 0.1 {calls[5]}", "--leg", f"sell 0.1 {calls[7]}"],
                             env={**env, "GPS_CRASH_AT": "after_send@L1"}, capture_output=True, text=True, timeout=120)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    assert len(fake_aevo.orders_received) == 1
    (placed,) = [o for o in fake_aevo.orders.values() if not o["_salt"].startswith("seed-")]
    fake_aevo.queries.clear()
    done = subprocess.run([str(gps), "recover", "--json", "--settle-after", "0"], env=env, capture_output=True,
                          text=True, timeout=120)
    report = json.loads(done.stdout)
    (row,) = [r for r in report["orders"] if r["client_order_id"].endswith("-L1-1")]
    assert (row["after"], row["filled"], row["live"]) == ("filled", "0.1", False), row
    assert signing.salt_for(row["client_order_id"]) == int(placed["_salt"])
    assert 50 in _offsets(fake_aevo, "/order-history")  # found beyond the first page
    # Recover never sends leg 1 again; it finishes the execution by its --on-partial (unwind):
    # the one order it sends is the reduce-only sell of what leg 1 bought.
    assert len(fake_aevo.orders_received) == 2, fake_aevo.orders_received
    unwind = fake_aevo.orders_received[1]
    assert unwind["is_buy"] is False and unwind["instrument"] == fake_aevo.orders_received[0]["instrument"]
    assert report["executions"][0]["complete"] is False and report["exposures"] == [], report
    assert done.returncode == 1  # the strategy did not complete


# --- item: fees --------------------------------------------------------------------------------


def test_status_of_a_filled_order_carries_the_fees_aevo_charged(aevo_backend, fake_aevo, new_order, sent):
    name = fake_aevo.option_names("BTC", call=True)[4]
    levels = [list(level) for level in fake_aevo.market(name).asks[:2]]
    quantity = levels[0][1] + Decimal("0.2")  # takes two levels: two fills, two fee rows
    order = new_order(name=name, quantity=str(quantity), price=str(levels[1][0]))
    placed = aevo_backend.place(order)
    assert placed.status is VenueOrderStatus.FILLED
    # The placement reply has no fee and asking for one would cost a round trip: a labelled estimate.
    index = fake_aevo.index["BTC"]
    estimate = sum((min(TAKER_FEE * index, FEE_CAP * placed.average_price) * quantity,), Decimal(0))
    assert placed.fee_estimated and placed.fee == Money(estimate, "USD")
    snap = aevo_backend.status(sent(order))
    rows = [t for t in fake_aevo.trades if t["order_id"] == sent(order).venue_order_id]
    assert len(rows) == 2
    assert snap.fee == Money(_charged(fake_aevo, sent(order).venue_order_id), "USD") and not snap.fee_estimated
    assert snap.fee.amount == sum(min(TAKER_FEE * index, FEE_CAP * p) * a for p, a in levels[:1]) + \
        min(TAKER_FEE * index, FEE_CAP * levels[1][0]) * Decimal("0.2")


def test_fees_are_found_on_a_later_trade_history_page(aevo_backend, fake_aevo, aevo_env, new_order, sent):
    order = new_order()
    aevo_backend.place(order)
    fake_aevo.seed_orders(aevo_env["AEVO_API_KEY"], 70, asset="BTC")  # 70 newer fills of other orders
    fake_aevo.queries.clear()
    snap = aevo_backend.status(sent(order))
    assert snap.fee == Money(_charged(fake_aevo, sent(order).venue_order_id), "USD") and not snap.fee_estimated
    assert _offsets(fake_aevo, "/trade-history") == [0, 50]
    assert {q["asset"] for p, q in fake_aevo.queries if p == "/trade-history"} == {"BTC"}


def test_without_fee_rows_the_fee_is_a_labelled_estimate(aevo_backend, fake_aevo, new_order, sent):
    fake_aevo.trades_visible = False  # Aevo's history has not caught up
    order = new_order()
    snap = aevo_backend.status(sent(order)) if aevo_backend.place(order) else None
    assert snap.fee_estimated and snap.fee.currency == "USD" and snap.fee.amount > 0
    fake_aevo.trades_visible = True
    later = aevo_backend.status(sent(order))
    assert not later.fee_estimated and later.fee == Money(_charged(fake_aevo, sent(order).venue_order_id), "USD")


def test_a_working_order_is_never_charged_a_trade_history_call(aevo_backend, fake_aevo, new_order, sent):
    name = fake_aevo.option_names("BTC", call=True)[4]
    order = new_order(name=name, price=str(fake_aevo.market(name).bids[0][0]))
    aevo_backend.place(order)
    fake_aevo.fill(sent(order).venue_order_id, Decimal("0.05"))
    snap = aevo_backend.status(sent(order))
    assert snap.is_working and snap.filled_quantity == Decimal("0.05") and snap.fee_estimated
    assert _offsets(fake_aevo, "/trade-history") == []
    done = aevo_backend.cancel(sent(order))
    assert done.status is VenueOrderStatus.CANCELLED and not done.fee_estimated
    maker = [t for t in fake_aevo.trades if t["order_id"] == sent(order).venue_order_id]
    assert [t["liquidity"] for t in maker] == ["maker"] and done.fee == Money(Decimal(maker[0]["fees"]), "USD")


def _execute(fake, env, tmp_path, *extra):
    cli = pytest.importorskip("gps_core.cli")
    from click.testing import CliRunner

    env = dict(env, AEVO_BASE_URL=fake.url, GPS_HOME=str(tmp_path / "home"), GPS_LOAD_PLUGINS="aevo")
    calls = fake.option_names("BTC", call=True)
    return CliRunner().invoke(cli.cli, ["execute", "--venue", "aevo", "--yes", "--timeout", "10", *extra,
                                        "--leg", f"buy 0.1 {calls[5]}", "--leg", f"sell 0.1 {calls[7]}"],
                              env=env, catch_exceptions=False)


def test_execute_reports_the_fees_aevo_charged(fake_aevo, aevo_env, tmp_path):
    result = _execute(fake_aevo, aevo_env, tmp_path, "--json", "--quiet")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    total = Decimal(0)
    for leg in report["legs"]:
        order_id = fake_aevo.orders_for(signing.salt_for(leg["client_order_id"]))[0]["order_id"]
        charged = _charged(fake_aevo, order_id)
        assert charged > 0 and leg["fee_estimated"] is False
        assert leg["fee"] == {"amount": str(charged), "currency": "USD"}
        total += charged
    assert Decimal(report["totals"]["fees_usd"]) == total.quantize(Decimal("0.01"))


def test_execute_labels_an_estimated_fee(fake_aevo, aevo_env, tmp_path):
    fake_aevo.trades_visible = False
    result = _execute(fake_aevo, aevo_env, tmp_path)
    assert result.exit_code == 0, result.output
    assert "(est.)" in result.stdout and "estimated from its fee schedule" in result.stdout
    assert Decimal(result.stdout.split("(fees $")[1].split(";")[0]) > 0


# --- average fill prices when GET /orders/{id} no longer serves the order ------------------------


def _execute(fake_aevo, aevo_env, tmp_path, *args):
    from click.testing import CliRunner

    from gps_core import cli

    env = dict(aevo_env, AEVO_BASE_URL=fake_aevo.url, GPS_HOME=str(tmp_path / "home"), GPS_LOAD_PLUGINS="aevo")
    calls = fake_aevo.option_names("BTC", call=True)
    # In the money: the limit (best price + slippage) is well away from the fill price.
    return CliRunner().invoke(cli.cli, ["execute", "--venue", "aevo", "--yes", *args, "--timeout", "10",
                                        "--leg", f"buy 0.1 {calls[3]}", "--leg", f"sell 0.1 {calls[4]}"],
                              env=env, catch_exceptions=False)


def _venue_average(fake_aevo, client_order_id: str) -> Decimal:
    (order,) = fake_aevo.orders_for(signing.salt_for(client_order_id))
    assert order["order_status"] == "filled"
    return Decimal(order["avg_price"])


def test_average_prices_are_the_venues_when_closed_orders_are_only_in_order_history(fake_aevo, aevo_env, tmp_path):
    """The final status refresh reads /order-history (no avg_price): the average comes from the
    order's /trade-history fills, never the limit, and the net cost is the venue's."""
    fake_aevo.forget_closed = True
    result = _execute(fake_aevo, aevo_env, tmp_path, "--json", "--quiet")
    report = json.loads(result.stdout)
    assert result.exit_code == 0 and report["all_filled"], result.output
    gross = Decimal(0)
    for leg in report["legs"]:
        venue_average = _venue_average(fake_aevo, leg["client_order_id"])
        assert Decimal(leg["average_price"]) == venue_average != Decimal(leg["limit_price"])
        assert leg["price_estimated"] is False
        gross += (1 if leg["side"] == "buy" else -1) * venue_average * Decimal(leg["filled"])
    fees = sum((_charged(fake_aevo, fake_aevo.orders_for(signing.salt_for(leg["client_order_id"]))[0]["order_id"])
                for leg in report["legs"]), Decimal(0))
    assert Decimal(report["totals"]["net_cost_usd"]) == (gross + fees).quantize(Decimal("0.01"))


def test_a_stand_in_price_never_overwrites_the_placement_replys_average(fake_aevo, aevo_env, tmp_path):
    """Without /trade-history rows the order-history row gives only the limit: the average from
    the placement reply is kept, not replaced by that stand-in."""
    fake_aevo.forget_closed = True
    fake_aevo.trades_visible = False
    result = _execute(fake_aevo, aevo_env, tmp_path, "--json", "--quiet")
    report = json.loads(result.stdout)
    assert result.exit_code == 0 and report["all_filled"], result.output
    for leg in report["legs"]:
        assert Decimal(leg["average_price"]) == _venue_average(fake_aevo, leg["client_order_id"])
        assert leg["price_estimated"] is False


def test_a_stand_in_price_is_labelled_estimated(aevo_backend, fake_aevo, new_order, sent):
    """Only the limit is known (order history, no fills listed): the snapshot says so."""
    fake_aevo.forget_closed = True
    fake_aevo.trades_visible = False
    order = new_order()
    placed = aevo_backend.place(order)
    assert placed.average_price == _venue_average(fake_aevo, order.client_order_id) and not placed.price_estimated
    looked_up = aevo_backend.status(sent(order))
    assert looked_up.status is VenueOrderStatus.FILLED
    assert looked_up.average_price == order.limit_price and looked_up.price_estimated
    fake_aevo.trades_visible = True
    exact = aevo_backend.status(sent(order))
    assert exact.average_price == placed.average_price and not exact.price_estimated
