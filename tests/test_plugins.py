from decimal import Decimal as D
import json

import pytest

from gps_core.errors import ConfigurationError, OrderRejected, OutcomeUnknown
from gps_core.hookspecs import hookimpl
from gps_core.model import OrderRequest, Side
from gps_core.plugins import PluginHost

from builders import key, usd_instrument
from recording_venue import RecordingVenue


@pytest.fixture
def host():
    h = PluginHost(environ={})
    return h


def request_for(venue: str) -> OrderRequest:
    return OrderRequest("gps-t-L1-1", usd_instrument(venue, key()), Side.BUY, D(1), D(100))


def test_an_order_reaches_exactly_one_venue(host):
    a, b, c = RecordingVenue("a"), RecordingVenue("b"), RecordingVenue("c")
    for v in (a, b, c):
        host.register(v, v.name)
    host.venue("b").place(request_for("b"))
    assert [call for call in b.calls if call[0] == "place"] == [("place", "gps-t-L1-1")]
    assert not [call for call in a.calls + c.calls if call[0] == "place"]


def test_every_venue_hook_is_per_venue(host):
    a, b = RecordingVenue("a"), RecordingVenue("b")
    host.register(a, "a")
    host.register(b, "b")
    venue = host.venue("a")
    venue.find_instrument(key())
    venue.order_book(usd_instrument("a"), 5)
    venue.place(request_for("a"))
    venue.order_status(request_for("a"))
    venue.authenticate({})
    assert b.calls == [] and len(a.calls) == 5


class NotionalGuard:
    """A non-venue plugin: refuses any order over a notional, on every venue."""

    def __init__(self, limit):
        self.limit, self.seen = D(limit), []

    @hookimpl(wrapper=True)
    def gps_place(self, order):
        self.seen.append(order.venue)
        if order.quantity * order.limit_price > self.limit:
            raise OrderRejected(f"notional over {self.limit}")
        return (yield)


def test_a_wrapper_plugin_guards_place_on_every_venue(host):
    a, b = RecordingVenue("a"), RecordingVenue("b")
    host.register(a, "a")
    host.register(b, "b")
    guard = NotionalGuard("150")
    host.register(guard, "guard", venue=False)
    host.venue("a").place(request_for("a"))
    big = request_for("b").with_updates(quantity=D(2))
    with pytest.raises(OrderRejected, match="notional"):
        host.venue("b").place(big)
    assert guard.seen == ["a", "b"]
    assert not [c for c in b.calls if c[0] == "place"], "the guard stopped the order before the venue"
    assert host.venue_names() == ["a", "b"], "a non-venue plugin is not a venue"


def test_unexpected_exception_in_place_is_unknown_not_rejected(host):
    class Crashing(RecordingVenue):
        @hookimpl
        def gps_place(self, order):
            raise ConnectionResetError("peer reset")

    host.register(Crashing("a"), "a")
    with pytest.raises(OutcomeUnknown) as info:
        host.venue("a").place(request_for("a"))
    assert info.value.venue == "a"


def test_wrong_hookspec_version_is_refused(host):
    with pytest.raises(ConfigurationError, match="hook API version 99"):
        host.register(RecordingVenue("old", hookspec_version=99), "old")
    assert host.records["old"].ok is False
    assert host.venue_names() == []


def test_name_must_match_entry_point(host):
    with pytest.raises(ConfigurationError, match="describes itself"):
        host.register(RecordingVenue("x"), "y")


def test_misspelled_hook_is_caught(host):
    class Typo(RecordingVenue):
        @hookimpl
        def gps_plcae(self, order):
            pass

    with pytest.raises(ConfigurationError, match="unknown hook"):
        host.register(Typo("t"), "t")
    assert "t" not in host.venue_names()


def test_unknown_and_broken_venues_give_clear_errors(host):
    with pytest.raises(ConfigurationError, match="venue 'nope' is not installed"):
        host.venue("nope")


def test_a_broken_entry_point_is_recorded_and_the_others_load(monkeypatch):
    from gps_core import discovery
    from gps_core.discovery import EntryPoint

    good = EntryPoint("good", "gps.venues", "recording_venue:good_venue", None, None)
    broken = EntryPoint("broken", "gps.venues", "a_module_that_does_not_exist:Venue", None, None)
    monkeypatch.setattr(discovery, "scan", lambda groups: [broken, good])
    host = PluginHost(environ={})
    host.load_entry_points()
    assert host.venue_names() == ["good"]
    assert host.records["broken"].ok is False
    assert "a_module_that_does_not_exist" in host.records["broken"].error
    with pytest.raises(ConfigurationError, match="broken"):
        host.venue("broken")
    strict = PluginHost(environ={"GPS_STRICT_PLUGINS": "1"})
    with pytest.raises(ConfigurationError, match="a_module_that_does_not_exist"):
        strict.load_entry_points()


def test_load_and_disable_lists(monkeypatch):
    from gps_core import discovery
    from gps_core.discovery import EntryPoint

    eps = [EntryPoint(n, "gps.venues", "a_module_that_does_not_exist:V", None, None) for n in ("a", "b", "c")]
    monkeypatch.setattr(discovery, "scan", lambda groups: eps)
    only = PluginHost(environ={"GPS_LOAD_PLUGINS": "a,b", "GPS_DISABLE_PLUGINS": "b"})
    only.load_entry_points()
    assert sorted(only.records) == ["a"]


def test_entry_point_cache_is_used_and_invalidated(tmp_path, monkeypatch):
    from gps_core import discovery

    calls = []
    real_scan = discovery.scan
    monkeypatch.setattr(discovery, "scan", lambda groups: calls.append(1) or real_scan(groups))
    first = discovery.cached_scan(["gps.venues"], tmp_path)
    second = discovery.cached_scan(["gps.venues"], tmp_path)
    assert first == second and len(calls) == 1
    monkeypatch.setattr(discovery, "_fingerprint", lambda: ["something", "changed"])
    discovery.cached_scan(["gps.venues"], tmp_path)
    assert len(calls) == 2


def test_the_risk_guard_example_refuses_big_orders_on_any_venue(host, monkeypatch):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "examples" / "risk_guard" / "gps_risk_guard.py"
    spec = importlib.util.spec_from_file_location("gps_risk_guard", path)
    guard = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(guard)
    monkeypatch.setenv("GPS_MAX_ORDER_NOTIONAL", "150")
    a, b = RecordingVenue("a"), RecordingVenue("b")
    host.register(a, "a")
    host.register(b, "b")
    host.register(guard, "risk_guard", venue=False)
    host.venue("a").place(request_for("a"))  # notional 100: allowed
    with pytest.raises(OrderRejected, match="GPS_MAX_ORDER_NOTIONAL"):
        host.venue("b").place(request_for("b").with_updates(quantity=D(2)))
    unwind = request_for("b").with_updates(quantity=D(2), reduce_only=True, client_order_id="gps-t-U1-1")
    host.venue("b").place(unwind)  # reducing risk is always allowed
    assert [c for c in b.calls if c[0] == "place"] == [("place", "gps-t-U1-1")]


def _distribution_on_path(root, name: str, module_source: str, venue: str | None = None):
    """A real installed distribution (a ``.dist-info`` directory and its module) in ``root``, to put
    on ``sys.path``: importlib.metadata finds its ``gps.venues`` entry point as pip would leave it."""
    venue = venue or name
    (root / f"gps_venue_{name}.py").write_text(module_source)
    info = root / f"gps_venue_{name}-0.0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: gps-venue-{name}\nVersion: 0.0.1\n")
    (info / "entry_points.txt").write_text(f"[gps.venues]\n{venue} = gps_venue_{name}:Venue\n")


@pytest.mark.parametrize("source", ["import sys\nsys.exit(3)\n", "raise SystemExit('bye')\n",
                                    "raise GeneratorExit()\n"])
def test_a_plugin_that_exits_at_import_is_broken_and_every_command_still_works(tmp_path, source):
    import os
    import subprocess
    import sys

    plugins = tmp_path / "site"
    plugins.mkdir()
    _distribution_on_path(plugins, "exits", source)
    env = {**os.environ, "GPS_HOME": str(tmp_path / "home"), "PYTHONPATH": os.pathsep.join(filter(None, [str(plugins), os.environ.get("PYTHONPATH")]))}
    env.pop("GPS_LOAD_PLUGINS", None)

    def gps(*args):
        return subprocess.run([sys.executable, "-m", "gps_core.cli", *args], capture_output=True, text=True,
                              env=env, timeout=120)

    venues = gps("venues", "--json")
    assert venues.returncode == 0, venues.stderr
    records = {v["name"]: v for v in json.loads(venues.stdout)}
    assert records["exits"]["ok"] is False and "failed to import gps_venue_exits:Venue" in records["exits"]["error"]
    assert records["dryrun"]["ok"] is True
    recovered = gps("recover", "--json")
    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    assert json.loads(recovered.stdout) is not None
    doctor = gps("doctor", "--json")
    assert "gps.venues:exits" in [f["topic"] for f in json.loads(doctor.stdout)["findings"]]


def test_two_distributions_claiming_one_venue_name_resolve_by_distribution_name(monkeypatch):
    from gps_core import discovery
    from gps_core.discovery import EntryPoint

    real = EntryPoint("good", "gps.venues", "recording_venue:good_venue", "gps-venue-a", "1")
    shadow = EntryPoint("good", "gps.venues", "a_module_that_does_not_exist:Venue", "gps-venue-b", "1")
    for order in ([real, shadow], [shadow, real]):
        monkeypatch.setattr(discovery, "scan", lambda groups, order=order: order)
        host = PluginHost(environ={})
        host.load_entry_points()
        assert host.records["good"].distribution == "gps-venue-a" and host.records["good"].ok
        assert host.records["good (gps-venue-b)"].error.startswith(
            "another installed plugin (gps-venue-a) already uses the name 'good'; gps loads gps-venue-a")


def test_gps_venues_lists_non_venue_plugins_apart_from_the_venues():
    from gps_core.render import venues_table

    text = venues_table([
        {"name": "dryrun", "group": "gps.venues", "distribution": "gps-venue-dryrun", "version": "0.1.0", "ok": True},
        {"name": "risk_guard", "group": "gps.plugins", "distribution": "gps-risk-guard", "version": "0.1.0", "ok": True},
    ])
    venues, plugins = text.split("\n\n")
    assert venues.startswith("VENUE") and "risk_guard" not in venues and "dryrun" in venues
    assert plugins.startswith("PLUGIN") and "risk_guard" in plugins
    only_plugins = venues_table([{"name": "risk_guard", "group": "gps.plugins", "ok": True}])
    assert only_plugins.startswith("No venues installed") and "risk_guard" in only_plugins
