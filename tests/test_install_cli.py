"""``gps install`` / ``gps uninstall``: what they hand pip, and the refusals made before pip runs.

Installing and uninstalling for real, into a fresh virtualenv from built wheels, is in
tests/test_packaging.py.
"""

import json

import pytest
from click.testing import CliRunner

from gps_core.cli import cli
from gps_core.cli_install import pip_requirement
from gps_core.doctor import diagnose


def gps(*args, env=None):
    return CliRunner().invoke(cli, [str(a) for a in args], env=env)


@pytest.mark.parametrize("argument, requirement", [
    ("deribit", "gps-venue-deribit"),
    ("my_venue", "gps-venue-my-venue"),
    ("gps-venue-aevo", "gps-venue-aevo"),
    ("gps-venue-aevo>=0.1,<1", "gps-venue-aevo>=0.1,<1"),
    ("./gps-venue-acme", "./gps-venue-acme"),
    ("dist/gps_venue_dryrun-0.1.0-py3-none-any.whl", "dist/gps_venue_dryrun-0.1.0-py3-none-any.whl"),
])
def test_a_venue_name_stands_for_its_distribution_anything_else_goes_to_pip_unchanged(argument, requirement):
    assert pip_requirement(argument) == requirement


def test_a_name_that_is_an_existing_path_is_the_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "acme").mkdir()
    assert pip_requirement("acme") == "acme"


@pytest.mark.parametrize("args, says", [
    (["install"], "name a venue to install (gps install deribit), or a path with -e PATH"),
    (["uninstall"], "name a venue to uninstall (gps uninstall deribit)"),
    (["uninstall", "gps-core"], "'gps-core' is gps itself (gps-core); remove it with pip (or pipx) uninstall"),
    (["uninstall", "dryrun"], "no terminal to confirm on: pass --yes to uninstall gps-venue-dryrun"),
])
def test_refusals_are_one_line_and_exit_2_before_pip_runs(args, says):
    result = gps(*args)
    assert result.exit_code == 2 and result.stderr.strip() == f"gps: error: {says}"


def test_uninstalling_what_is_not_installed_names_what_is(monkeypatch):
    result = gps("uninstall", "--yes", "--json", "nosuchvenue")
    assert result.exit_code == 2
    error = json.loads(result.stdout)["error"]
    assert error.startswith("no venue or distribution named 'nosuchvenue' is installed (installed venues: ")
    assert "dryrun" in error and "Traceback" not in result.output


def test_doctor_says_when_every_installed_venue_is_left_out():
    findings = diagnose({"GPS_LOAD_PLUGINS": "none", "GPS_HOME": "/nonexistent-gps-home"})
    problems = [(f.topic, f.message) for f in findings if f.level == "problem"]
    assert len(problems) == 1 and problems[0][0] == "gps.venues"
    assert problems[0][1].startswith("GPS_LOAD_PLUGINS / GPS_DISABLE_PLUGINS leave out every installed venue (")
