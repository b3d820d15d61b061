"""Drills: however an execution ends, it ends safe.

Each drill runs the installed ``gps execute`` in a child process against a venue fake
(Deribit's fake server, or the dry-run venue's paper store), stops or hurts it in one way
(SIGTERM, SIGHUP, SIGINT, a closed output pipe, a journal that cannot grow, an order that lands
late, lookups that time out, an unwind that fills in part, a 429 storm), and then checks the
venue's book of record, never gps's belief: no order of the execution still open, no client
order id placed twice, every order journaled or named in the report, and each instrument's net
position either the full strategy or zero (or exactly what the report says is still held).

Synchronisation is by polling the venue (orders resting, a request in flight), never a sleep.
"""

from __future__ import annotations

import json
import resource
import signal
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal

import pytest

from reliability.audit import audit, journal_events, journaled_ids, net_position
from reliability.conftest import GPS, process_env

SIGNALS = {"SIGTERM": signal.SIGTERM, "SIGHUP": signal.SIGHUP, "SIGINT": signal.SIGINT}
WAIT = 30.0  # seconds any poll of the venue may take, at most
EXIT_INCOMPLETE = 1


@dataclass
class Drill:
    harness: object
    symbols: list[str]
    sides: list[str]
    child: subprocess.Popen

    @property
    def full(self) -> dict[str, Decimal]:
        """The strategy's position per instrument (buys +, sells -)."""
        q = self.harness.quantity
        return {s: (q if side == "buy" else -q) for s, side in zip(self.symbols, self.sides)}

    def venue_orders(self):
        for _ in range(20):  # the paper store is rewritten by the child: retry a read that races it
            try:
                return self.harness.orders(journaled_ids(journal_events(self.harness.home)))
            except (ValueError, OSError):
                time.sleep(0.05)
        return self.harness.orders(journaled_ids(journal_events(self.harness.home)))

    def label(self, leg: int) -> str:
        """The client order id of leg ``leg`` (1-based), read from the venue's orders."""
        for order in self.venue_orders():
            if order.client_order_id and order.client_order_id.endswith("-L1-1"):
                return order.client_order_id.replace("-L1-1", f"-L{leg}-1")
        raise AssertionError("leg 1 is not at the venue")

    def wait_until(self, condition, what: str) -> None:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            if condition():
                return
            if self.child.poll() is not None:
                out, err = self.child.communicate()
                raise AssertionError(f"gps exited ({self.child.returncode}) before {what}: {err}")
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}")

    def wait_resting(self, total: int, open_: int) -> None:
        """Until the venue holds ``total`` orders of the execution, ``open_`` of them resting."""
        def ready():
            orders = self.venue_orders()
            return len(orders) >= total and sum(o.is_open for o in orders) >= open_
        self.wait_until(ready, f"{total} orders at the venue, {open_} resting")

    def finish(self, timeout: float = 90) -> tuple[int, dict | None, str]:
        try:
            out, err = self.child.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.child.kill()
            out, err = self.child.communicate()
            raise AssertionError(f"gps did not exit: {err}")
        try:
            report = json.loads(out) if out else None
        except json.JSONDecodeError:
            report = None
        return self.child.returncode, report, err or ""


def _rest(harness, symbol: str) -> None:
    """Make the next order on ``symbol`` rest unfilled."""
    if harness.name == "dryrun":
        harness.add_faults(f"never_fill x1@{symbol}")
    elif harness.name == "aevo":
        harness.fake.aim(symbol, "partial_fill", fill="0")
    else:
        harness.exchange.faults.aim(symbol, "partial", fill="0")


def _start(harness, legs: int, resting=(), *, timeout: float = 60, args=(), env=None, **popen) -> Drill:
    symbols = harness.instruments(legs)
    sides = ["buy", "sell"] * (legs // 2)
    for index in resting:
        _rest(harness, symbols[index])
    leg_args = [a for side, sym in zip(sides, symbols) for a in ("--leg", f"{side} {harness.quantity} {sym}")]
    popen.setdefault("stdout", subprocess.PIPE)
    popen.setdefault("stderr", subprocess.PIPE)
    child = subprocess.Popen([str(GPS), "execute", "--venue", harness.name, "--yes", "--json", "--timeout",
                              str(timeout), *args, *leg_args],
                             env=process_env({**harness.env(), **(env or {})}), text=True, **popen)
    return Drill(harness, symbols, sides, child)


def _named(report: dict) -> dict[str, Decimal]:
    """What the report says is still held: residuals, and kept legs."""
    held: dict[str, Decimal] = {}
    for r in report.get("residuals") or []:
        sign = 1 if r["side"] == "buy" else -1
        held[r["venue_symbol"]] = held.get(r["venue_symbol"], Decimal(0)) + sign * Decimal(r["quantity"])
    kept = set(report.get("kept") or [])
    for leg in report["legs"]:
        if leg["client_order_id"] in kept:
            sign = 1 if leg["side"] == "buy" else -1
            held[leg["venue_symbol"]] = held.get(leg["venue_symbol"], Decimal(0)) + sign * Decimal(leg["filled"])
    return {k: v for k, v in held.items() if v}


def assert_ends_safe(drill: Drill, report: dict | None, *, journal_intact: bool = True, possibly: tuple = ()) -> list:
    """The invariants every drill ends with, checked at the venue's book of record.

    ``possibly``: further net positions allowed because the report names an order of unknown
    state that may have filled (the drill checks that it does).
    """
    orders = drill.venue_orders()
    rows = "\n".join(f"  {o.client_order_id} {o.instrument} {o.side} {o.quantity} filled={o.filled} {o.status}"
                     for o in orders)
    assert not [o for o in orders if o.is_open], f"orders left open at the venue:\n{rows}"
    counts = Counter(o.client_order_id for o in orders)
    assert None not in counts and all(n == 1 for n in counts.values()), f"duplicate or unnamed orders:\n{rows}"
    events = journal_events(drill.harness.home)
    journaled = set(journaled_ids(events))
    reported = set() if report is None else {o["client_order_id"] for o in report["legs"] + report["unwinds"]}
    if journal_intact:
        assert set(counts) <= journaled, f"orders the journal does not name:\n{rows}"
    else:
        assert set(counts) <= journaled | reported, f"orders neither journaled nor reported:\n{rows}"
    net = net_position(orders)
    allowed = [{}, drill.full, *possibly] + ([_named(report)] if report is not None else [])
    assert net in allowed, f"net position {net}; strategy {drill.full}; report names {allowed[-1]}\n{rows}"
    if report is not None and net == drill.full:
        assert report["all_filled"] or _named(report) == net
    return orders


def _ledger(ledger, venue: str, scenario: str, drill: Drill, report: dict | None, code: int) -> None:
    found = audit(drill.harness, report) if report is not None else audit(drill.harness)
    ledger.from_audit("stops", venue, scenario, found, f"exit {code}")


# --- signals ------------------------------------------------------------------------------

SHAPES = {  # legs, which rest unfilled
    "2 legs, one fills": (2, (1,)),
    "4 legs, none fill": (4, (0, 1, 2, 3)),
}


@pytest.mark.parametrize("signame", list(SIGNALS))
@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("venue", ["deribit", "dryrun", "aevo"])
def test_a_stop_signal_cancels_unwinds_reports_and_exits_nonzero(venue, shape, signame, make_harness, ledger):
    if venue != "deribit" and shape != "2 legs, one fills":
        pytest.skip("the dry run and Aevo drill one shape; Deribit drills both")
    harness = make_harness(venue)
    legs, resting = SHAPES[shape]
    drill = _start(harness, legs, resting)
    drill.wait_resting(legs, len(resting))
    drill.child.send_signal(SIGNALS[signame])
    code, report, err = drill.finish()

    assert code == EXIT_INCOMPLETE and report is not None, err
    assert report["interrupted"] and report["stop_reason"] == signame and not report["complete"]
    assert report["unsettled"] == [] and "Traceback" not in err
    assert f"stopping ({signame})" in err
    orders = assert_ends_safe(drill, report)
    assert net_position(orders) == {}
    kinds = [e["event"] for e in journal_events(harness.home)]
    assert "interrupted" in kinds and kinds[-1] == "execution_finished"
    _ledger(ledger, venue, f"{signame}, {shape}, orders resting", drill, report, code)


def test_sigterm_while_legs_fill_slowly_unwinds_what_filled(make_harness, ledger):
    harness = make_harness("deribit")
    drill = _start(harness, 4, (0, 1, 2, 3))
    drill.wait_resting(4, 4)
    for leg in (1, 3):  # someone trades against two of the resting legs
        harness.fill(drill.label(leg))
    drill.child.send_signal(signal.SIGTERM)
    code, report, err = drill.finish()

    assert code == EXIT_INCOMPLETE and report["stop_reason"] == "SIGTERM", err
    orders = assert_ends_safe(drill, report)
    assert net_position(orders) == {}
    assert sorted(u["client_order_id"].split("-")[-2] for u in report["unwinds"]) == ["U1", "U3"]
    _ledger(ledger, "deribit", "SIGTERM, 4 legs, 2 filled slowly", drill, report, code)


def test_sigterm_in_a_sequential_execution_sends_nothing_more(make_harness, ledger):
    harness = make_harness("deribit")
    drill = _start(harness, 4, (1,), args=["--sequential"])  # leg 1 fills, leg 2 rests, 3 and 4 wait
    drill.wait_resting(2, 1)
    drill.child.send_signal(signal.SIGTERM)
    code, report, err = drill.finish()

    assert code == EXIT_INCOMPLETE and report["stop_reason"] == "SIGTERM", err
    orders = assert_ends_safe(drill, report)
    assert net_position(orders) == {}
    assert [leg["status"] for leg in report["legs"]] == ["filled", "cancelled", "denied", "denied"]
    assert not [o for o in orders if o.client_order_id.endswith(("-L3-1", "-L4-1"))]
    _ledger(ledger, "deribit", "SIGTERM, --sequential, leg 2 resting", drill, report, code)


def test_sighup_under_keep_leaves_exactly_what_the_report_names(make_harness, ledger):
    harness = make_harness("deribit")
    drill = _start(harness, 2, (1,), args=["--on-partial", "keep"])
    drill.wait_resting(2, 1)
    drill.child.send_signal(signal.SIGHUP)
    code, report, err = drill.finish()

    assert code == EXIT_INCOMPLETE and report["stop_reason"] == "SIGHUP", err
    orders = assert_ends_safe(drill, report)
    assert net_position(orders) == _named(report) == {drill.symbols[0]: harness.quantity}
    _ledger(ledger, "deribit", "SIGHUP under --on-partial keep", drill, report, code)


def test_a_second_sigterm_exits_at_once_and_recover_finishes(make_harness, gps_process, ledger):
    harness = make_harness("deribit")
    drill = _start(harness, 2, (1,))
    drill.wait_resting(2, 1)
    harness.exchange.faults.inject("latency", method="private/cancel", times=1, seconds=3.0)  # a slow stop
    drill.child.send_signal(signal.SIGTERM)
    drill.wait_until(lambda: harness.exchange.calls["private/cancel"] >= 1, "the cancel sent")
    drill.child.send_signal(signal.SIGTERM)
    code, report, err = drill.finish()

    assert code == 128 + signal.SIGTERM and report is None, err
    assert "aborted at once" in err and "Traceback" not in err
    for path in (harness.home / "journal").glob("*.jsonl"):
        text = path.read_text()
        assert text.endswith("\n") and all(json.loads(line) for line in text.splitlines())
    recovered = gps_process(["recover", "--json", "--cancel-working", "--settle-after", "0"], harness.env())
    assert "Traceback" not in recovered.stderr
    orders = assert_ends_safe(drill, None)
    assert net_position(orders) == {}, "recover finished the stop: the filled leg is unwound"
    _ledger(ledger, "deribit", "second SIGTERM during the stop, then recover", drill, None, code)


# --- output and journal -------------------------------------------------------------------


def test_a_closed_output_pipe_never_stops_the_execution(make_harness, ledger):
    """``gps execute ... 2>&1 | head -n 1``: the reader goes away after the first line."""
    harness = make_harness("deribit")
    drill = _start(harness, 2, (1,), timeout=2, stderr=subprocess.STDOUT)
    drill.child.stdout.readline()
    drill.child.stdout.close()
    drill.child.wait(timeout=90)
    code = drill.child.returncode

    assert code != 0
    orders = assert_ends_safe(drill, None)
    assert net_position(orders) == {}
    finished = [e for e in journal_events(harness.home) if e["event"] == "execution_finished"]
    assert len(finished) == 1 and finished[0]["report"]["unwinds"], "the run finished and unwound the filled leg"
    _ledger(ledger, "deribit", "output pipe closed after one line", drill, finished[0]["report"], code)


def _ignore_sigxfsz() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # so a write past RLIMIT_FSIZE fails with EFBIG


@pytest.mark.parametrize("how", ["timeout", "SIGTERM"])
def test_a_journal_that_cannot_grow_after_the_first_send(how, make_harness, ledger):
    harness = make_harness("deribit")
    drill = _start(harness, 2, (1,), timeout=3 if how == "timeout" else 60, preexec_fn=_ignore_sigxfsz)
    drill.wait_resting(2, 1)
    journal = next((harness.home / "journal").glob("*.jsonl"))
    drill.wait_until(lambda: sum(e["event"] == "order_update" for e in journal_events(harness.home)) >= 2,
                     "both replies journaled")
    size = journal.stat().st_size
    resource.prlimit(drill.child.pid, resource.RLIMIT_FSIZE, (size, size))  # the disk is full from now on
    if how == "SIGTERM":
        drill.child.send_signal(signal.SIGTERM)
    code, report, err = drill.finish()

    assert code == EXIT_INCOMPLETE and report is not None, err
    assert report["journal_failures"] and "internal error" not in err and "Traceback" not in err
    assert journal.stat().st_size == size
    orders = assert_ends_safe(drill, report, journal_intact=False)
    assert net_position(orders) == {}, "the unwind was sent although the journal could not record it"
    assert any(u["filled"] == u["quantity"] for u in report["unwinds"])
    _ledger(ledger, "deribit", f"journal full after the first send, then {how}", drill, report, code)


# --- orders whose outcome is unknown ------------------------------------------------------


@pytest.mark.parametrize("read_timeout", ["1", "10"])
def test_an_order_that_lands_after_ctrl_c_is_cancelled(read_timeout, make_harness, ledger):
    """Leg 2's placement is answered 3 s late; Ctrl-C arrives while it is in flight."""
    harness = make_harness("deribit")
    symbols = harness.instruments(2)
    harness.exchange.faults.aim(symbols[1], "latency", seconds=3.0)
    drill = _start(harness, 2, (1,), env={"DERIBIT_READ_TIMEOUT": read_timeout})
    drill.wait_resting(1, 0)
    second = drill.label(2)
    drill.wait_until(lambda: harness.exchange.received[second] == 1, "leg 2 in flight")
    drill.child.send_signal(signal.SIGINT)
    code, report, err = drill.finish()

    assert code == EXIT_INCOMPLETE and report["stop_reason"] == "SIGINT", err
    orders = assert_ends_safe(drill, report)
    assert net_position(orders) == {}
    (late,) = [o for o in orders if o.client_order_id == second]
    assert late.status == "cancelled"
    leg = report["legs"][1]
    assert leg["status"] == "cancelled" and report["unsettled"] == []
    assert harness.exchange.placed[second] == 1
    _ledger(ledger, "deribit", f"order lands 3 s after Ctrl-C (read timeout {read_timeout} s)", drill, report, code)


def test_an_order_that_lands_after_ctrl_c_on_aevo_is_found(make_harness, ledger):
    """Aevo has no valid_until: the in-flight order (its id computed before sending) is cancelled by
    that id at each lookup round until it lands; here it fills on landing, and gps reports it filled."""
    harness = make_harness("aevo")
    symbols = harness.instruments(2)
    harness.fake.aim(symbols[1], "latency", seconds=3.0)
    drill = _start(harness, 2, env={"AEVO_READ_TIMEOUT": "1"})
    drill.wait_resting(1, 0)
    drill.wait_until(lambda: sum(r == ("POST", "/orders") for r in list(harness.fake.requests)) >= 2,
                     "leg 2 in flight")
    drill.child.send_signal(signal.SIGINT)
    code, report, err = drill.finish()
    deadline = time.monotonic() + WAIT  # the late request must have landed before the venue is audited
    while not [o for o in harness.orders() if o.instrument == symbols[1]] and time.monotonic() < deadline:
        time.sleep(0.05)

    leg = report["legs"][1]
    # filled on landing: every leg filled, nothing to cancel or unwind, so the stop leaves it complete (exit 0)
    assert code == (0 if leg["status"] == "filled" else EXIT_INCOMPLETE) and report["stop_reason"] == "SIGINT", err
    orders = assert_ends_safe(drill, report)
    assert leg["status"] in ("filled", "cancelled") and report["unsettled"] == []
    assert net_position(orders) == (drill.full if leg["status"] == "filled" else {})
    found = audit(harness, report)
    assert found.clean, found.explain()
    _ledger(ledger, "aevo", "order lands 3 s after Ctrl-C (read timeout 1 s)", drill, report, code)


@pytest.mark.parametrize("failures", [20, 100000])
def test_lookups_timing_out_while_a_leg_fills(failures, make_harness, ledger):
    """Every status lookup times out (for a while, or for good) while the resting leg fills."""
    harness = make_harness("deribit")
    drill = _start(harness, 2, (1,), timeout=2, env={"DERIBIT_READ_TIMEOUT": "0.5"})
    drill.wait_resting(2, 1)
    harness.exchange.faults.inject("latency", method=("private/get_order_state", "private/get_order_state_by_label"),
                                   times=failures, seconds=1.5)
    harness.fill(drill.label(2))
    code, report, err = drill.finish(timeout=120)
    harness.exchange.faults.clear()

    orders = assert_ends_safe(drill, report, possibly=[{drill.symbols[1]: -harness.quantity}])
    second = report["legs"][1]
    assert second["status"] != "pending_cancel" and second["status"] != "cancelled"
    if second["status"] == "filled":  # the lookups came back in time: the strategy is complete
        assert code == 0 and report["all_filled"] and net_position(orders) == drill.full
    else:  # never confirmed: not complete, said loudly, exit non-zero
        assert code == EXIT_INCOMPLETE and second["status"] == "unknown"
        assert second["client_order_id"] in report["unsettled"]
        (named,) = [r for r in report["residuals"] if second["client_order_id"] in r["unknown_orders"]]
        assert named["venue_symbol"] == drill.symbols[1] and named["unknown_quantity"] == str(harness.quantity)
        assert net_position(orders) == {drill.symbols[1]: -harness.quantity}  # leg 1 unwound, leg 2 filled
    _ledger(ledger, "deribit", f"lookups time out ({failures} times) while a leg fills", drill, report, code)


# --- unwinds ------------------------------------------------------------------------------


def test_an_unwind_that_fills_in_part_is_retried_until_flat(make_harness, ledger):
    harness = make_harness("deribit")
    symbols = harness.instruments(2)
    faults = harness.exchange.faults
    faults.aim(symbols[0], "partial", fill=str(harness.quantity))  # leg 1 fills in full
    faults.aim(symbols[0], "partial", fill=str(harness.quantity / 2))  # its first unwind only half
    drill = _start(harness, 2, (1,), timeout=1)
    code, report, err = drill.finish()

    assert code == EXIT_INCOMPLETE, err
    orders = assert_ends_safe(drill, report)
    assert net_position(orders) == {} and report["residuals"] == []
    unwinds = [u for u in report["unwinds"] if u["leg"] == 1]
    assert [u["filled"] for u in unwinds] == [str(harness.quantity / 2), str(harness.quantity / 2)]
    assert Decimal(unwinds[1]["limit_price"]) < Decimal(unwinds[0]["limit_price"])  # a sell, priced wider
    _ledger(ledger, "deribit", "unwind fills half, the rest retried", drill, report, code)


def test_an_unwind_that_never_fills_reports_the_residual(make_harness, ledger):
    harness = make_harness("deribit")
    symbols = harness.instruments(2)
    faults = harness.exchange.faults
    faults.aim(symbols[0], "partial", fill=str(harness.quantity))
    faults.aim(symbols[0], "partial", fill="0", times=10)  # no unwind attempt fills
    drill = _start(harness, 2, (1,), timeout=1)
    code, report, err = drill.finish()

    assert code == EXIT_INCOMPLETE, err
    orders = assert_ends_safe(drill, report)
    assert net_position(orders) == _named(report) == {symbols[0]: harness.quantity}
    (residual,) = report["residuals"]
    assert residual["venue"] == "deribit" and residual["side"] == "buy"
    assert len([u for u in report["unwinds"] if u["leg"] == 1]) == 4  # bounded attempts
    _ledger(ledger, "deribit", "unwind never fills: residual reported", drill, report, code)


# --- rate limits --------------------------------------------------------------------------


def test_two_429s_with_retry_after_3_on_the_second_leg_still_fill_both(make_harness, ledger):
    harness = make_harness("deribit")
    symbols = harness.instruments(2)
    harness.exchange.faults.aim(symbols[1], "http429", times=2, retry_after=3)
    drill = _start(harness, 2, timeout=30)
    code, report, err = drill.finish()

    assert code == 0 and report["all_filled"] and report["unwinds"] == [], err
    orders = assert_ends_safe(drill, report)
    assert net_position(orders) == drill.full and len(orders) == 2
    assert harness.exchange.received[report["legs"][1]["client_order_id"]] == 3
    _ledger(ledger, "deribit", "two 429s with Retry-After 3 on leg 2", drill, report, code)


# --- reduce-only --------------------------------------------------------------------------


def _assert_nothing_more_sent(report: dict, symbol: str, venue: str) -> None:
    """The reduce-only unwind was refused and gps sent nothing without reduce-only; the report says what is held."""
    (refused,) = report["unwinds"]
    assert refused["status"] == "rejected" and refused["reduce_only"] and "reduce-only" in refused["reason"]
    (residual,) = report["residuals"]
    assert residual["venue_symbol"] == symbol and residual["venue"] == venue and residual["side"] == "buy"
    assert "nothing more is sent" in residual["note"]


@pytest.mark.parametrize("venue", ["dryrun", "deribit", "aevo"])
def test_a_refused_reduce_only_unwind_after_closing_a_prior_short_sends_nothing_more(
        venue, make_harness, gps_process, ledger):
    """Leg 1 buys back a short the trader already held, leg 2 is refused: the reduce-only unwind
    (a sell) is refused by the venue, since there is no long to reduce. The venue's position is
    flat, which cannot prove that a sell would only restore the short: gps sends nothing more,
    names what is held and exits 1."""
    harness = make_harness(venue)
    symbols = harness.instruments(2)
    q = harness.quantity
    prior = gps_process(["execute", "--venue", venue, "--yes", "--json", "--leg", f"sell {q} {symbols[0]}"],
                        harness.env())
    assert prior.code == 0, prior.stderr
    before = {o.venue_key for o in harness.orders()}
    if venue == "dryrun":
        harness.add_faults(f"reject x1@{symbols[1]}")
    elif venue == "deribit":  # its refusal is a generic 11029: gps asks the venue's positions
        harness.inject("reject", symbols[1])
    else:
        harness.fake.aim(symbols[1], "reject", code="INSUFFICIENT_BALANCE", status=400)
    run = gps_process(["execute", "--venue", venue, "--yes", "--json", "--leg", f"buy {q} {symbols[0]}",
                       "--leg", f"sell {q} {symbols[1]}"], harness.env())
    report = run.json()

    assert run.code == EXIT_INCOMPLETE, run.stderr
    this = [o for o in harness.orders() if o.venue_key not in before]
    assert not [o for o in this if o.is_open]
    assert net_position(this) == {symbols[0]: q}  # this execution closed the short ...
    assert net_position(harness.orders()) == {}  # ... and opened nothing in its place
    _assert_nothing_more_sent(report, symbols[0], venue)
    found = audit(harness)  # both executions' journals against the venue's book
    assert found.clean, found.explain()
    ledger.from_audit("stops", venue, "reduce-only unwind refused (the leg closed a prior short)", found,
                      f"exit {run.code}")


@pytest.mark.parametrize("venue", ["deribit", "aevo"])
def test_a_leg_closed_outside_gps_is_never_unwound_into_a_new_short(venue, make_harness, gps_process, ledger):
    """The account is flat; leg 1 buys; while leg 2 rests, the long is sold outside gps; the
    execution is stopped. The reduce-only unwind is refused (nothing to reduce) and the venue
    says flat: an unwind without reduce-only would open a naked short, so nothing more is sent,
    the report names what is held, and the exit is 1."""
    harness = make_harness(venue)
    drill = _start(harness, 2, (1,))
    drill.wait_resting(2, 1)
    q, symbol = harness.quantity, drill.symbols[0]
    outside = dict(harness.env(), GPS_HOME=str(harness.home.parent / f"{harness.home.name}-outside"))
    closed = gps_process(["execute", "--venue", venue, "--yes", "--json", "--leg", f"sell {q} {symbol}"], outside)
    assert closed.code == 0, closed.stderr
    drill.child.send_signal(signal.SIGTERM)
    code, report, err = drill.finish()

    assert code == EXIT_INCOMPLETE and report is not None, err
    everything = harness.orders()
    assert not [o for o in everything if o.is_open]
    assert net_position(everything) == {}  # no new short: the long was closed outside, nothing replaced it
    assert sum(o.side == "sell" and o.instrument == symbol and o.filled > 0 for o in everything) == 1
    _assert_nothing_more_sent(report, symbol, venue)
    assert Decimal(report["residuals"][0]["venue_position"]) == 0
    from gps_core.render import report_text

    (warning,) = [line for line in report_text(report).splitlines() if "NOT UNWOUND" in line]
    assert f"buy of {q} " in warning and "reports a position of 0" in warning and "you still hold" not in warning
    _ledger(ledger, venue, "leg closed outside gps: reduce-only unwind refused, nothing more sent", drill, report,
            code)


def test_a_leg_half_closed_outside_gps_is_unwound_only_by_what_the_venue_holds(make_harness, gps_process, ledger):
    """As above, but only half the long is sold outside gps: Aevo refuses the reduce-only unwind
    of the whole leg (larger than the position); gps unwinds what Aevo holds, reduce-only, and
    sends nothing after that (no order that the venue must refuse again)."""
    harness = make_harness("aevo")
    drill = _start(harness, 2, (1,))
    drill.wait_resting(2, 1)
    q, symbol = harness.quantity, drill.symbols[0]
    outside = dict(harness.env(), GPS_HOME=str(harness.home.parent / f"{harness.home.name}-outside"))
    closed = gps_process(["execute", "--venue", "aevo", "--yes", "--json", "--leg", f"sell {q / 2} {symbol}"], outside)
    assert closed.code == 0, closed.stderr
    drill.child.send_signal(signal.SIGTERM)
    code, report, err = drill.finish()

    assert code == EXIT_INCOMPLETE and report is not None, err
    everything = harness.orders()
    assert not [o for o in everything if o.is_open]
    assert net_position(everything) == {}  # flat: the other half was unwound, nothing more
    refused, unwound = report["unwinds"]  # and no third unwind the venue would refuse
    assert refused["status"] == "rejected" and refused["reduce_only"] and "reduce-only" in refused["reason"]
    assert unwound["status"] == "filled" and unwound["reduce_only"] and Decimal(unwound["filled"]) == q / 2
    _ledger(ledger, "aevo", "leg half closed outside gps: only what the venue holds is unwound", drill, report, code)
