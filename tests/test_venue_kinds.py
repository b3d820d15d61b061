"""Paper and live venues never mix, and a venue that is down is named, never silently dropped.

Through the CLI against the fake Deribit and Aevo servers (and the dryrun venue's offline
market); every assertion about orders is made at a venue's own book of record: the fakes'
order stores and the dryrun venue's paper store.
"""

import json

import pytest
from click.testing import CliRunner

from gps_core.cli import cli
from gps_core.instruments import OptionKey

from builders import closed_port_url

deribit_fake = pytest.importorskip("gps_venue_deribit.testing.fake_server")
aevo_fake = pytest.importorskip("gps_venue_aevo.testing.fake_server")
dryrun_market = pytest.importorskip("gps_venue_dryrun.market")



@pytest.fixture
def venues(tmp_path, monkeypatch):
    deribit = deribit_fake.FakeDeribit().start()
    aevo_state = aevo_fake.FakeAevo()
    aevo = aevo_fake.serve(aevo_state)
    env = {"GPS_HOME": str(tmp_path / "home"), "GPS_LOAD_PLUGINS": "dryrun,deribit,aevo",
           "DERIBIT_BASE_URL": deribit.url, "DERIBIT_CLIENT_ID": deribit.state.client_id,
           "DERIBIT_CLIENT_SECRET": deribit.state.client_secret, "AEVO_BASE_URL": aevo.url,
           "DERIBIT_READ_TIMEOUT": "2", "AEVO_READ_TIMEOUT": "2",
           **aevo_state.create_account()}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("GPS_DRYRUN_FAULTS", raising=False)
    monkeypatch.delenv("GPS_PAPER_FAULTS", raising=False)
    yield deribit.state, aevo_state, tmp_path / "home"
    deribit.stop()
    aevo.stop()


def dryrun_orders(home) -> list:
    """The dryrun venue's book of record: every paper order it holds."""
    path = home / "dryrun" / "orders.json"
    if not path.exists():
        return []
    return json.loads(path.read_text())["orders"]


def deribit_orders(deribit) -> int:
    return sum(deribit.placed.values())


def calls_on_dryrun_and_deribit(deribit, count=2):
    """Calls both the dryrun market and the Deribit fake list (same expiry), as (key, deribit name)."""
    import os

    market = dryrun_market.current_market(os.environ)
    on_dryrun = {i.key for i in market.instruments("BTC")}
    on_deribit = {OptionKey.parse(n): n for n in deribit.instrument_names("BTC")}
    common = sorted((k for k in on_deribit if k in on_dryrun and k.option_type.value == "C"),
                    key=lambda k: (k.expiry, k.strike))
    assert len(common) >= count, "the dryrun market and the Deribit fake share no BTC calls"
    expiry = common[len(common) // 2].expiry
    same = [k for k in common if k.expiry == expiry]
    middle = len(same) // 2
    return [(k, on_deribit[k]) for k in same[middle:middle + count]]


def gps(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


# --- item: a live execution never routes to a paper venue ----------------------------------


def test_live_auto_never_puts_a_leg_on_the_paper_venue(venues):
    deribit, aevo, home = venues
    (k1, d1), (k2, d2) = calls_on_dryrun_and_deribit(deribit)
    # Leg 1 ten times dearer at both live venues: the paper market would win it on price.
    deribit.instrument(d1).asks = [[price * 10, amount] for price, amount in deribit.instrument(d1).asks]
    for name in aevo.option_names("BTC", call=True):
        if OptionKey.parse(name) == k1:
            aevo.market(name).asks = [[price * 10, amount] for price, amount in aevo.market(name).asks]
    result = gps("execute", "--yes", "--json", "--max-slippage", "5", "--leg", f"buy 0.1 {k1.name}",
                 "--leg", f"sell 0.1 {k2.name}")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["mode"] == "live" and report["market"]["kind"] == "live"
    assert {leg["venue"] for leg in report["legs"]} <= {"deribit", "aevo"}
    assert deribit_orders(deribit) + len(aevo.orders) == 2  # both legs live, at the venues
    assert dryrun_orders(home) == []  # and none on paper
    assert "dryrun" not in result.stderr


def test_explicit_mix_of_paper_and_live_venues_is_refused(venues):
    deribit, aevo, home = venues
    (k1, _), (k2, _) = calls_on_dryrun_and_deribit(deribit)
    result = gps("execute", "--venue", "dryrun,deribit", "--yes", "--leg", f"buy 0.1 {k1.name}",
                 "--leg", f"sell 0.1 {k2.name}")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "mixes paper (dryrun) and live (deribit)" in lines[0]
    assert deribit_orders(deribit) == 0 and aevo.orders_received == [] and dryrun_orders(home) == []


def test_a_paper_plan_places_nothing_at_the_live_venues(venues):
    deribit, aevo, home = venues
    (k1, _), (k2, _) = calls_on_dryrun_and_deribit(deribit)
    result = gps("execute", "--venue", "dryrun", "--json", "--combo", "never", "--leg", f"buy 0.1 {k1.name}",
                 "--leg", f"sell 0.1 {k2.name}")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["mode"] == "paper" and report["market"]["offline"] is True
    assert "OFFLINE MARKET" in result.stderr
    assert len(dryrun_orders(home)) == 2
    assert deribit_orders(deribit) == 0 and aevo.orders_received == []


def test_live_auto_with_every_live_venue_down_refuses_instead_of_using_paper(venues, monkeypatch):
    deribit, aevo, home = venues
    (k1, _), _ = calls_on_dryrun_and_deribit(deribit)
    monkeypatch.setenv("DERIBIT_BASE_URL", closed_port_url())
    monkeypatch.setenv("AEVO_BASE_URL", closed_port_url())
    result = gps("execute", "--yes", "--leg", f"buy 0.1 {k1.name}")
    assert result.exit_code == 1  # a failed venue call (README), not bad input; nothing sent
    assert "cannot be routed" in result.stderr and "dryrun" not in result.stderr
    assert "could not connect" in result.stderr
    assert dryrun_orders(home) == [] and deribit_orders(deribit) == 0 and aevo.orders_received == []


def test_auto_with_no_live_venue_installed_is_paper_and_says_so(venues, monkeypatch):
    deribit, aevo, home = venues
    monkeypatch.setenv("GPS_LOAD_PLUGINS", "dryrun")
    (k1, _), _ = calls_on_dryrun_and_deribit(deribit)
    result = gps("execute", "--leg", f"buy 0.1 {k1.name}")
    assert result.exit_code == 0, result.stderr
    assert "no live venue is installed" in result.stderr and "(paper)" in result.stdout
    assert len(dryrun_orders(home)) == 1 and deribit_orders(deribit) == 0


# --- dry run: real venues' public data; unreachable ones named; the offline market labelled --


def test_dry_run_auto_names_the_venue_it_could_not_reach(venues, monkeypatch):
    deribit, aevo, home = venues
    monkeypatch.setenv("AEVO_BASE_URL", closed_port_url())
    (k1, _), (k2, _) = calls_on_dryrun_and_deribit(deribit)
    result = gps("execute", "--dry-run", "--json", "--combo", "never", "--leg", f"buy 0.1 {k1.name}",
                 "--leg", f"sell 0.1 {k2.name}")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["mode"] == "dry-run" and report["market"]["offline"] is False
    assert {leg["venue"] for leg in report["legs"]} == {"deribit"}
    assert [u["venue"] for u in report["unpriced_venues"]] == ["aevo"]
    warnings = [line for line in result.stderr.splitlines() if "could not be priced" in line]
    assert len(warnings) == 1 and warnings[0].startswith("WARNING: aevo") and len(warnings[0]) <= 100
    assert deribit_orders(deribit) == 0 and dryrun_orders(home) == []


def test_dry_run_auto_with_no_real_venue_reachable_labels_the_offline_plan(venues, monkeypatch):
    deribit, aevo, home = venues
    (k1, _), (k2, _) = calls_on_dryrun_and_deribit(deribit)
    monkeypatch.setenv("DERIBIT_BASE_URL", closed_port_url())
    monkeypatch.setenv("AEVO_BASE_URL", closed_port_url())
    result = gps("execute", "--dry-run", "--json", "--combo", "never", "--leg", f"buy 0.1 {k1.name}",
                 "--leg", f"sell 0.1 {k2.name}")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["market"] == {"kind": "dry-run", "offline": True, "note": report["market"]["note"]}
    assert "no real venue could be reached" in report["market"]["note"]
    assert sorted(u["venue"] for u in report["unpriced_venues"]) == ["aevo", "deribit"]
    assert {leg["venue"] for leg in report["legs"]} == {"dryrun"}
    assert "OFFLINE MARKET" in result.stderr
    assert len(dryrun_orders(home)) == 2 and deribit_orders(deribit) == 0


# --- item: execute names the venues it could not price ------------------------------------


@pytest.mark.parametrize("as_json", [True, False])
def test_live_execute_names_a_venue_that_is_down(venues, monkeypatch, as_json):
    deribit, aevo, home = venues
    monkeypatch.setenv("AEVO_BASE_URL", closed_port_url())
    (k1, _), _ = calls_on_dryrun_and_deribit(deribit)
    result = gps("execute", "--yes", "--quiet", *(["--json"] if as_json else []), "--leg", f"buy 0.1 {k1.name}")
    assert result.exit_code == 0, result.stderr
    if as_json:
        report = json.loads(result.stdout)
        assert [u["venue"] for u in report["unpriced_venues"]] == ["aevo"]
        assert len(report["unpriced_venues"][0]["line"]) <= 100
    else:
        lines = [line for line in result.stdout.splitlines() if "could not be priced" in line]
        assert len(lines) == 1 and lines[0].startswith("WARNING: aevo could not be priced")
    assert deribit_orders(deribit) == 1 and dryrun_orders(home) == []
