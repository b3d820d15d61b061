"""The public plugin API: one import location, and the hook API version checked as a range."""

import ast
import re
from pathlib import Path

import pytest

from gps_core import api, hookspecs
from gps_core.errors import ConfigurationError
from gps_core.plugins import PluginHost
from gps_core.scaffold import core_requirement, new_venue_package
from recording_venue import RecordingVenue

ROOT = Path(__file__).resolve().parents[1]


def test_every_public_name_resolves_and_the_version_lives_with_the_hooks():
    assert sorted(set(api.__all__)) == sorted(api.__all__)
    for name in api.__all__:
        assert getattr(api, name) is not None, name
    assert api.HOOKSPEC_VERSION is hookspecs.HOOKSPEC_VERSION
    assert api.hookimpl is hookspecs.hookimpl
    assert hookspecs.MIN_HOOKSPEC_VERSION <= hookspecs.HOOKSPEC_VERSION


@pytest.fixture
def newer_core(monkeypatch):
    """A core implementing hook API 3 that still accepts plugins built against 2."""
    monkeypatch.setattr(hookspecs, "HOOKSPEC_VERSION", 3)
    monkeypatch.setattr(hookspecs, "MIN_HOOKSPEC_VERSION", 2)
    return PluginHost(environ={})


@pytest.mark.parametrize("version", [2, 3])
def test_a_plugin_built_against_any_supported_version_loads(newer_core, version):
    newer_core.register(RecordingVenue("v", hookspec_version=version), "v")
    assert newer_core.venue_names() == ["v"]


@pytest.mark.parametrize("version, says", [
    (1, "built against hook API version 1, no longer supported (this gps-core accepts 2 to 3): upgrade the plugin"),
    (4, "built against hook API version 4, newer than gps-core supports (this gps-core accepts 2 to 3): "
        "upgrade gps-core"),
    ("3", "declares hook API version '3', not a whole number (this gps-core accepts 2 to 3): fix the plugin"),
])
def test_a_plugin_outside_the_range_is_refused_in_one_line_naming_it(newer_core, version, says):
    with pytest.raises(ConfigurationError) as refused:
        newer_core.register(RecordingVenue("v", hookspec_version=version), "v")
    assert str(refused.value) == f"plugin 'v': {says}"
    assert newer_core.records["v"].error == says and newer_core.venue_names() == []


def test_the_bundled_plugins_declare_the_version_they_are_built_against():
    for plugin in ("dryrun", "deribit", "aevo"):
        source = (ROOT / "plugins" / plugin / f"gps_venue_{plugin}" / "__init__.py").read_text()
        assert re.search(r"hookspec_version=1\b", source), plugin


def test_plugins_require_a_range_of_gps_core_not_a_bare_name():
    for plugin in ("dryrun", "deribit", "aevo"):
        text = (ROOT / "plugins" / plugin / "pyproject.toml").read_text()
        assert '"gps-core>=0.1,<1"' in text, plugin
    assert core_requirement("0.1.0") == "gps-core>=0.1,<1"
    assert core_requirement("1.4.2") == "gps-core>=1.4,<2"


def test_the_scaffold_writes_the_range_the_version_license_and_imports_only_the_public_api(tmp_path):
    package = tmp_path / "gps-venue-acme"
    new_venue_package("acme", package)
    pyproject = (package / "pyproject.toml").read_text()
    assert f'dependencies = ["{core_requirement()}"]' in pyproject
    assert 'version = {attr = "gps_venue_acme.__version__"}' in pyproject and 'version = "' not in pyproject
    assert '__version__ = "0.1.0"' in (package / "gps_venue_acme" / "__init__.py").read_text()
    assert (package / "LICENSE").read_text().startswith("MIT License")
    assert (package / "gps_venue_acme" / "py.typed").exists()
    source = (package / "gps_venue_acme" / "__init__.py").read_text()
    assert f"HOOKSPEC_VERSION = {hookspecs.HOOKSPEC_VERSION}\n" in source
    assert "hookspec_version=HOOKSPEC_VERSION" in source
    for path in (package / "gps_venue_acme").rglob("*.py"):
        modules = {node.module for node in ast.walk(ast.parse(path.read_text()))
                   if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("gps_core")}
        assert modules <= {"gps_core.api", "gps_core.testing.conformance"}, (path.name, modules)
