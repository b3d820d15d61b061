"""End to end through the CLI: a strategy whose legs all route to Deribit executes as ONE order on
the fake Deribit's combo book (asserted at the fake's book of record), fills on every leg, and a
combo that does not fill is cancelled with nothing left open."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from importlib import metadata

import pytest

from gps_core.instruments import OptionKey

cli_module = pytest.importorskip("gps_core.cli")
from click.testing import CliRunner  # noqa: E402

pytestmark = pytest.mark.skipif(not metadata.entry_points(group="gps.venues", name="deribit"),
                                reason="gps-venue-deribit is not installed (pip install -e plugins/deribit)")


GPS = Path(sys.executable).with_name("gps")


@pytest.fixture
def env(server, tmp_path):
    return {
        "DERIBIT_BASE_URL": server.url,
        "DERIBIT_CLIENT_ID": server.state.client_id,
        "DERIBIT_CLIENT_SECRET": server.state.client_secret,
        "DERIBIT_TESTNET": None,
        "GPS_HOME": str(tmp_path / "gps-home"),
        "GPS_LOAD_PLUGINS": "deribit",
    }


def expiry(server) -> str:
    codes = sorted({n.split("-")[1] for n in server.state.instrument_names("BTC")},
                   key=lambda code: OptionKey.parse(f"BTC-{code}-1-C").expiry)
    return codes[2]


def run(env, *args):
    result = CliRunner().invoke(cli_module.cli, ["execute", "--venue", "deribit", "--yes", "--json", *args], env=env)
    return result, (json.loads(result.stdout) if result.stdout.strip().startswith("{") else None)


def assert_one_combo_order_filled(server, report, legs):
    exchange = server.state
    assert exchange.single_leg_orders() == []  # nothing was sent to the single-leg books
    (combo,) = exchange.combo_orders()
    assert combo["order_state"] == "filled"
    assert exchange.calls["private/buy"] + exchange.calls["private/sell"] == 1
    (row,) = report["legs"]
    assert row["role"] == "combo" and row["status"] == "filled" and row["venue_symbol"] == combo["instrument_name"]
    assert row["client_order_id"] == combo["label"] and exchange.order_count(combo["label"]) == 1
    assert report["totals"]["legging_window_ms"] == 0 and report["totals"]["orders_sent"] == 1
    # every leg filled, as trades on its own book, and every leg's position moved by its size
    fills = {(f["venue_symbol"], f["side"]): Decimal(f["quantity"]) for f in row["leg_fills"]}
    assert fills == {(name, side): Decimal(qty) for side, qty, name in legs}
    for side, qty, name in legs:
        assert exchange.position_of(name) == (Decimal(qty) if side == "buy" else -Decimal(qty))
    trades = exchange.user_trades(combo["order_id"])
    assert sorted(t["instrument_name"] for t in trades) == sorted(name for _, _, name in legs)
    assert all(t["combo_id"] == combo["instrument_name"] for t in trades)


def test_a_call_spread_executes_as_one_combo_order(server, env):
    code = expiry(server)
    legs = [("buy", "0.1", f"BTC-{code}-100000-C"), ("sell", "0.1", f"BTC-{code}-110000-C")]
    result, report = run(env, "--timeout", "10", *[a for s, q, n in legs for a in ("--leg", f"{s} {q} {n}")])
    assert result.exit_code == 0, result.output
    assert report["all_filled"] is True
    assert_one_combo_order_filled(server, report, legs)
    (combo,) = server.state.combo_orders()
    assert combo["instrument_name"] == f"BTC-CS-{code}-100000_110000" and combo["direction"] == "buy"
    # positions are per leg, from the venue's own record, each held by this execution
    shown = CliRunner().invoke(cli_module.cli, ["positions", "--venue", "deribit", "--json"], env=env)
    assert shown.exit_code == 0, shown.output
    (venue,) = json.loads(shown.stdout)["venues"]
    held = {p["instrument"]: (p["quantity"], [e["execution_id"] for e in p["executions"]]) for p in venue["positions"]}
    assert held == {f"BTC-{code}-100000-C": ("0.1", [report["execution_id"]]),
                    f"BTC-{code}-110000-C": ("-0.1", [report["execution_id"]])}


def test_an_iron_condor_executes_as_one_combo_order_sold_for_a_credit(server, env):
    code = expiry(server)
    legs = [("buy", "0.2", f"BTC-{code}-80000-P"), ("sell", "0.2", f"BTC-{code}-90000-P"),
            ("sell", "0.2", f"BTC-{code}-110000-C"), ("buy", "0.2", f"BTC-{code}-120000-C")]
    result, report = run(env, "--timeout", "10", *[a for s, q, n in legs for a in ("--leg", f"{s} {q} {n}")])
    assert result.exit_code == 0, result.output
    assert_one_combo_order_filled(server, report, legs)
    (combo,) = server.state.combo_orders()
    # a credit structure is asked for the other way round and sold: a positive price received
    assert combo["direction"] == "sell" and combo["amount"] == Decimal("0.2") and combo["price"] > 0
    assert Decimal(report["totals"]["net_cost_usd"]) < 0


def test_a_combo_that_does_not_fill_is_cancelled_with_nothing_left_open(server, env):
    code = expiry(server)
    low, high = f"BTC-{code}-100000-C", f"BTC-{code}-110000-C"
    combo = server.state.create_combo({"trades": [{"instrument_name": low, "amount": "1", "direction": "buy"},
                                                  {"instrument_name": high, "amount": "1", "direction": "sell"}]})
    server.state.set_combo_book(combo["id"], bids=[], asks=[])  # nobody quotes the combo: the order rests
    result, report = run(env, "--combo", "always", "--timeout", "1", "--leg", f"buy 0.1 {low}",
                         "--leg", f"sell 0.1 {high}")
    assert result.exit_code == 1, result.output
    exchange = server.state
    assert exchange.single_leg_orders() == []
    (order,) = exchange.combo_orders()
    assert order["order_state"] == "cancelled" and order["filled_amount"] == 0
    assert not [o for o in exchange.orders.values() if o["order_state"] == "open"]
    assert exchange.position_of(low) == 0 and exchange.position_of(high) == 0
    (row,) = report["legs"]
    assert row["role"] == "combo" and row["status"] in ("canceled", "cancelled") and report["residuals"] == []


def test_combo_never_legs_the_same_spread(server, env):
    code = expiry(server)
    result, report = run(env, "--combo", "never", "--timeout", "10", "--leg", f"buy 0.1 BTC-{code}-100000-C",
                         "--leg", f"sell 0.1 BTC-{code}-110000-C")
    assert result.exit_code == 0, result.output
    assert server.state.combo_orders() == [] and len(server.state.single_leg_orders()) == 2
    assert [row["role"] for row in report["legs"]] == ["leg", "leg"]


def test_status_recover_and_cancel_work_on_a_combo_execution(server, env):
    """The process dies while its combo order rests: `gps status` sees the combo order, `gps recover
    --cancel-working` cancels it (nothing left open at the fake), `gps cancel` finds nothing working."""
    code = expiry(server)
    low, high = f"BTC-{code}-100000-C", f"BTC-{code}-110000-C"
    combo = server.state.create_combo({"trades": [{"instrument_name": low, "amount": "1", "direction": "buy"},
                                                  {"instrument_name": high, "amount": "1", "direction": "sell"}]})
    server.state.set_combo_book(combo["id"], bids=[], asks=[])
    child_env = {k: v for k, v in os.environ.items() if not k.startswith(("GPS_", "DERIBIT_", "AEVO_"))}
    child_env.update({k: v for k, v in env.items() if v is not None}, GPS_CRASH_AT="monitoring")
    died = subprocess.run([str(GPS), "execute", "--venue", "deribit", "--yes", "--json", "--combo", "always",
                           "--timeout", "30", "--leg", f"buy 0.1 {low}", "--leg", f"sell 0.1 {high}"],
                          env=child_env, capture_output=True, text=True, timeout=60)
    assert died.returncode != 0
    (order,) = server.state.combo_orders()
    assert order["order_state"] == "open" and server.state.single_leg_orders() == []
    status = CliRunner().invoke(cli_module.cli, ["status", "last", "--json"], env=env)
    (row,) = json.loads(status.stdout)["orders"]
    assert row["instrument"] == combo["id"] and row["venue_status"] == "open"
    recover = CliRunner().invoke(cli_module.cli, ["recover", "--cancel-working", "--json"], env=env)
    assert recover.exit_code == 1, recover.output  # the strategy did not complete
    done = json.loads(recover.stdout)
    assert done["live"] == [] and done["unknown"] == [] and done["exposures"] == []
    (order,) = server.state.combo_orders()
    assert order["order_state"] == "cancelled"
    assert not [o for o in server.state.orders.values() if o["order_state"] == "open"]
    assert server.state.position_of(low) == 0 and server.state.position_of(high) == 0
    cancel = CliRunner().invoke(cli_module.cli, ["cancel", "last", "--json"], env=env)
    assert cancel.exit_code == 0, cancel.output


def test_quote_shows_a_listed_combo_without_credentials_and_sends_nothing(server, env):
    code = expiry(server)
    low, high = f"BTC-{code}-100000-C", f"BTC-{code}-110000-C"
    combo = server.state.create_combo({"trades": [{"instrument_name": low, "amount": "1", "direction": "buy"},
                                                  {"instrument_name": high, "amount": "1", "direction": "sell"}]})
    public_env = {**env, "DERIBIT_CLIENT_ID": None, "DERIBIT_CLIENT_SECRET": None}
    quote = CliRunner().invoke(cli_module.cli, ["quote", "--venue", "deribit", "--json", "--leg", f"buy 0.1 {low}",
                                                "--leg", f"sell 0.1 {high}"], env=public_env)
    assert quote.exit_code == 0, quote.output
    plan = json.loads(quote.stdout)["plan"]
    (chosen,) = plan["combos"]
    assert chosen["instrument"] == combo["id"] and chosen["side"] == "buy" and plan["orders"] == 1
    assert "no worse" in plan["combo_notes"][0]
    never = CliRunner().invoke(cli_module.cli, ["quote", "--venue", "deribit", "--json", "--combo", "never",
                                                "--leg", f"buy 0.1 {low}", "--leg", f"sell 0.1 {high}"], env=public_env)
    assert json.loads(never.stdout)["plan"]["combos"] == []
    assert server.state.grants == {} and server.state.orders == {}
    assert server.state.calls["private/create_combo"] == 0


def test_a_partly_filled_combo_is_unwound_leg_by_leg_reduce_only_leaving_every_leg_flat(server, env):
    """A combo filled in part is cancelled and each leg unwound reduce-only on its own book: Deribit
    documents reduce_only against an instrument's position and a combo book holds none, so no
    order is ever sent to the combo book to unwind (even with bids on it). The report realises
    the unwind's round trip per leg, from the combo's own trades and the unwinds' fills."""
    code = expiry(server)
    low, high = f"BTC-{code}-100000-C", f"BTC-{code}-110000-C"
    combo = server.state.create_combo({"trades": [{"instrument_name": low, "amount": "1", "direction": "buy"},
                                                  {"instrument_name": high, "amount": "1", "direction": "sell"}]})
    implied = server.state.combo_books[combo["id"]]
    ask, bid = implied["asks"][0][0], implied["bids"][0][0]
    server.state.set_combo_book(combo["id"], bids=[[bid, Decimal("1")]], asks=[[ask, Decimal("0.1")]])  # 0.1 of 0.2
    result, report = run(env, "--combo", "always", "--timeout", "0.5", "--leg", f"buy 0.2 {low}",
                         "--leg", f"sell 0.2 {high}")
    assert result.exit_code == 1, result.output
    exchange = server.state
    (entry,) = exchange.combo_orders()  # exactly one combo order ever: the entry
    assert entry["direction"] == "buy" and entry["filled_amount"] == Decimal("0.1") and not entry["reduce_only"]
    assert entry["order_state"] == "cancelled"
    unwinds = {(o["instrument_name"], o["direction"], o["amount"], o["reduce_only"], o["time_in_force"])
               for o in exchange.single_leg_orders()}
    assert unwinds == {(low, "sell", Decimal("0.1"), True, "immediate_or_cancel"),
                       (high, "buy", Decimal("0.1"), True, "immediate_or_cancel")}
    assert exchange.position_of(low) == 0 and exchange.position_of(high) == 0
    assert report["residuals"] == [] and [u["role"] for u in report["unwinds"]] == ["unwind", "unwind"]
    assert all(u["reduce_only"] for u in report["unwinds"])
    # unwind_realised_usd from the fake's trades: per leg, entry (the combo's trade on the leg) against exit
    usd = Decimal(report["plan"]["legs"][0]["usd_per_unit"])
    expected = Decimal(0)
    for name in (low, high):
        (leg_in,) = [t for t in exchange.user_trades(entry["order_id"]) if t["instrument_name"] == name]
        (exit_order,) = [o for o in exchange.single_leg_orders() if o["instrument_name"] == name]
        (leg_out,) = exchange.user_trades(exit_order["order_id"])
        sign = 1 if leg_in["direction"] == "buy" else -1
        expected += (sign * (leg_in["price"] - leg_out["price"]) * leg_out["amount"] + leg_in["fee"] + leg_out["fee"]) * usd
    assert report["totals"]["unwind_realised_usd"] is not None
    assert Decimal(report["totals"]["unwind_realised_usd"].replace("$", "").replace(",", "")) == expected.quantize(Decimal("0.01"))


def test_deribit_refuses_to_send_a_reduce_only_combo_order(server, client):
    """The plugin never sends reduce_only on a combo book (undocumented there): refused before sending."""
    from gps_core.errors import OrderRejected
    from gps_core.model import ComboLeg, OrderRequest, Side, TimeInForce

    code = expiry(server)
    offer = client.combos.offer([ComboLeg(f"BTC-{code}-100000-C", 1), ComboLeg(f"BTC-{code}-110000-C", -1)],
                               create=True, depth=5)
    order = OrderRequest(client_order_id="gps-test-reduce-combo", instrument=offer.instrument, side=Side.SELL,
                         quantity=Decimal("0.1"), limit_price=Decimal("0.01"), time_in_force=TimeInForce.IOC,
                         reduce_only=True)
    with pytest.raises(OrderRejected, match="reduce-only is not documented for Deribit combo books"):
        client.orders.place(order)
    assert server.state.combo_orders() == [] and server.state.calls["private/sell"] == 0


def partly_filling_combo(server, code, ask=None, offered=Decimal("0.05")):
    """A call-spread combo whose book offers only ``offered`` (the rest of a larger order rests) and bids nothing.

    Returns the two legs' names and the combo's ask."""
    low, high = f"BTC-{code}-100000-C", f"BTC-{code}-110000-C"
    combo = server.state.create_combo({"trades": [{"instrument_name": low, "amount": "1", "direction": "buy"},
                                                  {"instrument_name": high, "amount": "1", "direction": "sell"}]})
    ask = ask or server.state.combo_books[combo["id"]]["asks"][0][0]
    server.state.set_combo_book(combo["id"], bids=[], asks=[[ask, offered]])
    return low, high, ask


def test_a_kept_combo_partial_is_reported_per_leg(server, env):
    """--on-partial keep after a combo filled in part: the exposure names every leg held (long the
    bought leg, short the sold one), never the combo id, as the fake's positions show."""
    code = expiry(server)
    low, high, ask = partly_filling_combo(server, code)
    result, report = run(env, "--combo", "always", "--on-partial", "keep", "--timeout", "1",
                         "--leg", f"buy 0.1 {low}", "--leg", f"sell 0.1 {high}")
    assert result.exit_code == 1, result.output
    assert server.state.position_of(low) == Decimal("0.05") and server.state.position_of(high) == Decimal("-0.05")
    kept = {(p["instrument"], p["side"], Decimal(p["quantity"])) for p in report["kept_positions"]}
    assert kept == {(low, "buy", Decimal("0.05")), (high, "sell", Decimal("0.05"))}
    partly_filling_combo(server, code, ask)  # the same combo, its 0.05 offered again
    text = CliRunner().invoke(cli_module.cli, ["execute", "--venue", "deribit", "--yes", "--combo", "always",
                                               "--on-partial", "keep", "--timeout", "1", "--leg", f"buy 0.1 {low}",
                                               "--leg", f"sell 0.1 {high}"], env=env).output
    assert f"long 0.05 {low}, short 0.05 {high}" in text


def test_a_combo_left_unflat_names_every_leg_still_held(server, env):
    """The unwind of a part-filled combo finds no book (neither the combo's bids nor the legs' own):
    the residuals and the NOT FLAT warning name each leg held, with its
    side and size, as the fake's positions show; never the combo id as one position."""
    code = expiry(server)
    low, high, ask = partly_filling_combo(server, code)
    server.state.instruments[low].bids = []  # nobody buys the long leg back
    server.state.instruments[high].asks = []  # nobody sells the short leg back
    result, report = run(env, "--combo", "always", "--timeout", "1", "--leg", f"buy 0.1 {low}",
                         "--leg", f"sell 0.1 {high}")
    assert result.exit_code == 1, result.output
    assert server.state.position_of(low) == Decimal("0.05") and server.state.position_of(high) == Decimal("-0.05")
    held = {(r["instrument"], r["side"], Decimal(r["quantity"])) for r in report["residuals"]}
    assert held == {(low, "buy", Decimal("0.05")), (high, "sell", Decimal("0.05"))}
    partly_filling_combo(server, code, ask)
    text = CliRunner().invoke(cli_module.cli, ["execute", "--venue", "deribit", "--yes", "--combo", "always",
                                               "--timeout", "1", "--leg", f"buy 0.1 {low}",
                                               "--leg", f"sell 0.1 {high}"], env=env).output
    assert f"you still hold long 0.05 {low}" in text and f"you still hold short 0.05 {high}" in text
    assert "BTC-CS-" not in " ".join(line for line in text.splitlines() if "NOT FLAT" in line)


def test_recover_names_every_leg_a_part_filled_combo_holds(server, env):
    """The process dies while its part-filled combo order rests: `gps recover --cancel-working`
    cancels it and reports the exposure per leg, as the fake's positions show."""
    code = expiry(server)
    low, high, _ = partly_filling_combo(server, code)
    child_env = {k: v for k, v in os.environ.items() if not k.startswith(("GPS_", "DERIBIT_", "AEVO_"))}
    child_env.update({k: v for k, v in env.items() if v is not None}, GPS_CRASH_AT="monitoring")
    died = subprocess.run([str(GPS), "execute", "--venue", "deribit", "--yes", "--json", "--combo", "always",
                           "--timeout", "30", "--leg", f"buy 0.1 {low}", "--leg", f"sell 0.1 {high}"],
                          env=child_env, capture_output=True, text=True, timeout=60)
    assert died.returncode != 0
    recover = CliRunner().invoke(cli_module.cli, ["recover", "--cancel-working", "--json"], env=env)
    shown = {(e["instrument"], Decimal(e["position"])) for e in json.loads(recover.stdout)["exposures"]}
    assert server.state.position_of(low) == Decimal("0.05") and server.state.position_of(high) == Decimal("-0.05")
    assert shown == {(low, Decimal("0.05")), (high, Decimal("-0.05"))}


def test_a_combo_its_book_cannot_unwind_is_unwound_leg_by_leg(server, env):
    """Default --on-partial unwind after a combo filled in part, with nobody bidding for the combo:
    each leg is unwound reduce-only on its own book, every leg ends flat at the fake, and the
    report says the combo was unwound leg by leg."""
    code = expiry(server)
    low, high, ask = partly_filling_combo(server, code, offered=Decimal("0.1"))
    result, report = run(env, "--combo", "always", "--timeout", "1", "--leg", f"buy 0.2 {low}",
                         "--leg", f"sell 0.2 {high}")
    assert result.exit_code == 1, result.output
    exchange = server.state
    assert exchange.position_of(low) == 0 and exchange.position_of(high) == 0
    unwinds = {(o["instrument_name"], o["direction"], o["amount"], o["reduce_only"]) for o in exchange.single_leg_orders()}
    assert unwinds == {(low, "sell", Decimal("0.1"), True), (high, "buy", Decimal("0.1"), True)}
    assert report["residuals"] == [] and len(report["unwinds"]) == 2
    partly_filling_combo(server, code, ask, offered=Decimal("0.1"))
    text = CliRunner().invoke(cli_module.cli, ["execute", "--venue", "deribit", "--yes", "--combo", "always",
                                               "--timeout", "1", "--leg", f"buy 0.2 {low}",
                                               "--leg", f"sell 0.2 {high}"], env=env).output
    assert "unwound leg by leg, reduce-only, on the legs' own books" in text and "NOT FLAT" not in text
    assert exchange.position_of(low) == 0 and exchange.position_of(high) == 0


def test_combo_always_refuses_what_it_cannot_send_as_one_combo(server, env):
    """--combo always never falls back to separate orders: five legs (Deribit combos take at most
    four), or a combo whose limit breaks --max-loss, is refused with one line, exit 2, nothing sent."""
    code = expiry(server)
    five = [f"buy 0.1 BTC-{code}-{strike}-C" for strike in (90000, 100000, 110000, 120000)] + \
        [f"sell 0.1 BTC-{code}-130000-C"]
    result, error = run(env, "--combo", "always", *[a for leg in five for a in ("--leg", leg)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert error["error"].startswith("--combo always: ") and "\n" not in error["error"]
    result, _ = run(env, "--combo", "always", "--max-loss", "1", "--leg", f"buy 0.1 BTC-{code}-100000-C",
                    "--leg", f"sell 0.1 BTC-{code}-110000-C")
    assert result.exit_code == 2 and "--max-loss" in result.output, result.output
    assert server.state.orders == {} and server.state.calls["private/buy"] + server.state.calls["private/sell"] == 0


def test_max_loss_is_checked_against_the_combo_when_the_combo_is_chosen(server, env):
    """The combo's worst loss fits --max-loss though the legged plan's does not: the combo is sent."""
    code = expiry(server)
    legs = ["--leg", f"buy 0.1 BTC-{code}-100000-C", "--leg", f"sell 0.1 BTC-{code}-110000-C"]
    public_env = {**env, "DERIBIT_CLIENT_ID": None, "DERIBIT_CLIENT_SECRET": None}
    server.state.create_combo({"trades": [{"instrument_name": f"BTC-{code}-100000-C", "amount": "1", "direction": "buy"},
                                          {"instrument_name": f"BTC-{code}-110000-C", "amount": "1", "direction": "sell"}]})

    def worst(*mode):
        quote = CliRunner().invoke(cli_module.cli, ["quote", "--venue", "deribit", "--json", *mode, *legs], env=public_env)
        return Decimal(json.loads(quote.stdout)["plan"]["totals"]["max_loss_usd"])
    combo, legged = worst(), worst("--combo", "never")
    assert combo < legged  # the precondition: the combo's limit loses less at worst
    budget = (combo + legged) / 2
    result, report = run(env, "--max-loss", f"{budget:.2f}", "--timeout", "10", *legs)
    assert result.exit_code == 0, result.output
    (order,) = server.state.combo_orders()
    assert order["order_state"] == "filled" and server.state.single_leg_orders() == []
    result, _ = run(env, "--max-loss", f"{budget:.2f}", "--combo", "never", *legs)
    assert result.exit_code == 2 and "--max-loss" in result.output


def test_combo_always_says_deribit_combos_cannot_mix_settlement_currencies(server, env):
    code = expiry(server)
    result, error = run(env, "--combo", "always", "--leg", f"buy 0.1 BTC-{code}-100000-C",
                        "--leg", f"sell 0.1 BTC_USDC-{code}-110000-C")
    assert result.exit_code == 2, result.output
    assert "cannot mix settlement currencies" in error["error"]
    assert server.state.orders == {} and server.state.calls["private/create_combo"] == 0


def test_a_combo_whose_tick_swallows_the_slippage_cap_is_warned_about(server, env):
    code = expiry(server)
    low, high = f"BTC-{code}-100000-C", f"BTC-{code}-110000-C"
    combo = server.state.create_combo({"trades": [{"instrument_name": low, "amount": "1", "direction": "buy"},
                                                  {"instrument_name": high, "amount": "1", "direction": "sell"}]})
    server.state.set_combo_book(combo["id"], bids=[[Decimal("0.0025"), Decimal("1")]], asks=[[Decimal("0.003"), Decimal("1")]])
    quote = CliRunner().invoke(cli_module.cli, ["quote", "--venue", "deribit", "--combo", "always", "--leg", f"buy 0.1 {low}",
                                                "--leg", f"sell 0.1 {high}"], env=env)
    assert quote.exit_code == 0, quote.output
    assert f"Combo {combo['id']} (legs 1+2)" in quote.output and "effectively 0%" in quote.output


def test_a_combo_order_dropped_before_it_is_booked_is_named_as_the_combo_not_leg_1(server, env):
    """The fake drops the combo's private/buy before booking it: nothing is placed at the fake, and
    the report names the combo order (its id and every leg it would have traded) with the
    not-placed wording of a single order, never "leg 1 rejected"."""
    code = expiry(server)
    low, high = f"BTC-{code}-100000-C", f"BTC-{code}-110000-C"
    server.state.faults.inject("drop_before", method="private/buy")
    args = ["execute", "--venue", "deribit", "--yes", "--combo", "always", "--timeout", "2",
            "--leg", f"buy 0.1 {low}", "--leg", f"sell 0.1 {high}"]
    result = CliRunner().invoke(cli_module.cli, args, env=env)
    assert result.exit_code == 1, result.output
    exchange = server.state
    assert exchange.calls["private/buy"] == 1 and exchange.orders == {}  # never booked; nothing open
    assert exchange.position_of(low) == 0 and exchange.position_of(high) == 0
    (combo,) = [c["id"] for c in exchange.get_combos("BTC")]
    named = f"combo order {combo} (leg 1 buy 0.1 BTC-{code}-100000-C, leg 2 sell 0.1 BTC-{code}-110000-C) NOT PLACED " \
            "(it never reached the venue): never reached the venue (not found by client order id)"
    assert named in result.output, result.output
    assert "leg 1 rejected" not in result.output and " rejected" not in result.output
    (status_row,) = [line for line in result.output.splitlines() if line.startswith("1+2 ")]
    assert " not placed " in status_row, status_row
    server.state.faults.inject("drop_before", method="private/buy")
    again, report = run(env, "--combo", "always", "--timeout", "2", "--leg", f"buy 0.1 {low}", "--leg", f"sell 0.1 {high}")
    (row,) = report["legs"]
    assert row["role"] == "combo" and row["status"] == "rejected" and row["not_placed"] is True and row["filled"] == "0"
    assert [(c["leg"], c["side"], c["quantity"], c["venue_symbol"]) for c in row["combo_legs"]] == \
        [(1, "buy", "0.1", low), (2, "sell", "0.1", high)]
    assert exchange.orders == {} and report["residuals"] == []


def test_dry_run_prices_the_listed_combo_book_and_places_nothing_at_the_venue(server, env):
    """--dry-run against Deribit asks for the combo from public data: the plan shows the combo chosen
    and why, the simulated execution trades it as one paper order filled on every leg, and the
    fake's book of record is untouched (no order, no combo created, no private call)."""
    code = expiry(server)
    low, high = f"BTC-{code}-100000-C", f"BTC-{code}-110000-C"
    combo = server.state.create_combo({"trades": [{"instrument_name": low, "amount": "1", "direction": "buy"},
                                                  {"instrument_name": high, "amount": "1", "direction": "sell"}]})
    result, report = run(env, "--dry-run", "--timeout", "5", "--leg", f"buy 0.1 {low}", "--leg", f"sell 0.1 {high}")
    assert result.exit_code == 0, result.output
    exchange = server.state
    assert exchange.orders == {} and not [m for m in exchange.calls if m.startswith("private/")]
    (chosen,) = report["plan"]["combos"]
    assert chosen["instrument"] == combo["id"] and chosen["reason"].startswith("combo (no worse)")
    assert report["plan"]["combo_notes"] == [f"deribit: {chosen['reason']}"]
    assert report["mode"] == "dry-run"
    (row,) = report["legs"]
    assert row["role"] == "combo" and row["status"] == "filled" and row["venue_symbol"] == combo["id"]
    assert {(f["venue_symbol"], f["side"], f["quantity"]) for f in row["leg_fills"]} == \
        {(low, "buy", "0.1"), (high, "sell", "0.1")}
    assert report["totals"]["orders_sent"] == 1 and report["totals"]["legging_window_ms"] == 0
    text = CliRunner().invoke(cli_module.cli, ["execute", "--venue", "deribit", "--dry-run", "--yes", "--timeout", "5",
                                               "--leg", f"buy 0.1 {low}", "--leg", f"sell 0.1 {high}"], env=env).output
    assert f"Combo: deribit: combo (no worse): {combo['id']} as one order costs" in text
    assert exchange.orders == {}


def test_dry_run_says_why_it_legs_a_structure_deribit_does_not_list_yet(server, env):
    """A dry run creates nothing at the venue: with no combo listed for the legs, the plan legs and
    says the venue lists none yet; the fake never saw create_combo or any order."""
    code = expiry(server)
    low, high = f"BTC-{code}-100000-C", f"BTC-{code}-110000-C"
    result, report = run(env, "--dry-run", "--timeout", "5", "--leg", f"buy 0.1 {low}", "--leg", f"sell 0.1 {high}")
    assert result.exit_code == 0, result.output
    assert report["plan"]["combos"] == []
    assert report["plan"]["combo_notes"] == ["deribit: legged: the venue lists no combo for these legs yet "
                                              "(a live execution would create it and compare its book then)"]
    assert server.state.orders == {} and server.state.calls["private/create_combo"] == 0
    assert server.state.get_combos("BTC") == []


def test_gps_close_of_a_combo_execution_closes_each_leg_reduce_only_on_its_own_book(server, env):
    """`gps close` of a filled combo execution sends nothing to the combo book: each leg is closed
    reduce-only on its own book, and every leg ends flat at the fake."""
    code = expiry(server)
    legs = [("buy", "0.1", f"BTC-{code}-100000-C"), ("sell", "0.1", f"BTC-{code}-110000-C")]
    result, report = run(env, "--timeout", "10", *[a for s, q, n in legs for a in ("--leg", f"{s} {q} {n}")])
    assert result.exit_code == 0, result.output
    assert_one_combo_order_filled(server, report, legs)
    closed = CliRunner().invoke(cli_module.cli, ["close", report["execution_id"], "--yes", "--json", "--quiet",
                                                 "--timeout", "10"], env=env)
    assert closed.exit_code == 0, closed.output
    exchange = server.state
    (combo,) = exchange.combo_orders()  # still the one entry: the close never went to the combo book
    assert {(o["instrument_name"], o["direction"], o["amount"], o["reduce_only"]) for o in exchange.single_leg_orders()} \
        == {(legs[0][2], "sell", Decimal("0.1"), True), (legs[1][2], "buy", Decimal("0.1"), True)}
    assert exchange.position_of(legs[0][2]) == 0 and exchange.position_of(legs[1][2]) == 0
    assert not [o for o in exchange.orders.values() if o["order_state"] == "open"]


def test_the_partial_fault_applies_to_a_combo_order(server, env):
    """The fake's ``partial`` fault caps a combo order's fill as it does a single leg's: half fills at
    once, the rest rests until the timeout and is cancelled (kept: the fake holds half on each leg)."""
    code = expiry(server)
    low, high = f"BTC-{code}-100000-C", f"BTC-{code}-110000-C"
    server.state.faults.inject("partial", method="private/buy", fraction="0.5")
    result, _ = run(env, "--combo", "always", "--on-partial", "keep", "--timeout", "1",
                    "--leg", f"buy 0.2 {low}", "--leg", f"sell 0.2 {high}")
    assert result.exit_code == 1, result.output
    (combo,) = server.state.combo_orders()
    assert combo["filled_amount"] == Decimal("0.1") and combo["order_state"] == "cancelled"
    assert server.state.position_of(low) == Decimal("0.1") and server.state.position_of(high) == Decimal("-0.1")


def test_a_client_that_hangs_up_under_latency_prints_no_traceback(server, capfd):
    """A reply delayed past the client's read timeout (the ``latency`` fault) finds the socket closed:
    the fake says nothing on stderr (no BrokenPipe traceback)."""
    import socket
    import time

    server.state.faults.inject("latency", method="public/get_time", seconds=0.3)
    host, port = server.url.split("//")[1].split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(b"GET /api/v2/public/get_time HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # reset on close
    time.sleep(0.6)  # bounded: the fake's delayed reply meets the closed socket
    _, err = capfd.readouterr()
    assert "Traceback" not in err and "BrokenPipe" not in err and "ConnectionReset" not in err, err


def test_a_dry_run_combo_fill_prices_and_charges_its_legs_as_the_venue_does(server, env):
    """A --dry-run combo fill is charged each leg's own fees (the combo book lists none) and split
    into leg prices as Deribit splits a combo trade (from the legs' marks, the first leg taking the
    difference): the dry run's leg prices and fee equal those of the trades the fake books when the
    same combo order is then executed for real."""
    code = expiry(server)
    low, high = f"BTC-{code}-100000-C", f"BTC-{code}-110000-C"
    server.state.create_combo({"trades": [{"instrument_name": low, "amount": "1", "direction": "buy"},
                                          {"instrument_name": high, "amount": "1", "direction": "sell"}]})
    legs = ("--combo", "always", "--timeout", "5", "--leg", f"buy 2 {low}", "--leg", f"sell 2 {high}")
    result, dry = run(env, "--dry-run", *legs)
    assert result.exit_code == 0, result.output
    assert server.state.orders == {}
    result, live = run(env, *legs)
    assert result.exit_code == 0, result.output
    (placed,) = server.state.combo_orders()
    trades = server.state.user_trades(placed["order_id"])
    venue_fee = sum((Decimal(str(t["fee"])) for t in trades), Decimal(0))
    (row,) = dry["legs"]
    assert venue_fee > 0 and Decimal(row["fee"]["amount"]) == venue_fee
    assert {(f["venue_symbol"], Decimal(f["price"]), Decimal(f["fee"]["amount"])) for f in row["leg_fills"]} == \
        {(t["instrument_name"], Decimal(str(t["price"])), Decimal(str(t["fee"]))) for t in trades}
    assert Decimal(dry["totals"]["fees_usd"]) == Decimal(live["totals"]["fees_usd"]) > 0


def test_a_combo_quoted_below_zero_is_refused_in_one_plain_line(server, env):
    """The combo for the legs is listed the other way round (a credit) and quoted below zero. Deribit
    does not document negative combo prices: --combo always refuses with one line naming the combo
    and its quote (no Python repr), nothing reaches the fake; --combo auto legs the strategy."""
    code = expiry(server)
    low, high = f"BTC-{code}-100000-C", f"BTC-{code}-110000-C"
    combo = server.state.create_combo({"trades": [{"instrument_name": low, "amount": "1", "direction": "sell"},
                                                  {"instrument_name": high, "amount": "1", "direction": "buy"}]})
    server.state.set_combo_book(combo["id"], bids=[[Decimal("-0.0380"), Decimal(5)]],
                                asks=[[Decimal("-0.0360"), Decimal(5)]])
    legs = ("--leg", f"buy 0.1 {low}", "--leg", f"sell 0.1 {high}")
    result = CliRunner().invoke(cli_module.cli, ["execute", "--venue", "deribit", "--yes", "--combo", "always",
                                                 "--timeout", "5", *legs], env=env)
    assert result.exit_code == 2, result.output
    (line,) = [x for x in result.stderr.splitlines() if "error" in x]
    assert combo["id"] in line and "-0.0380" in line and "negative combo prices" in line, line
    assert "Decimal(" not in line and "[" not in line and "Traceback" not in result.output
    assert server.state.orders == {}
    result, report = run(env, "--timeout", "5", *legs)
    assert result.exit_code == 0, result.output
    assert report["plan"]["combos"] == [] and "negative combo prices" in report["plan"]["combo_notes"][0]
    assert server.state.combo_orders() == [] and len(server.state.single_leg_orders()) == 2


def test_a_combo_whose_trades_cannot_be_read_keeps_its_known_state(server, env):
    """private/get_user_trades_by_order fails for the whole run: the combo order's state and fill are
    still known from the order itself, so it is reported cancelled after filling half (as at the
    fake), never 'unknown ... may have filled more' (its leg fills came with the placement reply)."""
    code = expiry(server)
    low, high, _ = partly_filling_combo(server, code)
    server.state.faults.inject("http5xx", method="private/get_user_trades_by_order", times=10_000)
    result, report = run(env, "--combo", "always", "--on-partial", "keep", "--timeout", "1",
                         "--leg", f"buy 0.1 {low}", "--leg", f"sell 0.1 {high}")
    assert result.exit_code == 1, result.output
    (placed,) = server.state.combo_orders()
    assert placed["order_state"] == "cancelled" and placed["filled_amount"] == Decimal("0.05")
    (row,) = report["legs"]
    assert row["status"] == "cancelled" and Decimal(row["filled"]) == placed["filled_amount"]
    assert report["unsettled"] == [] and row["leg_fills_unknown"] is False  # the placement reply carried them
    assert {(f["venue_symbol"], f["side"], Decimal(f["quantity"])) for f in row["leg_fills"]} == \
        {(low, "buy", Decimal("0.05")), (high, "sell", Decimal("0.05"))}
    assert server.state.position_of(low) == Decimal("0.05") and server.state.position_of(high) == Decimal("-0.05")
    kept = {(p["venue_symbol"], p["side"], Decimal(p["quantity"])) for p in report["kept_positions"]}
    assert kept == {(low, "buy", Decimal("0.05")), (high, "sell", Decimal("0.05"))}


def test_the_plan_shows_combo_legs_as_parts_of_the_combo_and_its_limit_per_unit_and_in_all(server, env):
    """The plan's leg table gives no limit of their own to legs the combo order trades (they are not
    sent: the fake receives the combo order only), and the COMBO line says its dollar limit per unit
    of combo next to the whole order's, so per-unit and total figures cannot be confused."""
    code = expiry(server)
    low, high = f"BTC-{code}-100000-C", f"BTC-{code}-110000-C"
    args = ["execute", "--venue", "deribit", "--yes", "--combo", "always", "--timeout", "5",
            "--leg", f"buy 0.2 {low}", "--leg", f"sell 0.2 {high}"]
    result = CliRunner().invoke(cli_module.cli, args, env=env)
    assert result.exit_code == 0, result.output
    exchange = server.state
    (placed,) = exchange.combo_orders()
    assert exchange.single_leg_orders() == [] and placed["amount"] == Decimal("0.2")
    rows = [line for line in result.stderr.splitlines() if line.startswith(("1 ", "2 ")) and " deribit " in line]
    assert len(rows) == 2 and all("part of combo 1+2" in row for row in rows), rows
    assert "Legs 1, 2 are not sent as orders of their own" in result.stderr
    (combo_line,) = [line for line in result.stderr.splitlines() if line.startswith("COMBO:")]
    index = exchange.index["btc_usd"]
    per_unit, whole = placed["price"] * index, placed["price"] * placed["amount"] * index
    assert f"limit {placed['price'].normalize():f} BTC per unit of combo (${per_unit:,.2f} per unit; ${whole:,.2f} for 0.2;" \
        in combo_line, combo_line
