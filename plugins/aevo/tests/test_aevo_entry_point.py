"""The entry module is light, the entry point is registered, and the venue describes itself."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata

from gps_core.model import HOOKSPEC_VERSION, Capability, ClientIdKind
from gps_core.plugins import PluginHost
from gps_venue_aevo import VENUE_INFO, AevoVenue


def test_importing_the_entry_module_loads_no_heavy_modules():
    code = ("import sys, gps_venue_aevo; gps_venue_aevo.AevoVenue().gps_venue_info(); "
            "heavy = [m for m in ('requests', 'eth_account', 'eth_utils', 'urllib3', 'gps_venue_aevo.transport', "
            "'gps_venue_aevo.backend', 'gps_venue_aevo.testing.fake_server') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_entry_point_is_registered():
    eps = [ep for ep in metadata.entry_points(group="gps.venues") if ep.name == "aevo"]
    assert [ep.value for ep in eps] == ["gps_venue_aevo:AevoVenue"]


def test_venue_info():
    assert VENUE_INFO.name == "aevo" and VENUE_INFO.hookspec_version == HOOKSPEC_VERSION
    assert VENUE_INFO.client_id_kind is ClientIdKind.DERIVED
    assert VENUE_INFO.credential_env == ("AEVO_API_KEY", "AEVO_API_SECRET", "AEVO_SIGNING_KEY", "AEVO_WALLET_ADDRESS")
    assert {Capability.GTC, Capability.IOC, Capability.POST_ONLY, Capability.REDUCE_ONLY} <= VENUE_INFO.capabilities
    assert VENUE_INFO.price_currencies == ("USD",)


def test_core_loads_it_through_a_per_venue_caller():
    host = PluginHost({})
    host.register(AevoVenue, "aevo", distribution="gps-venue-aevo")
    venue = host.venue("aevo")
    assert venue.info is not None and venue.info.name == "aevo"
    assert venue.list_instruments("DOGE") == []


def test_environment_selection(monkeypatch):
    from gps_venue_aevo.config import MAINNET_DOMAIN, TESTNET_DOMAIN, Settings

    assert Settings.from_environ({}) == Settings("https://api.aevo.xyz", False, MAINNET_DOMAIN)
    assert Settings.from_environ({"AEVO_TESTNET": "1"}) == Settings(
        "https://api-testnet.aevo.xyz", True, TESTNET_DOMAIN)
    custom = Settings.from_environ({"AEVO_TESTNET": "1", "AEVO_BASE_URL": "http://127.0.0.1:9/"})
    assert custom == Settings("http://127.0.0.1:9", True, TESTNET_DOMAIN)
    monkeypatch.setenv("AEVO_BASE_URL", "http://127.0.0.1:8")
    assert Settings.from_environ().base_url == "http://127.0.0.1:8"
