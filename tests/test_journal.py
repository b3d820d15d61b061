"""The journal survives its own damage, appends on a fresh line, and its lock tells running from dead."""

import json
import os
import subprocess
import sys
import textwrap

import pytest
from click.testing import CliRunner

from gps_core.cli import cli
from gps_core.events import Event, problem, replay
from gps_core.journal import ExecutionLock, ExecutionRunning, Journal, lock_holder, read_events

pytest.importorskip("gps_venue_dryrun")

#: Every kind of damage of the issue, as raw bytes of one line (without its newline).
GARBAGE = {
    "list": b"[]",
    "null": b"null",
    "foreign object": b'{"foo":1}',
    "intent without order": b'{"ts":"2026-11-01T00:00:00+00:00","event":"order_intent","execution_id":"x"}',
    "intent with a wrong order": b'{"ts":"2026-11-01T00:00:00+00:00","event":"order_intent","order":{"side":"up"}}',
    "update with a wrong snapshot": b'{"ts":"2026-11-01T00:00:00+00:00","event":"order_update",'
                                    b'"client_order_id":"c","state":"filled","snapshot":[1]}',
    "wrong types": b'{"ts":17,"event":["order_update"],"client_order_id":5}',
    "order event with a numeric id": b'{"ts":"2026-11-01T00:00:00+00:00","event":"cancel_requested",'
                                     b'"client_order_id":5}',
    "bad timestamp": b'{"ts":"yesterday","event":"plan","legs":[]}',
    "plan with wrong legs": b'{"ts":"2026-11-01T00:00:00+00:00","event":"plan","legs":"two"}',
    "finished with a wrong report": b'{"ts":"2026-11-01T00:00:00+00:00","event":"execution_finished",'
                                    b'"report":{"legs":7}}',
    "not utf-8": b'{"ts":"2026-11-01T00:00:00+00:00","event":"plan","legs":[]}\xff\xfe',
    "not json": b'{"ts": "2026-11-01',
    "deeply nested": b"[" * 100000 + b"]" * 100000,
}


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("GPS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GPS_LOAD_PLUGINS", "dryrun")
    monkeypatch.delenv("GPS_DRYRUN_FAULTS", raising=False)
    return tmp_path / "home"


def gps(*args, env=None):
    return CliRunner().invoke(cli, [str(a) for a in args], env=env)


def _legs(instruments=("BTC-25DEC26-95000-C", "BTC-25DEC26-95000-P")):
    from gps_venue_dryrun.market import current_market

    names = [i.symbol for i in current_market({}).instruments("BTC")]
    call = next(n for n in names if n.endswith("-100000-C"))
    put = call[:-1] + "P"
    return ["--leg", f"buy 0.1 {call}", "--leg", f"sell 0.1 {put}"]


@pytest.mark.parametrize("kind", list(GARBAGE))
def test_every_kind_of_damage_is_skipped_with_one_warning(tmp_path, kind):
    path = tmp_path / "x.jsonl"
    good = b'{"ts":"2026-11-01T00:00:00+00:00","event":"plan","execution_id":"x","legs":[]}'
    path.write_bytes(good + b"\n" + GARBAGE[kind] + b"\n" + good + b"\n")
    warnings = []
    events = read_events(path, warn=warnings.append)
    assert [e["event"] for e in events] == ["plan", "plan"]
    assert len(warnings) == 1 and str(path) in warnings[0] and "line 2" in warnings[0], warnings
    read_events(path, warn=warnings.append)
    assert len(warnings) == 1  # once per file


def test_problem_accepts_what_the_engine_writes(tmp_path):
    with Journal(tmp_path, "e1") as journal:
        journal.write(Event.PLAN, legs=[])
        journal.write("a_future_event", anything=[1, 2])
    events = read_events(tmp_path / "journal" / "e1.jsonl", warn=pytest.fail)
    assert [problem(e) for e in events] == [None, None]
    assert events[0]["event"] == "plan" and events[0]["event"] == Event.PLAN


def test_torn_last_line_then_append_stays_readable(tmp_path):
    with Journal(tmp_path, "e2") as journal:
        journal.write(Event.PLAN, legs=[])
    path = tmp_path / "journal" / "e2.jsonl"
    with open(path, "ab") as handle:
        handle.write(b'{"ts":"2026-11-01T00:00:00+00:00","event":"order_upd')  # a crash mid-write
    warnings = []
    assert [e["event"] for e in read_events(path, warn=warnings.append)] == ["plan"]
    assert "torn last line" in warnings[0]
    with Journal(tmp_path, "e2") as journal:
        journal.write(Event.INTERRUPTED, note="after the tear")
    events = read_events(path, warn=warnings.append)
    assert [e["event"] for e in events] == ["plan", "interrupted"]
    assert path.read_bytes().endswith(b"\n")


def test_a_failed_write_leaves_the_next_on_its_own_line(tmp_path):
    journal = Journal(tmp_path, "e3")
    journal.write(Event.PLAN, legs=[])
    real_fd = journal._fd
    journal._fd = os.open(os.devnull, os.O_RDONLY)  # writes fail with EBADF
    with pytest.raises(OSError):
        journal.write(Event.INTERRUPTED, note="lost")
    os.close(journal._fd)
    journal._fd = real_fd
    os.write(real_fd, b'{"half')  # as if part of the failed line reached the disk
    journal.write(Event.INTERRUPTED, note="kept")
    journal.close()
    events = read_events(tmp_path / "journal" / "e3.jsonl", warn=lambda message: None)
    assert [e.get("note") for e in events] == [None, "kept"]


def test_replay_keeps_the_first_intent_of_an_id_and_ignores_strays():
    from decimal import Decimal

    from builders import usd_instrument
    from gps_core.codec import request_to_json
    from gps_core.model import OrderRequest, Side

    request = OrderRequest(client_order_id="c1", instrument=usd_instrument(), side=Side.BUY, quantity=Decimal("1"),
                           limit_price=Decimal("10"))
    order = request_to_json(request)
    events = [{"ts": "2026-11-01T00:00:00+00:00", "event": "order_intent", "order": order},
              {"ts": "2026-11-01T00:00:01+00:00", "event": "order_intent", "order": {**order, "quantity": "9"}},
              {"ts": "2026-11-01T00:00:02+00:00", "event": "cancel_requested", "client_order_id": "nobody"},
              {"ts": "2026-11-01T00:00:03+00:00", "event": "order_retry", "client_order_id": "c1",
               "valid_until": "2026-11-01T00:00:09+00:00"}]
    assert [problem(e) for e in events] == [None] * 4
    orders = replay(events)
    assert list(orders) == ["c1"] and orders["c1"].request.quantity == 1
    assert orders["c1"].request.valid_until.isoformat() == "2026-11-01T00:00:09+00:00"


def _garble(journal_file, where: str) -> None:
    data = journal_file.read_bytes()
    lines = data.split(b"\n")
    junk = [GARBAGE[k] for k in ("list", "null", "foreign object", "intent without order", "not utf-8",
                                 "wrong types")]
    if where == "middle":
        lines[2:2] = junk
        journal_file.write_bytes(b"\n".join(lines))
    else:  # a torn tail
        journal_file.write_bytes(data + b"\n".join(junk) + b"\n" + b'{"ts":"2026-11-01T00:0')


@pytest.mark.parametrize("where", ["middle", "tail"])
def test_garbage_in_an_old_finished_journal_breaks_no_command(env, where):
    done = gps("execute", "--venue", "dryrun", "--json", "--quiet", *_legs())
    assert done.exit_code == 0, done.output
    old = next((env / "journal").glob("*.jsonl"))
    _garble(old, where)

    listing = gps("journal")
    assert listing.exit_code == 0 and "filled" in listing.stdout, listing.output
    assert f"journal {old}" in listing.stderr and "skipped" in listing.stderr
    assert listing.stderr.count("gps: warning") == 1
    for args in (["journal", "--json"], ["show", "last"], ["show", "last", "--json"], ["status", "last"],
                 ["status", "last", "--json"], ["cancel", "last"], ["recover"], ["recover", "--json"]):
        result = gps(*args)
        assert result.exit_code in (0, 1), (args, result.output)
        assert "internal error" not in result.output and "Traceback" not in result.output, (args, result.output)
    again = gps("execute", "--venue", "dryrun", "--json", "--quiet", *_legs())
    assert again.exit_code == 0, again.output  # an old damaged journal does not block new executions
    assert "internal error" not in again.stderr


def test_garbage_in_an_interrupted_journal_is_recovered(env):
    faults = {"GPS_DRYRUN_FAULTS": "never_fill@*-100000-C"}
    crashed = subprocess.run([sys.executable, "-m", "gps_core.cli", "execute", "--venue", "dryrun", "--json",
                              "--timeout", "30", "--combo", "never", *_legs()],
                             env={**os.environ, **faults, "GPS_CRASH_AT": "monitoring"}, capture_output=True)
    assert crashed.returncode == -9, crashed.stderr
    path = next((env / "journal").glob("*.jsonl"))
    _garble(path, "middle")
    blocked = gps("execute", "--venue", "dryrun", "--json", "--quiet", *_legs())
    assert blocked.exit_code == 2 and "gps recover" in blocked.stderr, blocked.output
    recovered = gps("recover", "--json", "--cancel-working")
    assert "internal error" not in recovered.output, recovered.output
    data = json.loads(recovered.stdout)
    assert data["live"] == [] and [e["execution_id"] for e in data["executions"]] == [path.stem]
    shown = gps("show", "last")
    assert "RECOVERED" in shown.stdout and "no final report" not in shown.stdout, shown.output
    listing = gps("journal")
    assert "recovered" in listing.stdout and "NOT FINISHED" not in listing.stdout, listing.output


# --- the execution lock ------------------------------------------------------------------------


HOLD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from gps_core.journal import ExecutionLock
    lock = ExecutionLock.acquire(Path(sys.argv[1]))
    print("held", flush=True)
    time.sleep(60)
""")


def test_lock_names_a_live_holder_and_frees_when_it_dies(tmp_path):
    journal = tmp_path / "20261101T000000-abcdef.jsonl"
    journal.write_text("")
    assert lock_holder(journal) is None
    child = subprocess.Popen([sys.executable, "-c", HOLD, str(journal)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "held"
        assert lock_holder(journal) == child.pid
        with pytest.raises(ExecutionRunning) as refused:
            ExecutionLock.acquire(journal)
        assert f"running in process {child.pid}" in str(refused.value)
    finally:
        child.kill()
        child.wait(timeout=10)
    assert lock_holder(journal) is None
    with ExecutionLock.acquire(journal):
        assert lock_holder(journal) == os.getpid()


def test_cancel_refuses_a_running_execution(env):
    with Journal(env, "20261101T000000-abcdef") as journal:
        journal.write(Event.EXECUTION_STARTED, mode="paper", strategy={}, options={"timeout": 30})
    child = subprocess.Popen([sys.executable, "-c", HOLD, str(journal.path)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "held"
        refused = gps("cancel", "20261101")
        assert refused.exit_code == 2, refused.output
        assert refused.stderr.strip() == (f"gps: error: execution 20261101T000000-abcdef is running in process "
                                          f"{child.pid}; it was left alone (wait for it to finish, or stop that "
                                          "process first)")
        recovered = gps("recover", "--json")
        assert json.loads(recovered.stdout)["running"] == [{"execution_id": journal.execution_id, "pid": child.pid}]
        assert recovered.exit_code == 1  # left alone: not finished
        text = gps("recover")
        assert "left alone" in text.stdout and "Nothing to recover" not in text.stdout and text.exit_code == 1
        assert gps("journal").stdout.count(f"RUNNING (pid {child.pid})") == 1
        blocked = gps("execute", "--venue", "dryrun", "--json", "--quiet", *_legs())
        assert blocked.exit_code == 2 and f"running in process {child.pid}" in blocked.stderr
    finally:
        child.kill()
        child.wait(timeout=10)
    assert gps("recover", "--json").exit_code == 0
    assert "recovered" in gps("journal").stdout


def test_status_names_the_process_running_an_execution(env):
    with Journal(env, "20261101T000000-abcdef") as journal:
        journal.write(Event.EXECUTION_STARTED, mode="paper", strategy={}, options={"timeout": 30})
    child = subprocess.Popen([sys.executable, "-c", HOLD, str(journal.path)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "held"
        status = gps("status", "last")
        assert f"running in process {child.pid}" in status.stdout, status.output
        assert json.loads(gps("status", "last", "--json").stdout)["running_pid"] == child.pid
        assert "is running in process" in gps("show", "last").stdout
    finally:
        child.kill()
        child.wait(timeout=10)


# --- random events: nothing a journal holds crashes a command -----------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(allow_nan=False),
                     st.text(max_size=12))
_json = st.recursive(_scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                     max_leaves=8)
_fields = ("ts", "event", "client_order_id", "order", "snapshot", "state", "legs", "report", "strategy", "options",
           "mode", "valid_until", "venue_data", "venue_order_id", "leg", "role")
_event = st.fixed_dictionaries(
    {"ts": st.sampled_from(["2026-11-01T00:00:00+00:00", "nonsense", 7]),
     "event": st.sampled_from([e.value for e in Event] + ["mystery", 3])},
    optional={name: _json for name in _fields[2:]})


LEGS = ["--leg", "buy 0.1 BTC-25DEC26-100000-C"]


def _valid_start() -> list[dict]:
    from decimal import Decimal

    from builders import usd_instrument
    from gps_core.codec import request_to_json
    from gps_core.model import OrderRequest, Side

    request = OrderRequest(client_order_id="gps-20261101T000000-abcdef-L1-1", instrument=usd_instrument("dryrun"),
                           side=Side.BUY, quantity=Decimal("1"), limit_price=Decimal("10"))
    ts = "2026-11-01T00:00:00+00:00"
    return [{"ts": ts, "event": "execution_started", "mode": "paper", "strategy": {"name": "s"},
             "options": {"timeout": 1}},
            {"ts": ts, "event": "plan", "legs": [{"leg": 1, "venue": "dryrun", "instrument": request.instrument.key.name,
                                                  "side": "buy", "quantity": "1", "limit_price": "10"}]},
            {"ts": ts, "event": "order_intent", "role": "leg", "leg": 0, "order": request_to_json(request)}]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(lines=st.lists(_event, min_size=1, max_size=4), cid=st.booleans())
def test_random_events_in_a_journal_never_crash_a_command(env, lines, cid):
    path = env / "journal" / "20261101T000000-abcdef.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    if cid:  # aim the random events at a journaled order, so they reach the replay
        lines = [{**line, "client_order_id": "gps-20261101T000000-abcdef-L1-1"} for line in lines]
    path.write_text("".join(json.dumps(line) + "\n" for line in [*_valid_start(), *lines]))
    for args in (["journal"], ["show", "last"], ["status", "last"], ["cancel", "last"], ["recover", "--json"],
                 ["execute", "--venue", "dryrun", "--json", "--quiet", "--timeout", "0.5", *LEGS]):
        result = gps(*args)
        assert result.exit_code in (0, 1, 2), (args, result.output)
        assert "internal error" not in result.output and "Traceback" not in result.output, (args, result.output)
    for leftover in (env / "journal").glob("*"):
        leftover.unlink()


def test_recorded_options_and_deadline_come_from_the_start_event():
    from datetime import datetime, timedelta

    from gps_core.rebuild import deadline, recorded_options

    options = recorded_options({"options": {"timeout": 12.5, "on_partial": "keep", "tif": "ioc", "sequential": True}})
    assert (options.timeout, options.on_partial, options.time_in_force.value, options.sequential) == (
        12.5, "keep", "ioc", True)
    start = datetime(2026, 11, 1)
    assert deadline(start, options) == start + timedelta(seconds=12.5)
    junk = recorded_options({"options": {"timeout": "soon", "on_partial": "pray", "tif": 3, "sequential": "yes"}})
    assert (junk.timeout, junk.on_partial, junk.time_in_force.value, junk.sequential) == (30.0, "unwind", "gtc", False)
    assert deadline(None, junk) is None


def test_a_journal_that_cannot_be_created_refuses_the_execution_before_sending(env):
    env.mkdir(parents=True)
    (env / "journal").write_text("not a directory")
    result = gps("execute", "--venue", "dryrun", "--json", "--quiet", *_legs())
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("gps: error: cannot create the journal") and "nothing was sent" in result.stderr
    assert "internal error" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    store = env / "dryrun" / "orders.json"
    if store.exists():  # the dry-run venue's book of record: nothing was placed
        from gps_core.paper import PaperBroker

        assert PaperBroker(store, "dryrun").orders() == []


def test_recover_leaves_an_execution_open_while_its_venue_cannot_be_asked(env):
    crashed = subprocess.run([sys.executable, "-m", "gps_core.cli", "execute", "--venue", "dryrun", "--json",
                              "--sequential", "--timeout", "5", "--combo", "never", *_legs()],
                             env={**os.environ, "GPS_CRASH_AT": "between_legs@L1"}, capture_output=True)
    assert crashed.returncode == -9, crashed.stderr
    blocked = gps("recover", "--json", env={"GPS_LOAD_PLUGINS": "aevo"})  # the dryrun venue is not loaded
    data = json.loads(blocked.stdout)
    assert blocked.exit_code == 1 and data["executions"] == [] and len(data["failures"]) == 1, blocked.output
    assert "stays open" in data["failures"][0]
    assert "NOT FINISHED" in gps("journal").stdout  # not closed: the policy is still to be applied
    done = gps("recover", "--json")
    data = json.loads(done.stdout)
    (closed,) = data["executions"]
    assert closed["complete"] is False and data["exposures"] == [] and data["failures"] == [], done.output
    assert [o["role"] for o in closed["filled_orders"]] == ["leg", "unwind"]  # leg 1 unwound now
    from gps_core.paper import PaperBroker

    held = {}
    for order in PaperBroker(env / "dryrun" / "orders.json", "dryrun").orders():  # the venue's book of record
        held[order.symbol] = held.get(order.symbol, 0) + order.side.sign * order.filled_quantity
        assert order.status.value != "open"
    assert all(quantity == 0 for quantity in held.values()) and held, held  # flat


def test_recover_says_a_fill_happened_at_the_venue_never_by_recover():
    from decimal import Decimal

    from builders import key as option_key, usd_instrument
    from gps_core.events import JournaledOrder
    from gps_core.model import OrderRequest, Side
    from gps_core.orders import OrderState, TrackedOrder
    from gps_core.recovery import Recovery, Settlement, _update_settlement

    request = OrderRequest(client_order_id="gps-x-L2-1", instrument=usd_instrument("usdv", option_key()),
                           side=Side.SELL, quantity=Decimal("0.1"), limit_price=Decimal("100"))
    outcome = Recovery()
    outcome.settlements.append(Settlement("x", JournaledOrder(request, "leg", 1, OrderState.ACCEPTED),
                                          OrderState.SUBMITTED, OrderState.ACCEPTED, None, "found at the venue"))
    order = TrackedOrder(request=request, leg_index=1, role="leg", state=OrderState.FILLED)
    _update_settlement(outcome, "x", order)
    assert outcome.settlements[0].note == "filled at the venue"


def test_a_journal_of_nul_bytes_stays_listed_as_damaged_and_is_never_finished_from_nothing(env):
    folder = env / "journal"
    folder.mkdir(parents=True, exist_ok=True)
    zeroed = folder / "20261101T000000-0000aa.jsonl"
    zeroed.write_bytes(b"\0" * 4096)
    recovered = gps("recover")
    assert recovered.exit_code == 1 and "DAMAGED" in recovered.stdout, recovered.output
    assert "finished by recover" not in recovered.stdout
    assert zeroed.read_bytes() == b"\0" * 4096  # left as it is
    listed = gps("journal", "--json")
    assert [e["result"] for e in json.loads(listed.stdout)] == ["DAMAGED"], listed.output
    blocked = gps("execute", "--venue", "dryrun", "--json", "--quiet", *_legs())
    assert blocked.exit_code == 2 and "is damaged" in blocked.stderr, blocked.output


def test_a_finished_execution_leaves_no_lock_file_and_a_removed_lock_file_is_never_shared(env):
    for _ in range(2):
        done = gps("execute", "--venue", "dryrun", "--json", "--quiet", *_legs())
        assert done.exit_code in (0, 1), done.output
    folder = env / "journal"
    assert len(list(folder.glob("*.jsonl"))) == 2 and list(folder.glob("2*.lock")) == []

    journal = folder / "20261101T000000-0000bb.jsonl"
    first_lock = ExecutionLock.acquire(journal)
    stale = os.open(journal.with_suffix(".lock"), os.O_RDWR)  # a locker that opened the file before its removal
    first_lock.release(remove=True)
    second = ExecutionLock.acquire(journal)  # locks a new file at the path
    try:
        import fcntl

        fcntl.flock(stale, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the old inode is free: whoever locks it ...
        assert not os.path.samestat(os.fstat(stale), os.stat(journal.with_suffix(".lock")))  # ... must start over
        assert lock_holder(journal) == os.getpid()
    finally:
        os.close(stale)
        second.release()


def test_a_damaged_journal_is_named_by_one_command_not_by_every_command(env):
    done = gps("execute", "--venue", "dryrun", "--json", "--quiet", *_legs())
    assert done.exit_code == 0, done.output
    old = next((env / "journal").glob("*.jsonl"))
    _garble(old, "middle")
    child_env = {**os.environ, "GPS_HOME": str(env), "GPS_LOAD_PLUGINS": "dryrun"}
    runs = [subprocess.run([sys.executable, "-m", "gps_core.cli", "journal"], env=child_env, capture_output=True,
                           text=True, timeout=60) for _ in range(2)]
    assert all(r.returncode == 0 for r in runs), runs
    assert runs[0].stderr.count(f"journal {old}") == 1 and f"journal {old}" not in runs[1].stderr, runs
    _garble(old, "tail")  # new damage is named again
    again = subprocess.run([sys.executable, "-m", "gps_core.cli", "journal"], env=child_env, capture_output=True,
                           text=True, timeout=60)
    assert f"journal {old}" in again.stderr, again.stderr


def test_the_depth_check_skips_strings_and_counts_brackets_exactly():
    """``_too_deep`` (strings removed at C speed, then brackets counted) answers as a byte-by-byte
    scan does, on random lines of brackets, quotes and escapes and on the edge cases."""
    import random

    from gps_core.journal import MAX_DEPTH, _too_deep

    def scan(raw: bytes) -> bool:
        depth, in_string, escaped = 0, False, False
        for char in raw.decode("latin-1"):
            if in_string:
                escaped, in_string = (False, True) if escaped else (char == "\\", char != '"')
            elif char == '"':
                in_string = True
            elif char in "[{":
                depth += 1
                if depth > MAX_DEPTH:
                    return True
            elif char in "]}":
                depth -= 1
        return False

    rng = random.Random(14)
    lines = [bytes(rng.choice(b'[]{}"\\a,') for _ in range(rng.randint(60, 300))) for _ in range(3000)]
    lines += [b"[" * 65 + b"]" * 65, b"[" * 64 + b"]" * 64, b'["' + b"[" * 70 + b'"]', b'"\\"' + b"[" * 70,
              b'{"a":"\\\\"' + b"[" * 70]
    assert [_too_deep(line) for line in lines] == [scan(line) for line in lines]
    assert any(scan(line) for line in lines) and not all(scan(line) for line in lines)
