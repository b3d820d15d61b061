"""The fault matrix's faults against a combo execution: a call spread sent as ONE order on the
fake Deribit's combo book, with the fault aimed at that combo order.

Each drill audits the fake's book of record: at most one combo order ever (its client order id
journaled once and never resent), no order on a single-leg book except reduce-only IOC unwinds,
nothing left working, every leg flat after an unwind, and the report naming per leg what is
held (or kept). The legged matrix is ``test_reliability_matrix.py``.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from decimal import Decimal

import pytest

from gps_core.instruments import OptionKey
from reliability.audit import audit, journal_events
from reliability.conftest import GPS, process_env

QUANTITY = Decimal("0.2")


def _spread(harness) -> tuple[str, str, str]:
    """The two legs of a BTC call spread on the fake and the combo id the fake lists for it."""
    names = harness.exchange.instrument_names("BTC")
    code = sorted({n.split("-")[1] for n in names}, key=lambda c: OptionKey.parse(f"BTC-{c}-1-C").expiry)[2]
    low, high = f"BTC-{code}-100000-C", f"BTC-{code}-110000-C"
    combo = harness.exchange.create_combo({"trades": [{"instrument_name": low, "amount": "1", "direction": "buy"},
                                                      {"instrument_name": high, "amount": "1", "direction": "sell"}]})
    return low, high, combo["id"]


def _env(harness, short_http_timeouts) -> dict[str, str]:
    env = {**harness.env(), **short_http_timeouts}
    env.pop("DERIBIT_COMBOS")  # the legged drills turn combos off; these run on the combo book
    return env


def _offer_only(harness, combo: str, quantity: Decimal) -> None:
    """The combo book offers ``quantity`` at its ask and bids nothing: a larger order fills in part and rests."""
    ask = harness.exchange.combo_books[combo]["asks"][0][0]
    harness.exchange.set_combo_book(combo, bids=[], asks=[[ask, quantity]])


def _legs(low: str, high: str) -> list[str]:
    return ["--leg", f"buy {QUANTITY} {low}", "--leg", f"sell {QUANTITY} {high}"]


def _assert_book_of_record(harness, report: dict, combo: str, low: str, high: str) -> None:
    """What every combo drill must leave at the fake, whatever the fault."""
    exchange = harness.exchange
    found = audit(harness, report)
    assert found.clean, found.explain()
    intents = [e for e in journal_events(harness.home) if e["event"] == "order_intent"]
    entries = [e for e in intents if e["role"] == "combo"]
    assert len(entries) == 1 and entries[0]["order"]["instrument"]["symbol"] == combo  # one combo order, sent once
    combos = exchange.combo_orders()
    assert len(combos) <= 1 and all(exchange.order_count(o["label"]) == 1 for o in combos)
    assert all(not o["reduce_only"] for o in combos)
    # nothing on a single-leg book but reduce-only IOC unwinds, each journaled as an unwind
    unwind_ids = {e["order"]["client_order_id"] for e in intents if e["role"] == "unwind"}
    for order in exchange.single_leg_orders():
        assert order["reduce_only"] and order["time_in_force"] == "immediate_or_cancel", order
        assert order["label"] in unwind_ids, order
    assert not [o for o in exchange.orders.values() if o["order_state"] == "open"]  # nothing left working
    (row,) = report["legs"]
    assert row["role"] == "combo" and row["venue_symbol"] == combo
    held = {p["venue_symbol"]: (1 if p["side"] == "buy" else -1) * Decimal(p["quantity"])
            for p in report["kept_positions"]}
    if report["all_filled"]:
        held = {c["venue_symbol"]: (1 if c["side"] == "buy" else -1) * Decimal(c["quantity"]) for c in row["combo_legs"]}
    assert {name: exchange.position_of(name) for name in (low, high)} == {low: held.get(low, 0), high: held.get(high, 0)}
    assert report["residuals"] == []


#: fault -> (how it is aimed at the combo order, whether the strategy completes)
FAULTS = {
    "drop_before": (lambda faults, combo: faults.aim(combo, "drop_before"), False),
    "drop_after": (lambda faults, combo: faults.aim(combo, "drop_after"), True),
    "timeout": (lambda faults, combo: faults.aim(combo, "latency", seconds=1.5), True),
    "reject": (lambda faults, combo: faults.aim(combo, "reject", code=10009, message="not_enough_funds"), False),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_a_fault_on_the_combo_order(fault, make_harness, gps, short_http_timeouts):
    harness = make_harness("deribit")
    low, high, combo = _spread(harness)
    aim, completes = FAULTS[fault]
    aim(harness.exchange.faults, combo)
    run = gps(["execute", "--venue", "deribit", "--yes", "--json", "--quiet", "--timeout", "1", "--combo", "always",
               *_legs(low, high)], _env(harness, short_http_timeouts))
    assert run.code == (0 if completes else 1), run.stderr
    report = run.json()
    _assert_book_of_record(harness, report, combo, low, high)
    assert report["all_filled"] is completes and harness.exchange.single_leg_orders() == []
    (row,) = report["legs"]
    if fault in ("drop_after", "timeout"):
        # the reply never came (or came after the read timeout): gps settled the combo order by its label
        assert any(e["event"] == "order_unknown" and e["client_order_id"] == row["client_order_id"]
                   for e in journal_events(harness.home)), "the fault did not cut the reply off"
    if completes:
        (placed,) = harness.exchange.combo_orders()
        assert placed["order_state"] == "filled" and row["status"] == "filled"
    else:
        assert harness.exchange.combo_orders() == [] and row["status"] == "rejected" and row["filled"] == "0"
        assert report["unwinds"] == [] and report["kept_positions"] == []


@pytest.mark.parametrize("on_partial", ["unwind", "keep"])
def test_a_partly_filled_combo_order(on_partial, make_harness, gps, short_http_timeouts):
    """Half the combo fills, the rest rests until the timeout: cancelled; then each leg unwound
    reduce-only on its own book (flat at the fake), or kept and named per leg."""
    harness = make_harness("deribit")
    low, high, combo = _spread(harness)
    _offer_only(harness, combo, QUANTITY / 2)
    run = gps(["execute", "--venue", "deribit", "--yes", "--json", "--quiet", "--timeout", "1", "--combo", "always",
               "--on-partial", on_partial, *_legs(low, high)], _env(harness, short_http_timeouts))
    assert run.code == 1, run.stderr
    report = run.json()
    _assert_book_of_record(harness, report, combo, low, high)
    (placed,) = harness.exchange.combo_orders()
    assert placed["order_state"] == "cancelled" and placed["filled_amount"] == QUANTITY / 2
    if on_partial == "unwind":
        unwinds = {(o["instrument_name"], o["direction"], o["filled_amount"])
                   for o in harness.exchange.single_leg_orders()}
        assert unwinds == {(low, "sell", QUANTITY / 2), (high, "buy", QUANTITY / 2)}
        assert report["totals"]["unwind_realised_usd"] is not None
    else:
        assert harness.exchange.single_leg_orders() == []
        assert {(p["venue_symbol"], p["side"], p["quantity"]) for p in report["kept_positions"]} == \
            {(low, "buy", str(QUANTITY / 2)), (high, "sell", str(QUANTITY / 2))}


def test_ctrl_c_while_a_part_filled_combo_order_rests(make_harness, short_http_timeouts):
    """SIGINT while gps watches a part-filled combo order: the order is cancelled at the fake, each
    leg unwound reduce-only on its own book, exit 1, nothing working and every leg flat."""
    harness = make_harness("deribit")
    low, high, combo = _spread(harness)
    _offer_only(harness, combo, QUANTITY / 2)
    child = subprocess.Popen([str(GPS), "execute", "--venue", "deribit", "--yes", "--json", "--timeout", "60",
                              "--combo", "always", *_legs(low, high)],
                             env=process_env(_env(harness, short_http_timeouts)),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(400):  # bounded: until the combo order is acknowledged in the journal
            if any(e["event"] == "order_update" for e in journal_events(harness.home)) or child.poll() is not None:
                break
            time.sleep(0.05)
        assert child.poll() is None, child.stderr.read()
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 1, err
    report = json.loads(out)
    assert report["interrupted"] is True
    _assert_book_of_record(harness, report, combo, low, high)
    (placed,) = harness.exchange.combo_orders()
    assert placed["order_state"] == "cancelled" and placed["filled_amount"] == QUANTITY / 2
    assert {(o["instrument_name"], o["direction"]) for o in harness.exchange.single_leg_orders()} == \
        {(low, "sell"), (high, "buy")}


# --- the process dies (or is stopped twice) while a part-filled combo rests; gps recover ends it -----

def _condor(harness) -> tuple[list[tuple[str, str]], str]:
    """A long iron condor's four legs ``(side, instrument)`` on the fake (a net debit: a positive
    combo price) and the combo id the fake lists for it."""
    names = harness.exchange.instrument_names("BTC")
    code = sorted({n.split("-")[1] for n in names}, key=lambda c: OptionKey.parse(f"BTC-{c}-1-C").expiry)[2]
    legs = [("sell", f"BTC-{code}-85000-P"), ("buy", f"BTC-{code}-90000-P"),
            ("buy", f"BTC-{code}-110000-C"), ("sell", f"BTC-{code}-115000-C")]
    combo = harness.exchange.create_combo({"trades": [{"instrument_name": name, "amount": "1", "direction": side}
                                                      for side, name in legs]})
    return legs, combo["id"]


def _structure(harness, width: int) -> tuple[list[tuple[str, str]], str]:
    if width == 2:
        low, high, combo = _spread(harness)
        return [("buy", low), ("sell", high)], combo
    return _condor(harness)


def _start_resting(harness, env: dict[str, str], legs: list[tuple[str, str]]) -> subprocess.Popen:
    """``gps execute`` of ``legs`` as one combo order, returned once the (part-filled) order is acknowledged."""
    args = [arg for side, name in legs for arg in ("--leg", f"{side} {QUANTITY} {name}")]
    child = subprocess.Popen([str(GPS), "execute", "--venue", "deribit", "--yes", "--json", "--timeout", "60",
                              "--combo", "always", *args], env=process_env(env),
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for _ in range(400):  # bounded: until the combo order is acknowledged in the journal
        if any(e["event"] == "order_update" for e in journal_events(harness.home)) or child.poll() is not None:
            break
        time.sleep(0.05)
    if child.poll() is not None:
        raise AssertionError(f"gps ended before its combo order rested: {child.stderr.read()}")
    return child


def _assert_recovered_flat(harness, combo: str, legs: list[tuple[str, str]], recovered, *, killed: bool = True) -> None:
    """After ``gps recover``: the combo order cancelled at the fake after filling half, every leg flat,
    nothing working, and only reduce-only IOC unwinds (one filled per leg, none refused) on the leg books."""
    exchange = harness.exchange
    (placed,) = exchange.combo_orders()
    assert placed["order_state"] == "cancelled" and placed["filled_amount"] == QUANTITY / 2
    assert {name: exchange.position_of(name) for _, name in legs} == {name: 0 for _, name in legs}, recovered.stdout
    assert not [o for o in exchange.orders.values() if o["order_state"] == "open"]
    unwinds = exchange.single_leg_orders()
    assert all(o["reduce_only"] and o["time_in_force"] == "immediate_or_cancel" for o in unwinds), unwinds
    opposite = {"buy": "sell", "sell": "buy"}
    assert sorted((o["instrument_name"], o["direction"]) for o in unwinds) == \
        sorted((name, opposite[side]) for side, name in legs)  # one unwind per leg, none refused or re-priced
    assert all(o["filled_amount"] == QUANTITY / 2 for o in unwinds)
    events = journal_events(harness.home)
    assert not [e for e in events if e["event"] == "order_rejected"], "an unwind was refused"
    data = recovered.json()
    assert data["exposures"] == [] and data["live"] == []
    if not killed:
        return  # a process stopped by signals may have finished part of it itself
    # the combo filled half of every leg: recover counts it per leg, none in full
    (closed,) = [e for e in data["executions"] if e.get("legs")]
    assert (closed["legs_filled"], closed["legs_part_filled"], closed["legs"]) == (0, len(legs), len(legs))


@pytest.mark.parametrize("width", [2, 4])
def test_sigkill_while_a_part_filled_combo_rests_then_recover(width, make_harness, gps_process, short_http_timeouts):
    """SIGKILL gps while its part-filled combo order rests; ``gps recover --cancel-working`` cancels the
    combo and unwinds every leg reduce-only on its own book, priced by that leg's own tick: flat."""
    harness = make_harness("deribit")
    legs, combo = _structure(harness, width)
    _offer_only(harness, combo, QUANTITY / 2)
    env = _env(harness, short_http_timeouts)
    child = _start_resting(harness, env, legs)
    child.kill()
    child.communicate(timeout=30)
    recovered = gps_process(["recover", "--cancel-working", "--json"], env)
    assert recovered.code in (0, 1), recovered.stderr
    _assert_recovered_flat(harness, combo, legs, recovered)


def test_cancel_last_then_recover_a_killed_condor(make_harness, gps_process, short_http_timeouts):
    """SIGKILL, then ``gps cancel last`` (the combo order only), then ``gps recover``: every leg unwound, flat."""
    harness = make_harness("deribit")
    legs, combo = _condor(harness)
    _offer_only(harness, combo, QUANTITY / 2)
    env = _env(harness, short_http_timeouts)
    child = _start_resting(harness, env, legs)
    child.kill()
    child.communicate(timeout=30)
    cancelled = gps_process(["cancel", "last"], env)
    assert harness.exchange.combo_orders()[0]["order_state"] == "cancelled", cancelled.stdout + cancelled.stderr
    recovered = gps_process(["recover", "--cancel-working", "--json"], env)
    assert recovered.code in (0, 1), recovered.stderr
    _assert_recovered_flat(harness, combo, legs, recovered)


@pytest.mark.parametrize("width", [2, 4])
def test_two_sigterms_while_a_part_filled_combo_rests_then_recover(width, make_harness, gps_process,
                                                                    short_http_timeouts):
    """Two SIGTERMs a few ms apart while a part-filled combo order rests, then ``gps recover``:
    whatever the stopped process left, the combo ends cancelled and every leg flat at the fake."""
    harness = make_harness("deribit")
    legs, combo = _structure(harness, width)
    _offer_only(harness, combo, QUANTITY / 2)
    env = _env(harness, short_http_timeouts)
    child = _start_resting(harness, env, legs)
    child.send_signal(signal.SIGTERM)
    time.sleep(0.005)
    child.send_signal(signal.SIGTERM)
    try:
        child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    recovered = gps_process(["recover", "--cancel-working", "--json"], env)
    assert recovered.code in (0, 1), recovered.stderr
    _assert_recovered_flat(harness, combo, legs, recovered, killed=False)


# --- what the report says of a combo leg whose unwind the venue refused ----------------------------

def _run_part_filled(harness, gps, short_http_timeouts, low: str, high: str):
    run = gps(["execute", "--venue", "deribit", "--yes", "--json", "--quiet", "--timeout", "1", "--combo", "always",
               *_legs(low, high)], _env(harness, short_http_timeouts))
    assert run.code == 1, run.stderr
    return run.json()


def _unwinds_received(harness, leg: int) -> int:
    """How many unwind orders of planned leg ``leg`` (1-based) reached the fake (refused ones too)."""
    return sum(n for label, n in harness.exchange.received.items() if f"-U{leg}-" in label)


def test_a_combo_leg_the_venue_will_not_reduce_is_reported_with_its_own_position(make_harness, gps,
                                                                                  short_http_timeouts):
    """The account already holds long 0.1 of the short leg, so the part-filled combo leaves that leg
    flat and its reduce-only unwind is refused: gps sends no more for it, and the report gives the
    venue's position of THAT leg (0, as at the fake), not another leg's."""
    harness = make_harness("deribit")
    exchange = harness.exchange
    low, high, combo = _spread(harness)
    exchange.place("buy", {"instrument_name": high, "amount": str(QUANTITY / 2),
                           "price": str(exchange.instruments[high].asks[0][0]), "label": "held-before"})
    _offer_only(harness, combo, QUANTITY / 2)
    report = _run_part_filled(harness, gps, short_http_timeouts, low, high)
    assert exchange.position_of(low) == 0 and exchange.position_of(high) == 0
    assert _unwinds_received(harness, 1) == 1 and _unwinds_received(harness, 2) == 1  # none re-sent after the refusal
    (row,) = report["residuals"]
    assert row["venue_symbol"] == high and row["side"] == "sell" and Decimal(row["quantity"]) == QUANTITY / 2
    assert Decimal(row["venue_position"]) == exchange.position_of(high)
    assert "reduce-only" in row["note"]


def test_a_combo_leg_unwind_refused_for_its_price_is_not_blamed_on_the_venue(make_harness, gps,
                                                                              short_http_timeouts):
    """Every unwind of the short leg is refused ``price_wrong_tick`` (10043): the leg stays short at the
    fake, and the report says gps's own unwind was invalid (no venue position shown as the cause)."""
    harness = make_harness("deribit")
    exchange = harness.exchange
    low, high, combo = _spread(harness)
    _offer_only(harness, combo, QUANTITY / 2)
    exchange.faults.aim(high, "reject", times=10, code=10043, message="price_wrong_tick")
    report = _run_part_filled(harness, gps, short_http_timeouts, low, high)
    assert exchange.position_of(low) == 0 and exchange.position_of(high) == -QUANTITY / 2
    (row,) = report["residuals"]
    assert row["venue_symbol"] == high and row["side"] == "sell"
    assert Decimal(row["quantity"]) == -exchange.position_of(high)
    assert "venue_position" not in row and "gps's unwind was invalid" in row["note"]
