"""Fixtures shared by the core tests."""

import pytest

from paper_kit import kit, make_broker, sleeps  # noqa: F401 - the paper engine's fixtures


@pytest.fixture(autouse=True)
def no_controlling_terminal(monkeypatch):
    """In-process runs never ask the developer's terminal for a live confirmation (as in CI)."""
    monkeypatch.setattr("gps_core.cli.TTY", "/nonexistent/gps-test-tty")


@pytest.fixture
def gps_home(tmp_path, monkeypatch):
    home = tmp_path / "gps-home"
    monkeypatch.setenv("GPS_HOME", str(home))
    return home


@pytest.fixture
def dryrun_home(tmp_path, monkeypatch):
    """A fresh ``GPS_HOME`` with only the dry-run venue loaded and no fault or crash armed."""
    monkeypatch.setenv("GPS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GPS_LOAD_PLUGINS", "dryrun")
    for name in ("GPS_DRYRUN_FAULTS", "GPS_PAPER_FAULTS", "GPS_CRASH_AT"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "home"


@pytest.fixture
def venues(tmp_path, monkeypatch):
    """Both real venue plugins (and only them) pointed at their fake servers on 127.0.0.1.

    Yields ``(deribit_state, aevo_state)``: the fakes' books of record. Skips when either plugin
    is not installed.
    """
    deribit_fake = pytest.importorskip("gps_venue_deribit.testing.fake_server")
    aevo_fake = pytest.importorskip("gps_venue_aevo.testing.fake_server")
    deribit = deribit_fake.FakeDeribit().start()
    aevo_state = aevo_fake.FakeAevo()
    aevo = aevo_fake.serve(aevo_state)
    env = {"GPS_HOME": str(tmp_path / "home"), "GPS_LOAD_PLUGINS": "deribit,aevo",
           "DERIBIT_BASE_URL": deribit.url, "DERIBIT_CLIENT_ID": deribit.state.client_id,
           "DERIBIT_CLIENT_SECRET": deribit.state.client_secret, "AEVO_BASE_URL": aevo.url,
           **aevo_state.create_account()}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("DERIBIT_TESTNET", raising=False)
    monkeypatch.delenv("AEVO_TESTNET", raising=False)
    try:
        yield deribit.state, aevo_state
    finally:
        deribit.stop()
        aevo.stop()
