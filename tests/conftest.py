"""Fixtures shared by the core tests."""

import pytest


@pytest.fixture(autouse=True)
def no_controlling_terminal(monkeypatch):
    """In-process runs never ask the developer's terminal for a live confirmation (as in CI)."""
    monkeypatch.setattr("gps_core.cli.TTY", "/nonexistent/gps-test-tty")


@pytest.fixture
def gps_home(tmp_path, monkeypatch):
    home = tmp_path / "gps-home"
    monkeypatch.setenv("GPS_HOME", str(home))
    return home
