"""Rough edges a new user hit (issue: "the trader's day"), each pinned through the CLI."""

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from gps_core.cli import cli

GPS = str(Path(sys.executable).with_name("gps"))


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("GPS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GPS_LOAD_PLUGINS", "dryrun")
    monkeypatch.delenv("GPS_DRYRUN_FAULTS", raising=False)
    return tmp_path


@pytest.fixture
def strategy(env):
    path = env / "demo.json"
    subprocess.run([sys.executable, "-m", "gps_venue_dryrun.demo", "--out", str(path)], check=True, capture_output=True)
    return path


def gps(*args, env=None, input=None):
    return CliRunner().invoke(cli, [str(a) for a in args], env=env, input=input)


@pytest.fixture
def fake_deribit(env, monkeypatch):
    fake_server = pytest.importorskip("gps_venue_deribit.testing.fake_server")
    server = fake_server.FakeDeribit().start()
    monkeypatch.setenv("GPS_LOAD_PLUGINS", "deribit")
    monkeypatch.setenv("DERIBIT_BASE_URL", server.url)
    monkeypatch.setenv("DERIBIT_CLIENT_ID", server.state.client_id)
    monkeypatch.setenv("DERIBIT_CLIENT_SECRET", server.state.client_secret)
    yield server
    server.stop()


def deribit_leg(server):
    names = sorted(n for n in server.state.instrument_names("BTC") if n.endswith("-C"))
    return f"buy 0.1 {names[len(names) // 2]}"


# --- Ctrl-C at the confirmation prompt is a refusal -------------------------------------


def _read_until(fd, needle: bytes, deadline: float) -> bytes:
    seen = b""
    while needle not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    return seen


def test_ctrl_c_at_the_confirmation_prompt_is_a_refusal(fake_deribit):
    """A real SIGINT while the live prompt waits on a terminal: one refusal line, exit 2, nothing at the venue."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([GPS, "execute", "--leg", deribit_leg(fake_deribit)], stdin=slave, stdout=slave,
                            stderr=subprocess.PIPE, env=os.environ.copy())
    os.close(slave)
    try:
        prompt = _read_until(proc.stderr.fileno(), b"Send LIVE orders", time.monotonic() + 60)
        assert b"Send LIVE orders to deribit?" in prompt, prompt
        code = None
        for _ in range(10):
            # A SIGINT that lands while readline is still setting up (before it waits for a key) is only
            # acted on at the next one, as a second Ctrl-C from a user would be.
            proc.send_signal(signal.SIGINT)
            try:
                code = proc.wait(timeout=3)
                break
            except subprocess.TimeoutExpired:
                continue
        rest = proc.stderr.read().decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        os.close(master)
    assert code == 2
    lines = [line for line in rest.splitlines() if line.strip()]
    assert lines == ["gps: error: not confirmed; nothing was sent"]
    assert sum(fake_deribit.state.placed.values()) == 0


# --- bare `gps` -------------------------------------------------------------------------


@pytest.mark.parametrize("args, usage", [([], "Usage: gps [OPTIONS] COMMAND"), (["plugin"], "Usage: gps plugin")])
def test_bare_gps_prints_usage_and_exits_0(args, usage):
    result = subprocess.run([GPS, *args], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert result.stdout.startswith(usage) and "Commands:" in result.stdout
    assert result.stderr == ""


# --- a forgotten second --leg -----------------------------------------------------------


@pytest.mark.parametrize("command", ["quote", "execute"])
def test_a_forgotten_second_leg_flag_says_what_happened(env, command):
    result = gps(command, "--venue", "dryrun", "--leg", "buy 0.1 BTC-25JUN27-95000-C", "sell 0.1 BTC-25JUN27-100000-C")
    assert result.exit_code == 2
    assert result.stderr == ("gps: error: 'sell 0.1 BTC-25JUN27-100000-C' was taken as a strategy file name, not a "
                             'leg: put --leg before each leg (--leg "buy 1 ..." --leg "sell 1 ...")\n')
    assert not (env / "home" / "journal").exists()


def test_a_strategy_file_and_legs_together_are_still_refused(env, strategy):
    result = gps("quote", "--venue", "dryrun", "--leg", "buy 0.1 BTC-25JUN27-95000-C", strategy)
    assert result.exit_code == 2
    assert result.stderr == "gps: error: give either a strategy file or --leg options, not both\n"


# --- gps cancel: `last` by default; nothing to cancel says so ---------------------------


def test_cancel_defaults_to_the_last_execution_and_says_when_nothing_is_working(env, strategy):
    first = json.loads(gps("execute", "--venue", "dryrun", "--combo", "never", "--json", "--quiet", strategy).stdout)
    second = json.loads(gps("execute", "--venue", "dryrun", "--combo", "never", "--json", "--quiet", strategy).stdout)
    assert first["all_filled"] and second["all_filled"]
    result = gps("cancel")
    assert result.exit_code == 0, result.output
    assert result.stdout == (f"Nothing to cancel in execution {second['execution_id']}: all 2 orders are filled or "
                             "closed (2 filled).\n")
    as_json = json.loads(gps("cancel", "--json").stdout)
    assert as_json["execution_id"] == second["execution_id"]
    assert as_json["nothing_to_cancel"] is True and as_json["cancels_sent"] == []
    # the paper venue's book of record: both orders of the last execution still filled, none cancelled
    book = json.loads((env / "home" / "dryrun" / "orders.json").read_text())
    text = json.dumps(book)
    for leg in second["legs"]:
        assert leg["client_order_id"] in text
    assert '"cancelled"' not in text


def test_cancel_of_a_kept_partial_names_what_it_did(env, strategy):
    """A kept execution whose unfilled leg the engine already cancelled: nothing left to cancel, exit 0."""
    result = gps("execute", "--venue", "dryrun", "--combo", "never", "--json", "--quiet", "--timeout", "0.3", "--on-partial", "keep",
                 strategy, env={"GPS_DRYRUN_FAULTS": "never_fill@*-100000-C"})
    assert result.exit_code == 1
    cancel = gps("cancel", "last")
    assert cancel.exit_code == 0, cancel.output
    assert cancel.stdout.startswith("Nothing to cancel in execution ")
    assert cancel.stdout.endswith("all 2 orders are filled or closed (1 filled, 1 cancelled).\n")


# --- execution ids sort by time to the sub-second; `last` is the newest -----------------


def test_ids_sort_by_time_old_ids_among_new_ones_and_last_is_newest(env, strategy):
    done = json.loads(gps("execute", "--venue", "dryrun", "--combo", "never", "--json", "--quiet", strategy).stdout)
    folder = env / "home" / "journal"
    original = folder / f"{done['execution_id']}.jsonl"
    assert done["execution_id"][15] == "." and len(done["execution_id"]) == len("20261124T160405.123456-3f9a1c")
    text = original.read_text()
    original.unlink()
    # old ids (no sub-second part) and new ones, in the same second, with suffixes that sort the wrong way
    names = ["20270105T160405.900000-000000", "20270105T160405-ffffff", "20270105T160405.000001-aaaaaa",
             "20270105T160404-zzzzzz", "20270105T160405.000002-000000"]
    for name in names:
        (folder / f"{name}.jsonl").write_text(text)
    listing = json.loads(gps("journal", "--json").stdout)
    assert [e["execution_id"] for e in listing] == [
        "20270105T160405.900000-000000", "20270105T160405.000002-000000", "20270105T160405.000001-aaaaaa",
        "20270105T160405-ffffff", "20270105T160404-zzzzzz"]
    assert json.loads(gps("show", "last", "--json").stdout)["execution_id"] == "20270105T160405.900000-000000"
    assert json.loads(gps("status", "--json").stdout)["execution_id"] == "20270105T160405.900000-000000"
    # an old id is still found by its prefix
    assert json.loads(gps("show", "20270105T160404", "--json").stdout)["execution_id"] == "20270105T160404-zzzzzz"


def test_last_is_the_newest_of_two_executions_started_in_the_same_second(env, strategy):
    ids = [json.loads(gps("execute", "--venue", "dryrun", "--combo", "never", "--json", "--quiet", strategy).stdout)["execution_id"]
           for _ in range(3)]
    assert sorted(ids) == ids  # new ids sort by time even as plain strings
    assert json.loads(gps("show", "last", "--json").stdout)["execution_id"] == ids[-1]
    assert [e["execution_id"] for e in json.loads(gps("journal", "--json").stdout)] == ids[::-1]


# --- checks that need no quote run before any venue is asked; quote and execute agree ---


@pytest.mark.parametrize("command", [["quote"], ["execute", "--yes"]])
@pytest.mark.parametrize("value", ["150", "100", "-1"])
def test_slippage_out_of_bounds_is_refused_before_any_venue_is_asked(fake_deribit, command, value):
    result = gps(*command, "--venue", "deribit", "--max-slippage", value, "--leg", deribit_leg(fake_deribit))
    assert result.exit_code == 2
    # One range message whichever side the value is out on.
    assert result.stderr == f"gps: error: --max-slippage must be at least 0% and below 100%, got {value}%\n"
    assert sum(fake_deribit.state.calls.values()) == 0  # the venue's own request log: nothing reached it


def test_live_refusals_that_need_no_quote_come_before_any_venue_is_asked(fake_deribit, tmp_path):
    leg = deribit_leg(fake_deribit)
    unconfirmed = gps("execute", "--leg", leg)  # no terminal and no --yes
    assert unconfirmed.exit_code == 2
    assert unconfirmed.stderr == "gps: error: live orders need confirmation: re-run with --yes\n"
    from gps_core.instruments import OptionKey

    key = OptionKey.parse(leg.split()[-1])
    log = tmp_path / "log.json"
    log.write_text(json.dumps({"inputs": {"symbol": "BTC"}, "no_trade": True, "no_trade_reason": "edge below costs",
                               "best_match": {"expiry": key.expiry.isoformat(), "legs": [
                                   {"action": "BUY", "qty": "0.1", "option_type": "call", "strike": str(key.strike)}]}}))
    no_trade = gps("execute", "--yes", log)
    assert no_trade.exit_code == 2
    assert no_trade.stderr == ("gps: error: the decision log says no trade (edge below costs); "
                               "pass --force to execute anyway\n")
    assert sum(fake_deribit.state.calls.values()) == 0  # the venue's request log: nothing asked, nothing sent


def test_every_venue_down_is_exit_1_in_quote_as_in_execute(env, monkeypatch):
    pytest.importorskip("gps_venue_deribit")
    monkeypatch.setenv("GPS_LOAD_PLUGINS", "deribit")
    monkeypatch.setenv("DERIBIT_BASE_URL", f"http://127.0.0.1:{_closed_port()}")
    leg = "buy 0.1 BTC-25JUN27-95000-C"
    quote = gps("quote", "--venue", "deribit", "--leg", leg)
    execute = gps("execute", "--venue", "deribit", "--yes", "--leg", leg,
                  env={"DERIBIT_CLIENT_ID": "id", "DERIBIT_CLIENT_SECRET": "secret"})
    assert quote.exit_code == execute.exit_code == 1
    why = "leg 1 (buy 0.1 BTC-25JUN27-95000-C) cannot be routed: deribit: quote failed: could not connect to 127.0.0.1:"
    assert quote.stdout.rstrip().splitlines()[-1].startswith(f"No plan: {why}")
    assert execute.stderr.splitlines()[-1].startswith(f"gps: error: {why}")


def test_close_refuses_slippage_out_of_bounds_before_asking_the_venue(fake_deribit):
    opened = gps("execute", "--yes", "--quiet", "--leg", deribit_leg(fake_deribit))
    assert opened.exit_code == 0, opened.output
    calls, placed = sum(fake_deribit.state.calls.values()), sum(fake_deribit.state.placed.values())
    result = gps("close", "--yes", "--max-slippage", "100")
    assert result.exit_code == 2
    assert result.stderr == "gps: error: --max-slippage must be at least 0% and below 100%, got 100%\n"
    assert sum(fake_deribit.state.calls.values()) == calls and sum(fake_deribit.state.placed.values()) == placed


def test_an_unlisted_leg_is_exit_2_in_quote_as_in_execute(fake_deribit):
    listed = deribit_leg(fake_deribit).split()[-1]
    unlisted = "-".join(listed.split("-")[:2] + ["12345", "C"])
    leg = f"buy 0.1 {unlisted}"
    quote = gps("quote", "--venue", "deribit", "--leg", leg)
    execute = gps("execute", "--venue", "deribit", "--yes", "--leg", leg)
    assert quote.exit_code == execute.exit_code == 2
    why = f"leg 1 (buy 0.1 {unlisted}) cannot be routed: deribit: "
    assert quote.stdout.rstrip().splitlines()[-1].startswith(f"No plan: {why}")
    assert execute.stderr.splitlines()[-1].startswith(f"gps: error: {why}")
    as_json = gps("quote", "--venue", "deribit", "--json", "--leg", leg)
    assert as_json.exit_code == 2 and json.loads(as_json.stdout)["error"].startswith(why)
    assert sum(fake_deribit.state.placed.values()) == 0


# --- wording: money, plurals ------------------------------------------------------------


def test_negative_usd_amounts_read_minus_dollar_and_one_leg_is_singular(env):
    leg = "sell 0.1 BTC-25JUN27-95000-C"  # a credit: the net cost is negative
    quote = gps("quote", "--venue", "dryrun", "--leg", leg)
    assert quote.exit_code == 0, quote.output
    assert "Plan for command-line legs (1 leg, max slippage 2.00%):" in quote.stdout
    assert "Expected net cost: -$" in quote.stdout and "$-" not in quote.stdout
    done = gps("execute", "--venue", "dryrun", "--combo", "never", "--leg", leg)
    assert done.exit_code == 0, done.output
    assert "Net cost: -$" in done.stdout and "$-" not in done.stdout + done.stderr
    assert "(1 leg, max slippage" in done.stderr
    shown = gps("show", "last")
    assert "Net cost: -$" in shown.stdout and "$-" not in shown.stdout


def test_an_ambiguous_prefix_says_how_many_executions_match(env, strategy):
    for _ in range(2):
        assert gps("execute", "--venue", "dryrun", "--combo", "never", "--quiet", strategy).exit_code == 0
    result = gps("show", "2")
    assert result.exit_code == 2
    assert result.stderr == "gps: error: 2 executions match '2'; see `gps journal`\n"
    assert gps("show", "nope").stderr == "gps: error: no execution matches 'nope'; see `gps journal`\n"


# --- one spelling of "cancelled" in every output ----------------------------------------


def _kept_partial(strategy):
    return gps("execute", "--venue", "dryrun", "--combo", "never", "--timeout", "0.3", "--on-partial", "keep", strategy,
               env={"GPS_DRYRUN_FAULTS": "never_fill@*-100000-C"})


def test_cancelled_is_spelled_one_way_in_every_output(env, strategy):
    outputs = []
    for as_json in ([], ["--json"]):
        run = gps("execute", "--venue", "dryrun", "--combo", "never", "--timeout", "0.3", "--on-partial", "keep", *as_json, strategy,
                  env={"GPS_DRYRUN_FAULTS": "never_fill@*-100000-C"})
        assert run.exit_code == 1
        outputs += [run.stdout, run.stderr]
        for command in (["status"], ["show"], ["cancel"], ["journal"], ["recover"]):
            result = gps(*command, *as_json)
            outputs += [result.stdout, result.stderr]
    text = "\n".join(outputs)
    assert "cancelled" in text
    assert "canceled" not in text.lower().replace("cancelled", "")
    assert "CANCELLED" not in text  # the status columns are lower case like the venues' own
    status = json.loads(gps("status", "--json").stdout)
    assert sorted((o["journal_state"], o["venue_status"]) for o in status["orders"]) == [
        ("cancelled", "cancelled"), ("filled", "filled")]


def test_a_journal_that_spelled_it_canceled_still_reads(env, strategy):
    assert _kept_partial(strategy).exit_code == 1
    path = next((env / "home" / "journal").glob("*.jsonl"))
    old = path.read_text().replace('"state":"cancelled"', '"state":"canceled"')
    assert '"canceled"' in old
    path.write_text(old)
    status = json.loads(gps("status", "--json").stdout)
    assert sorted(o["journal_state"] for o in status["orders"]) == ["cancelled", "filled"]
    assert gps("recover").exit_code == 0


# --- help text is plain text ------------------------------------------------------------


def _commands(group, path=()):
    import click

    yield path
    if isinstance(group, click.Group):
        for name, command in group.commands.items():
            yield from _commands(command, (*path, name))


def test_no_help_text_shows_markup_backticks():
    paths = list(_commands(cli))
    assert ("show",) in paths and ("venues", "certify") in paths
    for path in paths:
        result = gps(*path, "--help")
        assert result.exit_code == 0, path
        assert "`" not in result.stdout, (path, [line for line in result.stdout.splitlines() if "`" in line])


# --- gps quote: progress on stderr, short notes ------------------------------------------


def _closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_quote_says_what_it_asks_and_which_venue_answered_with_short_notes(fake_deribit, monkeypatch):
    pytest.importorskip("gps_venue_aevo")
    port = _closed_port()
    monkeypatch.setenv("GPS_LOAD_PLUGINS", "deribit,aevo")
    monkeypatch.setenv("AEVO_BASE_URL", f"http://127.0.0.1:{port}/some/long/path/that/is/not/worth/reading")
    result = gps("quote", "--venue", "deribit,aevo", "--leg", deribit_leg(fake_deribit))
    assert result.exit_code == 0, result.output
    progress = result.stderr.splitlines()
    assert progress[0] == "gps: fetching quotes for 1 leg from deribit, aevo"
    assert sorted(progress[1:]) == [  # in the order the venues answer
        f"gps: aevo did not answer: could not connect to 127.0.0.1:{port} (ConnectionError)",
        "gps: deribit answered: lists 1 of 1 leg"]
    rows = json.loads(gps("quote", "--quiet", "--json", "--venue", "deribit,aevo", "--leg",
                          deribit_leg(fake_deribit)).stdout)["quotes"]
    notes = {r["venue"]: r["note"] for r in rows}
    assert notes == {"deribit": None,
                     "aevo": f"quote failed: could not connect to 127.0.0.1:{port} (ConnectionError)"}
    table = result.stdout.split("\n\n")[0].splitlines()
    assert table[-1].endswith(notes["aevo"]) or table[-2].endswith(notes["aevo"])
    assert "/some/long/path" not in result.stdout + result.stderr


def test_quote_quiet_prints_no_progress(env):
    result = gps("quote", "--quiet", "--venue", "dryrun", "--leg", "buy 0.1 BTC-25JUN27-95000-C")
    assert result.exit_code == 0 and result.stderr == ""
    loud = gps("quote", "--venue", "dryrun", "--leg", "buy 0.1 BTC-25JUN27-95000-C")
    assert loud.stderr.splitlines() == ["gps: fetching quotes for 1 leg from dryrun",
                                        "gps: dryrun answered: lists 1 of 1 leg"]


# --- kept partials name what is held; an unwind shows what it cost ----------------------


def _store_orders(env) -> dict:
    book = json.loads((env / "home" / "dryrun" / "orders.json").read_text())
    return {o["client_order_id"]: o for o in book["orders"]}


def _cash(order: dict) -> "Decimal":
    from decimal import Decimal

    sign = 1 if order["side"] == "buy" else -1
    return sum((sign * Decimal(f["price"]) * Decimal(f["quantity"]) + Decimal(f["fee"]) for f in order["fills"]),
               Decimal(0))


def test_a_kept_partial_names_instruments_sides_and_quantities_per_venue(env, strategy):
    result = _kept_partial(strategy)
    assert result.exit_code == 1
    warning = [line for line in result.stdout.splitlines() if "KEPT" in line]
    store = _store_orders(env)
    filled = [o for o in store.values() if o["status"] == "filled"]
    assert len(filled) == 1  # at the venue's book of record: exactly the leg that is held
    held = "long" if filled[0]["side"] == "buy" else "short"
    quantity = format(sum(__import__("decimal").Decimal(f["quantity"]) for f in filled[0]["fills"]).normalize(), "f")
    assert warning == [f"WARNING: filled legs KEPT (--on-partial keep), you hold them now: "
                       f"dryrun: {held} {quantity} {filled[0]['symbol']}"]
    assert "gps-" not in warning[0]
    report = json.loads(gps("show", "--json").stdout)["report"]
    assert [(p["venue"], p["instrument"], p["side"], p["quantity"]) for p in report["kept_positions"]] == [
        ("dryrun", filled[0]["symbol"], filled[0]["side"], quantity)]


def test_an_unwind_shows_the_cost_it_realised(env, strategy):
    from decimal import Decimal

    result = gps("execute", "--venue", "dryrun", "--combo", "never", "--json", "--quiet", "--timeout", "0.3", strategy,
                 env={"GPS_DRYRUN_FAULTS": "never_fill@*-100000-C"})
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert len(report["unwinds"]) == 1 and report["unwinds"][0]["status"] == "filled"
    store = _store_orders(env)
    leg = store[next(o["client_order_id"] for o in report["legs"] if o["status"] == "filled")]
    unwind = store[report["unwinds"][0]["client_order_id"]]
    expected = (_cash(leg) + _cash(unwind)).quantize(Decimal("0.01"))  # what the venue says the round trip cost
    assert expected > 0
    assert Decimal(report["totals"]["unwind_realised_usd"]) == expected
    text = gps("show", "last").stdout
    assert f"Unwind cost: ${expected} realised by the unwind round trips" in text


def test_quote_progress_names_a_venue_it_did_not_ask(fake_deribit, monkeypatch):
    pytest.importorskip("gps_venue_aevo")
    monkeypatch.setenv("GPS_LOAD_PLUGINS", "deribit,aevo")
    monkeypatch.setenv("AEVO_BASE_URL", f"http://127.0.0.1:{_closed_port()}")
    code = sorted({n.split("-")[1] for n in fake_deribit.state.instrument_names("SOL_USDC")})[0]
    strikes = sorted({n.split("-")[2] for n in fake_deribit.state.instrument_names("SOL_USDC") if f"-{code}-" in n})
    leg = f"buy 1 SOL-{code}-{strikes[0]}-C"
    result = gps("quote", "--venue", "deribit,aevo", "--leg", leg)
    progress = result.stderr.splitlines()
    assert "gps: aevo not asked: does not trade SOL options" in progress
    assert "gps: deribit answered: lists 1 of 1 leg" in progress


def test_show_json_of_a_journal_that_spelled_it_canceled_uses_the_one_spelling(env, strategy):
    assert _kept_partial(strategy).exit_code == 1
    path = next((env / "home" / "journal").glob("*.jsonl"))
    old = path.read_text().replace('"cancelled"', '"canceled"')
    assert '"canceled"' in old
    path.write_text(old)
    shown = gps("show", "last", "--json")
    assert shown.exit_code == 0 and '"cancelled"' in shown.stdout and '"canceled"' not in shown.stdout
