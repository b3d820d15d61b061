"""``gps positions`` and ``gps close`` through the CLI, on the paper venue and both real venues' fakes.

Every assertion about what is held is made at the venue's book of record: the dryrun venue's
paper store, the fake Deribit's trades, the fake Aevo's account positions — never on gps's
own journal.
"""

import json
from decimal import Decimal

import pytest
from click.testing import CliRunner

from gps_core.cli import cli
from gps_core.instruments import OptionKey

deribit_fake = pytest.importorskip("gps_venue_deribit.testing.fake_server")
aevo_fake = pytest.importorskip("gps_venue_aevo.testing.fake_server")
dryrun = pytest.importorskip("gps_venue_dryrun")

D = Decimal


def gps(*args):
    return CliRunner().invoke(cli, list(args))


@pytest.fixture
def venues(tmp_path, monkeypatch):
    deribit = deribit_fake.FakeDeribit().start()
    aevo_state = aevo_fake.FakeAevo()
    aevo = aevo_fake.serve(aevo_state)
    account = aevo_state.create_account()
    env = {"GPS_HOME": str(tmp_path / "home"), "GPS_LOAD_PLUGINS": "dryrun,deribit,aevo",
           "DERIBIT_BASE_URL": deribit.url, "DERIBIT_CLIENT_ID": deribit.state.client_id,
           "DERIBIT_CLIENT_SECRET": deribit.state.client_secret, "AEVO_BASE_URL": aevo.url,
           "DERIBIT_READ_TIMEOUT": "2", "AEVO_READ_TIMEOUT": "2", **account}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("GPS_DRYRUN_FAULTS", raising=False)
    monkeypatch.delenv("GPS_PAPER_FAULTS", raising=False)
    yield deribit.state, aevo_state, account["AEVO_API_KEY"], tmp_path / "home"
    deribit.stop()
    aevo.stop()


def common_calls(deribit, aevo):
    on_deribit = {OptionKey.parse(n): n for n in deribit.instrument_names("BTC")}
    on_aevo = {OptionKey.parse(n): n for n in aevo.option_names("BTC", call=True)}
    keys = sorted(set(on_deribit) & set(on_aevo), key=lambda k: (k.expiry, k.strike))
    middle = len(keys) // 2
    return [(k, on_deribit[k], on_aevo[k]) for k in keys[middle:middle + 2]]


def open_strategy(venue, k1, k2):
    result = gps("execute", "--venue", venue, "--yes", "--json", "--quiet",
                 "--leg", f"buy 0.2 {k1.name}", "--leg", f"sell 0.1 {k2.name}")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)["execution_id"]


def positions(venue):
    result = gps("positions", "--venue", venue, "--json")
    assert result.exit_code == 0, result.stderr
    (answer,) = json.loads(result.stdout)["venues"]
    return {p["instrument"]: p for p in answer["positions"]}


# --- books of record -----------------------------------------------------------------------


def dryrun_held(home) -> dict:
    broker = dryrun.DryRunVenue(environ={"GPS_HOME": str(home)}).broker()
    return {p.symbol: p.quantity for p in broker.positions()}


def dryrun_open_orders(home) -> list:
    broker = dryrun.DryRunVenue(environ={"GPS_HOME": str(home)}).broker()
    return [o for o in broker.orders() if o.status.value == "open"]


def deribit_open_orders(deribit) -> list:
    return [o for o in deribit.orders.values() if o["order_state"] == "open"]


def aevo_open_orders(aevo) -> list:
    return [o for o in aevo.orders.values() if o["order_status"] in ("opened", "partial")]


# --- the paper venue -------------------------------------------------------------------------


def dryrun_keys():
    return OptionKey.parse("BTC-25JUN27-95000-C"), OptionKey.parse("BTC-25JUN27-100000-C")


def test_paper_open_positions_close_flat(venues):
    *_, home = venues
    k1, k2 = dryrun_keys()
    execution = open_strategy("dryrun", k1, k2)
    held = positions("dryrun")
    assert {n: D(p["quantity"]) for n, p in held.items()} == {k1.name: D("0.2"), k2.name: D("-0.1")}
    assert held[k1.name]["executions"] == [{"execution_id": execution, "quantity": "0.2"}]
    assert held[k1.name]["price_currency"] == "USD" and held[k1.name]["mark_price"] is not None
    assert held[k1.name]["unrealized_pnl_usd"] is not None
    result = gps("close", "last", "--yes", "--json", "--quiet")
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["close"]["closes"] == execution and out["report"]["all_filled"]
    assert dryrun_held(home) == {} and dryrun_open_orders(home) == []
    started = json.loads(gps("show", out["execution_id"], "--json").stdout)["events"][0]
    assert started["event"] == "execution_started" and started["closes"] == execution
    again = gps("close", execution)
    assert again.exit_code == 0 and again.stdout.strip() == f"Execution {execution} holds nothing to close."
    assert gps("positions", "--venue", "dryrun").stdout.strip() == "dryrun: no open positions"


def test_paper_partial_close_with_leg(venues):
    *_, home = venues
    k1, k2 = dryrun_keys()
    execution = open_strategy("dryrun", k1, k2)
    result = gps("close", execution, "--leg", f"{k1.name}:0.05", "--yes", "--quiet")
    assert result.exit_code == 0, result.stderr
    assert dryrun_held(home) == {k1.name: D("0.15"), k2.name: D("-0.1")}
    held = positions("dryrun")
    assert held[k1.name]["executions"] == [{"execution_id": execution, "quantity": "0.15"}]
    assert gps("close", execution, "--leg", k2.name, "--yes", "--quiet").exit_code == 0
    assert dryrun_held(home) == {k1.name: D("0.15")}


def test_close_refuses_more_than_held_and_unknown_legs(venues):
    *_, home = venues
    k1, k2 = dryrun_keys()
    execution = open_strategy("dryrun", k1, k2)
    before = len(dryrun.DryRunVenue(environ={"GPS_HOME": str(home)}).broker().orders())
    too_much = gps("close", execution, "--leg", f"{k1.name}:0.3", "--yes")
    assert too_much.exit_code == 2 and "never more than is held" in too_much.stderr
    unknown = gps("close", execution, "--leg", "BTC-1JAN20-1000-C", "--yes")
    assert unknown.exit_code == 2 and "holds no such instrument" in unknown.stderr
    malformed = gps("close", execution, "--leg", f"{k1.name}:-1", "--yes")
    assert malformed.exit_code == 2 and "positive number" in malformed.stderr
    assert len(dryrun.DryRunVenue(environ={"GPS_HOME": str(home)}).broker().orders()) == before


def test_close_dry_run_sends_and_journals_nothing(venues):
    *_, home = venues
    k1, k2 = dryrun_keys()
    open_strategy("dryrun", k1, k2)
    journals = sorted((home / "journal").glob("*.jsonl"))
    result = gps("close", "--dry-run", "--json")
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert {leg["instrument"]: leg["side"] for leg in out["close"]["legs"]} == {k1.name: "sell", k2.name: "buy"}
    assert out["plan"]["legs"] and out["report"] is None
    assert sorted((home / "journal").glob("*.jsonl")) == journals
    assert dryrun_held(home) == {k1.name: D("0.2"), k2.name: D("-0.1")}


# --- the real venues' fakes --------------------------------------------------------------------


def test_deribit_open_positions_close_flat(venues):
    deribit, aevo, _, _ = venues
    (k1, d1, _), (k2, d2, _) = common_calls(deribit, aevo)
    execution = open_strategy("deribit", k1, k2)
    held = positions("deribit")
    assert {n: D(p["quantity"]) for n, p in held.items()} == {d1: D("0.2"), d2: D("-0.1")}
    assert held[d1]["price_currency"] == "BTC" and held[d1]["executions"][0]["execution_id"] == execution
    assert held[d1]["unrealized_pnl_usd"] is not None
    result = gps("close", "last", "--yes", "--json", "--quiet")
    assert result.exit_code == 0, result.stderr
    assert deribit.position_of(d1) == 0 and deribit.position_of(d2) == 0
    assert deribit_open_orders(deribit) == []
    closing = [o for o in deribit.orders.values() if o["label"].startswith(f"gps-{json.loads(result.stdout)['execution_id']}")]
    assert len(closing) == 2 and all(o["reduce_only"] for o in closing)
    assert positions("deribit") == {}


def test_aevo_open_positions_close_flat(venues):
    deribit, aevo, api_key, _ = venues
    (k1, _, a1), (k2, _, a2) = common_calls(deribit, aevo)
    execution = open_strategy("aevo", k1, k2)
    held = positions("aevo")
    assert {n: D(p["quantity"]) for n, p in held.items()} == {a1: D("0.2"), a2: D("-0.1")}
    assert held[a1]["price_currency"] == "USD" and held[a1]["executions"][0]["execution_id"] == execution
    result = gps("close", "last", "--yes", "--json", "--quiet")
    assert result.exit_code == 0, result.stderr
    assert aevo.position_of(api_key, a1) == 0 and aevo.position_of(api_key, a2) == 0
    assert aevo_open_orders(aevo) == []
    assert all(o["reduce_only"] for o in aevo.orders.values() if o["side"] == "sell" and o["instrument_name"] == a1)
    assert positions("aevo") == {}


def test_close_goes_to_the_venue_holding_each_leg(venues):
    deribit, aevo, api_key, _ = venues
    (k1, d1, a1), (k2, d2, a2) = common_calls(deribit, aevo)
    aevo.market(a1).asks = [[price * 3, amount] for price, amount in aevo.market(a1).asks]  # leg 1: Deribit
    deribit.instrument(d2).bids = [[price / 3, amount] for price, amount in deribit.instrument(d2).bids]  # leg 2: Aevo
    execution = open_strategy("auto", k1, k2)
    assert deribit.position_of(d1) == D("0.2") and aevo.position_of(api_key, a2) == D("-0.1")
    # Now the other venue is cheaper for each close: the close must still go where the leg is held.
    deribit.instrument(d2).asks = [[price / 3, amount] for price, amount in deribit.instrument(d2).asks]
    aevo.market(a1).bids = [[price * 3, amount] for price, amount in aevo.market(a1).bids]
    preview = gps("close", execution, "--dry-run")
    assert preview.exit_code == 0, preview.output
    # Selling a held long is no new short: no split-cover warning, and none naming options close lacks.
    assert "covered by" not in preview.output and "--one-venue" not in preview.output, preview.output
    result = gps("close", execution, "--yes", "--json", "--quiet")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)["report"]
    assert [(leg["venue"], leg["instrument"]) for leg in report["legs"]] == [("aevo", a2), ("deribit", d1)]
    assert deribit.position_of(d1) == 0 and aevo.position_of(api_key, a2) == 0
    assert deribit.position_of(d2) == 0 and aevo.position_of(api_key, a1) == 0  # nothing opened elsewhere
    all_json = json.loads(gps("positions", "--json").stdout)
    assert all(v["positions"] == [] for v in all_json["venues"])


def test_close_never_sends_more_than_the_venue_holds(venues):
    deribit, aevo, _, _ = venues
    (k1, d1, _), (k2, d2, _) = common_calls(deribit, aevo)
    execution = open_strategy("deribit", k1, k2)
    # Someone sells 0.1 of the long leg outside gps: Deribit now holds 0.1, the journal says 0.2.
    bid = deribit.instrument(d1).bids[0][0]
    deribit.place("sell", {"instrument_name": d1, "amount": "0.1", "price": str(bid), "label": "by-hand"})
    assert deribit.position_of(d1) == D("0.1")
    result = gps("close", execution, "--yes", "--json")
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    leg = next(leg for leg in out["close"]["legs"] if leg["instrument"] == d1)
    assert leg["quantity"] == "0.1" and leg["journal_quantity"] == "0.2" and leg["venue_quantity"] == "0.1"
    assert "holds 0.1" in result.stderr
    closing = [o for o in deribit.orders.values() if o["label"].startswith(f"gps-{out['execution_id']}")
               and o["instrument_name"] == d1]
    assert [o["amount"] for o in closing] == [D("0.1")]
    assert deribit.position_of(d1) == 0 and deribit.position_of(d2) == 0  # flat, never short
    assert deribit_open_orders(deribit) == []


def test_positions_needs_credentials_like_execute(venues, monkeypatch):
    monkeypatch.delenv("DERIBIT_CLIENT_SECRET")
    result = gps("positions", "--venue", "deribit")
    assert result.exit_code == 1 and "DERIBIT_CLIENT_SECRET" in result.stdout
    assert "Traceback" not in result.output


def test_the_readme_positions_commands_run_as_written(venues, monkeypatch):
    """Every ``gps`` line of the README's "Positions and closing" block, in order, exits 0."""
    *_, home = venues
    monkeypatch.setenv("GPS_LOAD_PLUGINS", "dryrun")
    readme = (pytest.importorskip("pathlib").Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = readme.split("### Positions and closing", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    import shlex

    commands = [shlex.split(line.split("  #")[0]) for line in block.splitlines() if line.startswith("gps ")]
    assert len(commands) == 6
    for command in commands:
        result = gps(*command[1:])
        assert result.exit_code == 0, (command, result.output)
    assert dryrun_held(home) == {}


def test_close_sends_nothing_when_the_venue_cannot_say_what_it_holds(venues):
    deribit, aevo, _, _ = venues
    (k1, d1, _), (k2, d2, _) = common_calls(deribit, aevo)
    execution = open_strategy("deribit", k1, k2)
    placed = sum(deribit.placed.values())
    deribit.faults.inject("garbage", method="private/get_positions", times=20)
    result = gps("close", execution, "--yes")
    assert result.exit_code == 1 and result.stderr.startswith("gps: error: ") and len(result.stderr.splitlines()) == 1
    assert sum(deribit.placed.values()) == placed
    assert deribit.position_of(d1) == D("0.2") and deribit.position_of(d2) == D("-0.1")
    down = gps("positions", "--venue", "deribit")
    assert down.exit_code == 1 and "deribit: could not ask for positions" in down.stdout


def test_bad_leg_is_refused_before_anything_is_read(gps_home):
    result = gps("close", "--leg", "BTC-25JUN27-95000-C:lots")
    assert result.exit_code == 2 and result.stderr.strip() == (
        "gps: error: --leg 'BTC-25JUN27-95000-C:lots': 'lots' is not a number")


def test_a_dry_run_execution_is_shown_and_closed_on_its_simulation(venues, monkeypatch):
    deribit, aevo, _, home = venues
    for name in ("DERIBIT_CLIENT_ID", "DERIBIT_CLIENT_SECRET"):
        monkeypatch.delenv(name)
    (k1, d1, _), (k2, d2, _) = common_calls(deribit, aevo)
    opened = gps("execute", "--dry-run", "--venue", "deribit", "--json", "--quiet",
                 "--leg", f"buy 0.2 {k1.name}", "--leg", f"sell 0.1 {k2.name}")
    assert opened.exit_code == 0, opened.stderr
    execution = json.loads(opened.stdout)["execution_id"]
    shown = json.loads(gps("positions", "--venue", "deribit", "--json").stdout)["venues"]
    simulated = next(v for v in shown if v["venue"] == "deribit (dry-run)")
    assert {p["instrument"]: p["executions"][0]["execution_id"] for p in simulated["positions"]} == {
        d1: execution, d2: execution}
    closed = gps("close", "last", "--json", "--quiet")
    assert closed.exit_code == 0, closed.stderr
    assert json.loads(closed.stdout)["report"]["mode"] == "dry-run"
    from gps_core.paper import PaperBroker

    assert PaperBroker(home / "paper" / "deribit.json", "deribit").positions() == []  # the simulation's record
    assert sum(deribit.placed.values()) == 0 and deribit.position_of(d1) == 0  # nothing reached Deribit


def test_aevo_close_never_sends_more_than_aevo_holds(venues):
    deribit, aevo, api_key, _ = venues
    (k1, _, a1), (k2, _, a2) = common_calls(deribit, aevo)
    execution = open_strategy("aevo", k1, k2)
    # Part of the short leg is gone outside gps (bought back by hand): Aevo's record says -0.04.
    account = aevo.accounts[api_key]
    market = next(m for m in aevo.markets.values() if m.name == a2)
    account.positions[market.instrument_id] = D("-0.04")
    result = gps("close", execution, "--leg", a2, "--yes", "--json")
    assert result.exit_code == 0, result.stderr
    (leg,) = json.loads(result.stdout)["close"]["legs"]
    assert (leg["quantity"], leg["journal_quantity"], leg["venue_quantity"]) == ("0.04", "-0.1", "-0.04")
    sent = [o for o in aevo.orders.values() if o["instrument_name"] == a2 and o["side"] == "buy"]
    assert [D(o["amount"]) for o in sent] == [D("0.04")] and sent[0]["reduce_only"]
    assert aevo.position_of(api_key, a2) == 0 and aevo.position_of(api_key, a1) == D("0.2")  # the other leg stays
    assert aevo_open_orders(aevo) == []


def test_a_partly_filled_close_keeps_what_closed_and_a_second_close_finishes(venues):
    deribit, aevo, _, _ = venues
    (k1, d1, _), (k2, d2, _) = common_calls(deribit, aevo)
    execution = open_strategy("deribit", k1, k2)
    deribit.faults.inject("partial", method="private/sell", fraction="0.5")  # the long leg's close half fills
    first = gps("close", execution, "--tif", "ioc", "--yes", "--json", "--quiet")
    assert first.exit_code == 1, first.output  # incomplete, and said so
    report = json.loads(first.stdout)["report"]
    assert report["unwinds"] == [] and not report["all_filled"]  # a close never unwinds what it closed
    assert deribit.position_of(d1) == D("0.1") and deribit.position_of(d2) == 0
    assert deribit_open_orders(deribit) == []
    held = positions("deribit")
    assert held[d1]["executions"] == [{"execution_id": execution, "quantity": "0.1"}]
    second = gps("close", execution, "--yes", "--json", "--quiet")
    assert second.exit_code == 0, second.output
    assert [(leg["instrument"], leg["quantity"]) for leg in json.loads(second.stdout)["close"]["legs"]] == [(d1, "0.1")]
    assert deribit.position_of(d1) == 0 and deribit.position_of(d2) == 0 and deribit_open_orders(deribit) == []


def test_a_close_without_a_terminal_or_yes_is_refused_before_any_venue_is_asked(venues):
    deribit, aevo, api_key, _ = venues
    (k1, _, a1), (k2, _, a2) = common_calls(deribit, aevo)
    execution = open_strategy("aevo", k1, k2)
    asked = len(aevo.requests)
    result = gps("close", execution)
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == ("gps: error: live orders need confirmation: re-run with --yes "
                                     "(nothing was asked of any venue)")
    assert result.stdout == ""  # no plan
    assert len(aevo.requests) == asked  # neither positions nor quotes were asked
    assert aevo.position_of(api_key, a1) == D("0.2") and aevo.position_of(api_key, a2) == D("-0.1")


def test_two_closes_of_one_execution_on_aevo_sell_it_once(venues, monkeypatch):
    """Shell 1's `gps close A` is planned (it waits at the prompt); shell 2's `gps close A --yes` fills;
    shell 1 goes on: under the lock A holds nothing, so nothing is sent and B's position stays."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    import gps_core.execution as execution_module

    deribit, aevo, api_key, _ = venues
    (k1, _, a1), _ = common_calls(deribit, aevo)
    ids = []
    for _ in range(2):
        opened = gps("execute", "--venue", "aevo", "--yes", "--json", "--quiet", "--leg", f"buy 0.1 {k1.name}")
        assert opened.exit_code == 0, opened.stderr
        ids.append(json.loads(opened.stdout)["execution_id"])
    a, b = ids
    assert aevo.position_of(api_key, a1) == D("0.2")
    original, raced = execution_module.take_turn, []

    def other_close_first(ctx, **kwargs):
        if not raced:
            raced.append(subprocess.run([str(Path(sys.executable).with_name("gps")), "close", a, "--yes", "--quiet"],
                                        env=dict(os.environ), capture_output=True, text=True, timeout=120))
        return original(ctx, **kwargs)

    monkeypatch.setattr(execution_module, "take_turn", other_close_first)
    late = gps("close", a, "--yes")
    assert raced[0].returncode == 0, raced[0].stderr
    assert late.exit_code == 2 and f"execution {a} holds nothing to close" in late.stderr, late.output
    assert aevo.position_of(api_key, a1) == D("0.1")  # B's
    sells = [o for o in aevo.orders.values() if o["instrument_name"] == a1 and o["side"] == "sell"]
    assert len(sells) == 1 and sells[0]["reduce_only"]
    assert positions("aevo")[a1]["executions"] == [{"execution_id": b, "quantity": "0.1"}]
