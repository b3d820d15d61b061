"""The conformance suite and the scaffold: a generated venue certifies green, and broken ones fail."""

import importlib
import sys

import pytest

from gps_core.errors import OrderRejected
from gps_core.scaffold import new_venue_package
from gps_core.testing.conformance import CHECKS, certify


@pytest.fixture
def scaffolded(tmp_path, monkeypatch):
    new_venue_package("toy", tmp_path / "gps-venue-toy")
    monkeypatch.syspath_prepend(str(tmp_path / "gps-venue-toy"))
    for name in [m for m in sys.modules if m.startswith("gps_venue_toy")]:
        del sys.modules[name]
    package = importlib.import_module("gps_venue_toy")
    harness = importlib.import_module("gps_venue_toy.testing.harness")
    yield package, harness.ToyHarness


def outcomes(results):
    return {r.id: r.outcome for r in results}


def test_scaffolded_venue_certifies_green(scaffolded):
    _, harness = scaffolded
    results = certify(harness)
    # C15 is for venues that offer combo books (the optional gps_combo_offer): the scaffold does not
    assert outcomes(results) == {check_id: "skipped" if check_id == "C15-combo-offer" else "passed"
                                 for check_id, _, _ in CHECKS}


def test_scaffold_refuses_bad_names_and_non_empty_dirs(tmp_path):
    from gps_core.errors import BadInput

    with pytest.raises(BadInput):
        new_venue_package("Bad-Name", tmp_path / "x")
    (tmp_path / "y").mkdir()
    (tmp_path / "y" / "file").write_text("")
    with pytest.raises(BadInput, match="not empty"):
        new_venue_package("good", tmp_path / "y")


def test_lost_reply_reported_as_rejected_fails_c08(scaffolded, monkeypatch):
    package, harness = scaffolded
    monkeypatch.setitem(package.ERRORS, "TIMEOUT", OrderRejected)
    assert outcomes(certify(harness))["C08-lost-reply-is-unknown"] == "failed"


def test_leaking_the_api_key_fails_c13(scaffolded, monkeypatch):
    package, harness = scaffolded
    venue_class = package.ToyVenue
    monkeypatch.setattr(venue_class, "__repr__", lambda self: f"ToyVenue(key={self._api_key and self._api_key.reveal()})")
    assert outcomes(certify(harness))["C13-no-secret-leaks"] == "failed"


def test_cancel_of_filled_reported_as_cancelled_fails_c09(scaffolded, monkeypatch):
    package, harness = scaffolded
    fake = importlib.import_module("gps_venue_toy.testing.fake_exchange")
    original = fake.FakeExchange.cancel

    def sloppy_cancel(self, key, client_id):
        self.orders[client_id]["status"] = "open"
        return original(self, key, client_id)

    monkeypatch.setattr(fake.FakeExchange, "cancel", sloppy_cancel)
    assert outcomes(certify(harness))["C09-cancel-filled"] == "failed"


def test_undeclared_capability_skips_with_reason(scaffolded, monkeypatch):
    package, harness = scaffolded
    original = package.ToyVenue.gps_venue_info

    def info(self):
        from dataclasses import replace

        return replace(original(self), capabilities=frozenset())

    monkeypatch.setattr(package.ToyVenue, "gps_venue_info", package.hookimpl(info))
    results = {r.id: r for r in certify(harness)}
    assert results["C07-found-by-client-order-id"].outcome == "skipped"
    assert "lookup_by_client_id" in results["C07-found-by-client-order-id"].detail


def test_generated_tests_pass_out_of_the_box(tmp_path):
    import os
    import subprocess

    package = tmp_path / "gps-venue-gen"
    new_venue_package("gen", package)
    env = {**os.environ, "PYTHONPATH": str(package)}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(package / "tests")],
                            capture_output=True, text=True, env=env, cwd=package)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "14 passed, 1 skipped" in result.stdout  # C15: the generated venue offers no combos


def test_the_scaffold_fake_names_the_key_it_takes_when_refusing_another(scaffolded):
    from gps_core.errors import AuthenticationError
    from gps_core.plugins import PluginHost
    from gps_core.secrets import Secret

    package, _ = scaffolded
    host = PluginHost(environ={})
    host.register(package.ToyVenue(), "toy")
    venue = host.venue("toy")
    with pytest.raises(AuthenticationError, match="unauthorized|UNAUTHORIZED") as refused:
        venue.authenticate({"TOY_API_KEY": Secret("x")})
    assert "the fake accepts TOY_API_KEY=fake-key" in str(refused.value)
    assert venue.authenticate({"TOY_API_KEY": Secret("fake-key")}).venue == "toy"
