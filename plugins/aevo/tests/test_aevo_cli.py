"""``gps execute --venue aevo`` end to end against the fake Aevo, through the real CLI and plugin loading."""

from __future__ import annotations

import json

import pytest

from gps_venue_aevo import signing

cli_module = pytest.importorskip("gps_core.cli")
from click.testing import CliRunner  # noqa: E402


@pytest.fixture
def run_gps(fake_aevo, aevo_env, tmp_path):
    env = dict(aevo_env, AEVO_BASE_URL=fake_aevo.url, GPS_HOME=str(tmp_path / "gps-home"), GPS_LOAD_PLUGINS="aevo")
    env.pop("AEVO_TESTNET", None)

    def run(*args: str):
        result = CliRunner().invoke(cli_module.cli, list(args), env=env, catch_exceptions=False)
        return result

    return run


def _three_legs(fake) -> list[str]:
    calls = fake.option_names("BTC", call=True)
    puts = fake.option_names("BTC", call=False)
    return ["--leg", f"buy 0.1 {calls[5]}", "--leg", f"sell 0.1 {calls[7]}", "--leg", f"buy 0.2 {puts[4]}"]


def _assert_each_leg_once(fake, report: dict, signer_key: str) -> None:
    signer = signing.address_of(signer_key).lower()
    assert len(report["legs"]) == 3
    for leg in report["legs"]:
        assert leg["venue"] == "aevo" and leg["status"] == "filled"
        accepted = fake.orders_for(signing.salt_for(leg["client_order_id"]))
        assert len(accepted) == 1, leg["client_order_id"]
        assert accepted[0]["instrument_name"] == leg["instrument"]
        assert accepted[0]["order_status"] == "filled"
        assert fake.orders[accepted[0]["order_id"]]["_signer"] == signer
    assert len(fake.orders) == 3


def test_execute_three_legs(run_gps, fake_aevo, aevo_env):
    result = run_gps("execute", "--venue", "aevo", "--yes", "--json", "--quiet", "--timeout", "10",
                     *_three_legs(fake_aevo))
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["all_filled"] is True
    _assert_each_leg_once(fake_aevo, report, aevo_env["AEVO_SIGNING_KEY"])
    assert len(fake_aevo.orders_received) == 3
    sides = sorted(o["side"] for o in fake_aevo.orders.values())
    assert sides == ["buy", "buy", "sell"]


def test_execute_with_a_lost_reply_places_nothing_twice(run_gps, fake_aevo, aevo_env):
    fake_aevo.inject("drop_after")
    result = run_gps("execute", "--venue", "aevo", "--yes", "--json", "--quiet", "--timeout", "10",
                     *_three_legs(fake_aevo))
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["all_filled"] is True
    _assert_each_leg_once(fake_aevo, report, aevo_env["AEVO_SIGNING_KEY"])
    assert len(fake_aevo.orders_received) == 3


def test_execute_after_a_rate_limit_retries_with_the_same_order_id(run_gps, fake_aevo, aevo_env):
    fake_aevo.inject("rate_limit", retry_after_ns=50_000_000)
    result = run_gps("execute", "--venue", "aevo", "--yes", "--json", "--quiet", "--timeout", "10",
                     *_three_legs(fake_aevo))
    assert result.exit_code == 0, result.output
    _assert_each_leg_once(fake_aevo, json.loads(result.stdout), aevo_env["AEVO_SIGNING_KEY"])
    assert len(fake_aevo.orders_received) == 3  # the 429 was refused before the order was read


def test_quote_and_venues(run_gps, fake_aevo):
    result = run_gps("quote", "--venue", "aevo", "--json", *_three_legs(fake_aevo)[:2])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["plan"] is not None and data["quotes"][0]["venue"] == "aevo"
    venues = json.loads(run_gps("venues", "--json").stdout)
    assert [v["name"] for v in venues if v["ok"]] == ["aevo"]
    assert fake_aevo.orders_received == []


def test_execute_without_credentials_is_refused_before_any_order(fake_aevo, tmp_path):
    env = {"AEVO_BASE_URL": fake_aevo.url, "GPS_HOME": str(tmp_path / "h"), "GPS_LOAD_PLUGINS": "aevo",
           "AEVO_API_KEY": "", "AEVO_API_SECRET": "", "AEVO_SIGNING_KEY": "", "AEVO_WALLET_ADDRESS": ""}
    result = CliRunner().invoke(cli_module.cli, ["execute", "--venue", "aevo", "--yes", "--json",
                                                 *_three_legs(fake_aevo)], env=env)
    assert result.exit_code == 2
    assert "AEVO_SIGNING_KEY" in result.output
    assert fake_aevo.orders_received == []
