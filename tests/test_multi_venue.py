"""Both real venue plugins at once, against their fake servers: auto routing and --dry-run."""

import json

import pytest
from click.testing import CliRunner

from gps_core.cli import cli
from gps_core.instruments import OptionKey


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


def test_a_strategy_split_across_venues_gets_no_combo_for_its_deribit_legs(venues):
    """Two legs route to Deribit and one to Aevo: the strategy legs as before (no combo created or
    sent for the Deribit subset), and --combo always refuses it with nothing sent."""
    deribit, aevo = venues
    on_deribit = {OptionKey.parse(n): n for n in deribit.instrument_names("BTC")}
    on_aevo = {OptionKey.parse(n): n for n in aevo.option_names("BTC", call=True)}
    keys = sorted(set(on_deribit) & set(on_aevo), key=lambda k: (k.expiry, k.strike))
    k1, k2, k3 = keys[len(keys) // 2:len(keys) // 2 + 3]
    assert k1.expiry == k2.expiry
    aevo.market(on_aevo[k1]).asks = [[p * 3, a] for p, a in aevo.market(on_aevo[k1]).asks]  # leg 1: Deribit
    aevo.market(on_aevo[k2]).bids = [[p / 3, a] for p, a in aevo.market(on_aevo[k2]).bids]  # leg 2: Deribit
    deribit.instrument(on_deribit[k3]).asks = [[p * 3, a] for p, a in deribit.instrument(on_deribit[k3]).asks]  # 3: Aevo
    legs = ["--leg", f"buy 0.1 {k1.name}", "--leg", f"sell 0.1 {k2.name}", "--leg", f"buy 0.1 {k3.name}"]
    refused = CliRunner().invoke(cli, ["execute", "--venue", "auto", "--yes", "--json", "--quiet", "--combo", "always",
                                       *legs])
    assert refused.exit_code == 2 and "--combo always" in refused.stdout
    assert sum(deribit.placed.values()) == 0 and len(aevo.orders) == 0
    result = CliRunner().invoke(cli, ["execute", "--venue", "auto", "--yes", "--json", "--quiet", *legs])
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert [leg["venue"] for leg in report["legs"]] == ["deribit", "deribit", "aevo"]
    assert [leg["role"] for leg in report["legs"]] == ["leg", "leg", "leg"]
    assert deribit.combo_orders() == [] and deribit.calls["private/create_combo"] == 0
    assert len(deribit.single_leg_orders()) == 2 and len(aevo.orders) == 1


def test_a_login_started_with_the_quotes_fails_only_a_run_that_uses_its_venue(venues, monkeypatch):
    """Live runs log in to every selected venue alongside the quotes. A venue the plan does not
    use may have bad credentials without failing the run; one the plan uses stops it before any
    order is sent, on any venue."""
    deribit, aevo = venues
    (k1, d1, a1), (k2, d2, a2) = common_calls(deribit, aevo)
    deribit.instrument(d1).asks = [[price * 3, amount] for price, amount in deribit.instrument(d1).asks]  # Aevo wins
    monkeypatch.setenv("DERIBIT_CLIENT_SECRET", "not-the-secret")
    result = CliRunner().invoke(cli, ["execute", "--venue", "auto", "--yes", "--json", "--quiet",
                                      "--leg", f"buy 0.1 {k1.name}"])
    assert result.exit_code == 0, result.stderr
    assert [leg["venue"] for leg in json.loads(result.stdout)["legs"]] == ["aevo"]
    assert deribit.grants["client_signature"] == 1  # it was asked, alongside the quotes, and refused
    aevo.market(a2).asks = [[price * 3, amount] for price, amount in aevo.market(a2).asks]  # leg 2: Deribit wins
    refused = CliRunner().invoke(cli, ["execute", "--venue", "auto", "--yes", "--json", "--quiet",
                                       "--leg", f"buy 0.1 {k1.name}", "--leg", f"buy 0.1 {k2.name}"])
    assert refused.exit_code != 0 and "deribit" in refused.stdout
    assert sum(deribit.placed.values()) == 0 and len(aevo.orders) == 1  # the first run's order only


def test_a_quote_never_imports_the_aevo_signing_code(venues):
    """A quote never signs: eth-account (0.6-1.3 s to import) is left alone, not raced against the quotes."""
    import os
    import subprocess
    import sys

    deribit, aevo = venues
    (k1, _, _), _ = common_calls(deribit, aevo)
    code = ("import sys\nfrom gps_core.cli import cli\ntry:\n"
            f"    cli(['quote', '--venue', 'deribit,aevo', '--json', '--quiet', '--leg', 'buy 0.1 {k1.name}'])\n"
            "except SystemExit as exit:\n    assert not exit.code, exit.code\n"
            "import threading\nfor t in threading.enumerate():\n    t.join(5) if t.name == 'aevo-signing-import' else None\n"
            "print([m for m in sys.modules if m.split('.')[0] == 'eth_account'])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ), timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
    assert aevo.orders == {} and sum(deribit.placed.values()) == 0
