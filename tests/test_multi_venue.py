"""Both real venue plugins at once, against their fake servers: auto routing and --dry-run."""

import json

import pytest
from click.testing import CliRunner

from gps_core.cli import cli
from gps_core.instruments import OptionKey

deribit_fake = pytest.importorskip("gps_venue_deribit.fake_server")
aevo_fake = pytest.importorskip("gps_venue_aevo.fake_server")


@pytest.fixture
def venues(tmp_path, monkeypatch):
    deribit = deribit_fake.FakeDeribit().start()
    aevo_state = aevo_fake.FakeAevo()
    aevo = aevo_fake.serve(aevo_state)
    env = {"GPS_HOME": str(tmp_path / "home"), "GPS_LOAD_PLUGINS": "deribit,aevo",
           "DERIBIT_BASE_URL": deribit.url, "DERIBIT_CLIENT_ID": deribit.state.client_id,
           "DERIBIT_CLIENT_SECRET": deribit.state.client_secret, "AEVO_BASE_URL": aevo.url,
           **aevo_state.create_account()}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    yield deribit.state, aevo_state
    deribit.stop()
    aevo.stop()


def common_calls(deribit, aevo):
    on_deribit = {OptionKey.parse(n): n for n in deribit.instrument_names("BTC")}
    on_aevo = {OptionKey.parse(n): n for n in aevo.option_names("BTC", call=True)}
    keys = sorted(set(on_deribit) & set(on_aevo), key=lambda k: (k.expiry, k.strike))
    assert len(keys) >= 2, "the two fakes share no BTC call"
    middle = len(keys) // 2
    return [(k, on_deribit[k], on_aevo[k]) for k in keys[middle:middle + 2]]


def test_auto_routes_each_leg_to_its_cheapest_venue(venues):
    deribit, aevo = venues
    (k1, d1, a1), (k2, d2, a2) = common_calls(deribit, aevo)
    aevo.market(a1).asks = [[price * 3, amount] for price, amount in aevo.market(a1).asks]  # leg 1: Deribit wins
    deribit.instrument(d2).asks = [[price * 3, amount] for price, amount in deribit.instrument(d2).asks]  # leg 2: Aevo
    result = CliRunner().invoke(cli, ["execute", "--venue", "auto", "--yes", "--json", "--quiet",
                                      "--leg", f"buy 0.1 {k1.name}", "--leg", f"buy 0.1 {k2.name}"])
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert [leg["venue"] for leg in report["legs"]] == ["deribit", "aevo"]
    assert report["all_filled"]
    assert sum(deribit.placed.values()) == 1 and len(aevo.orders) == 1
    # one leg per venue: legged as before, no combo asked for or sent (Aevo offers none)
    assert [leg["role"] for leg in report["legs"]] == ["leg", "leg"]
    assert deribit.combo_orders() == [] and deribit.calls["private/create_combo"] == 0


def test_dry_run_uses_public_data_and_sends_nothing(venues, monkeypatch):
    deribit, aevo = venues
    for name in ("DERIBIT_CLIENT_ID", "DERIBIT_CLIENT_SECRET", "AEVO_API_KEY", "AEVO_API_SECRET",
                 "AEVO_SIGNING_KEY", "AEVO_WALLET_ADDRESS"):
        monkeypatch.delenv(name)
    (k1, _, _), (k2, _, _) = common_calls(deribit, aevo)
    result = CliRunner().invoke(cli, ["execute", "--dry-run", "--json", "--quiet",
                                      "--leg", f"buy 0.1 {k1.name}", "--leg", f"sell 0.1 {k2.name}"])
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["mode"] == "dry-run" and report["all_filled"]
    assert {leg["venue"] for leg in report["legs"]} <= {"deribit", "aevo"}
    assert sum(deribit.placed.values()) == 0 and aevo.orders == {} and aevo.orders_received == []
    status = json.loads(CliRunner().invoke(cli, ["status", "last", "--json"]).stdout)
    assert {o["venue_status"] for o in status["orders"]} == {"filled"}
