"""Fixtures shared by the core tests."""

import pytest


@pytest.fixture
def gps_home(tmp_path, monkeypatch):
    home = tmp_path / "gps-home"
    monkeypatch.setenv("GPS_HOME", str(home))
    return home
