"""End to end: the ``gps`` CLI executes a call spread on the fake Deribit server."""

from __future__ import annotations

import json
from decimal import Decimal
from importlib import metadata

import pytest

from gps_core.instruments import OptionKey

cli_module = pytest.importorskip("gps_core.cli")
from click.testing import CliRunner  # noqa: E402

pytestmark = pytest.mark.skipif(not metadata.entry_points(group="gps.venues", name="deribit"),
                                reason="gps-venue-deribit is not installed (pip install -e plugins/deribit)")


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


def spread_legs(server) -> tuple[str, str]:
    codes = sorted({n.split("-")[1] for n in server.state.instrument_names("BTC")},
                   key=lambda code: OptionKey.parse(f"BTC-{code}-1-C").expiry)
    return f"BTC-{codes[2]}-100000-C", f"BTC-{codes[2]}-110000-C"


def test_gps_execute_call_spread_on_the_fake_server(server, env):
    """Legged (``--combo never``): two orders; test_deribit_combo_cli covers the combo."""
    low, high = spread_legs(server)
    result = CliRunner().invoke(cli_module.cli, [
        "execute", "--venue", "deribit", "--yes", "--json", "--timeout", "10", "--combo", "never",
        "--leg", f"buy 0.1 {low}", "--leg", f"sell 0.1 {high}",
    ], env=env)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["all_filled"] is True
    legs = report["legs"]
    assert [(leg["venue"], leg["side"]) for leg in legs] == [("deribit", "buy"), ("deribit", "sell")]
    for leg, (name, direction) in zip(legs, [(low, "buy"), (high, "sell")]):
        label = leg["client_order_id"]
        assert label.startswith("gps-") and len(label) < 48
        assert server.state.order_count(label) == 1  # placed exactly once
        (order,) = server.state.orders_for(label)
        assert order["instrument_name"] == name and order["direction"] == direction
        assert order["amount"] == Decimal("0.1") and order["order_state"] == "filled"
    assert sum(server.state.placed.values()) == 2
    assert server.state.grants["client_signature"] == 1


def test_gps_execute_with_a_lost_reply_settles_by_label(server, env):
    low, high = spread_legs(server)
    server.state.faults.inject("drop_after", method="private/sell")
    result = CliRunner().invoke(cli_module.cli, [
        "execute", "--venue", "deribit", "--yes", "--json", "--timeout", "10", "--combo", "never",
        "--leg", f"buy 0.1 {low}", "--leg", f"sell 0.1 {high}",
    ], env=env)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["all_filled"] is True
    for leg in report["legs"]:
        assert server.state.order_count(leg["client_order_id"]) == 1
    assert sum(server.state.received.values()) == 2  # the lost sell was never sent again


def test_gps_quote_and_venues_need_no_credentials(server, env):
    public_env = {**env, "DERIBIT_CLIENT_ID": None, "DERIBIT_CLIENT_SECRET": None}
    low, _ = spread_legs(server)
    venues = CliRunner().invoke(cli_module.cli, ["venues", "--json"], env=public_env)
    assert venues.exit_code == 0, venues.output
    (deribit,) = [v for v in json.loads(venues.stdout) if v["name"] == "deribit"]
    assert deribit["ok"] is True and deribit["distribution"] == "gps-venue-deribit"
    quote = CliRunner().invoke(cli_module.cli, ["quote", "--venue", "deribit", "--json", "--leg", f"buy 0.1 {low}"],
                               env=public_env)
    assert quote.exit_code == 0, quote.output
    rows = json.loads(quote.stdout)["quotes"]
    assert rows[0]["venue"] == "deribit" and rows[0]["price_currency"] == "BTC"
    assert server.state.grants == {} and sum(server.state.placed.values()) == 0


@pytest.mark.parametrize("answer", ["band", "price_too_low4idx"])
def test_a_price_below_the_band_is_a_clear_refusal_not_an_unknown_outcome(server, env, answer):
    """The venue's band moved above gps's sell limit: Deribit answers 10005 price_too_low (the
    fake's band check) or 10006 price_too_low4idx (armed as the venue's answer).

    gps reports the refusal at once: the sell reached the venue once, no order exists there,
    and no lookup by label was needed to settle it.
    """
    _, high = spread_legs(server)
    inst = server.state.instruments[high]
    if answer == "band":
        inst.min_price = inst.bids[0][0] * 2  # any limit near the bid is now below the band
    else:
        server.state.faults.inject("reject", method="private/sell", code=10006,
                                   message=f"price_too_low4idx {inst.bids[0][0] * 2}")
    result = CliRunner().invoke(cli_module.cli, [
        "execute", "--venue", "deribit", "--yes", "--json", "--timeout", "10", "--leg", f"sell 0.1 {high}",
    ], env=env)
    assert result.exit_code != 0, result.output
    report = json.loads(result.stdout)
    (leg,) = report["legs"]
    label = leg["client_order_id"]
    assert server.state.received[label] == 1 and server.state.order_count(label) == 0
    assert server.state.calls["private/get_order_state_by_label"] == 0
    assert server.state.calls["private/get_order_state"] == 0
    assert leg["status"] == "rejected", leg
    assert "price_too_low" in leg["reason"] and "limit" in leg["reason"]


def test_gps_execute_a_sol_spread_routes_to_the_linear_usdc_options(server, env):
    """SOL legs written the plain way trade Deribit's SOL_USDC contracts (the only SOL options it lists)."""
    codes = sorted({n.split("-")[1] for n in server.state.instrument_names("SOL_USDC")},
                   key=lambda code: OptionKey.parse(f"SOL-{code}-1-C").expiry)
    low, high = f"SOL-{codes[2]}-140-C", f"SOL-{codes[2]}-160-C"
    result = CliRunner().invoke(cli_module.cli, [
        "execute", "--venue", "deribit", "--yes", "--json", "--timeout", "10", "--combo", "never",
        "--leg", f"buy 2 {low}", "--leg", f"sell 2 {high}",
    ], env=env)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["all_filled"] is True
    for leg, name in zip(report["legs"], (low, high)):
        (order,) = server.state.orders_for(leg["client_order_id"])
        assert order["instrument_name"] == name.replace("SOL-", "SOL_USDC-")
        assert order["amount"] == Decimal("2") and order["order_state"] == "filled"


def test_gps_quote_of_a_linear_btc_option_is_in_usdc(server, env):
    low, _ = spread_legs(server)
    linear = low.replace("BTC-", "BTC_USDC-").replace("-100000-", "-95000-")
    quote = CliRunner().invoke(cli_module.cli, ["quote", "--venue", "deribit", "--json", "--leg", f"buy 0.1 {linear}",
                                                "--leg", f"buy 0.1 {low}"], env=env)
    assert quote.exit_code == 0, quote.output
    rows = json.loads(quote.stdout)["quotes"]
    by_name = {row["instrument"]: row for row in rows}
    assert by_name[linear]["price_currency"] == "USDC" and by_name[low]["price_currency"] == "BTC"


def test_the_plan_names_the_linear_contract_a_plain_sol_leg_trades(server, env):
    codes = sorted({n.split("-")[1] for n in server.state.instrument_names("SOL_USDC")},
                   key=lambda code: OptionKey.parse(f"SOL-{code}-1-C").expiry)
    leg = f"SOL-{codes[2]}-140-C"
    quote = CliRunner().invoke(cli_module.cli, ["quote", "--venue", "deribit", "--leg", f"buy 2 {leg}"],
                               env={**env, "DERIBIT_CLIENT_ID": None, "DERIBIT_CLIENT_SECRET": None})
    assert quote.exit_code == 0, quote.output
    assert f"{leg} (SOL_USDC-{codes[2]}-140-C)" in quote.stdout and "USDC" in quote.stdout


def test_the_text_report_says_why_a_leg_was_rejected_in_the_venues_words(server, env):
    low, high = spread_legs(server)
    server.state.faults.inject("reject", method="private/sell", code=10006, message="price_too_low4idx 0.0005")
    result = CliRunner().invoke(cli_module.cli, [
        "execute", "--venue", "deribit", "--yes", "--timeout", "10", "--combo", "never",
        "--leg", f"buy 0.1 {low}", "--leg", f"sell 0.1 {high}",
    ], env=env)
    assert result.exit_code == 1, result.output
    (line,) = [x for x in result.stdout.splitlines() if x.startswith("leg 2 rejected:")]
    assert "price_too_low4idx 0.0005" in line
    assert [o for o in server.state.orders.values() if o["label"].endswith("-L2-1")] == []  # refused: nothing there
    assert result.stderr.count("unwinding 1 filled leg") == 1
