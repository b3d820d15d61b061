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
    ("Aevo", "gps-venue-aevo"),
    ("DERIBIT", "gps-venue-deribit"),
    ("my-venue", "gps-venue-my-venue"),
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


@pytest.mark.parametrize("name", ["requests[socks]", "numpy==2.0", "Foo.Bar"])
def test_a_name_that_is_no_venue_path_or_url_needs_package(name):
    from gps_core.errors import BadInput

    with pytest.raises(BadInput, match="is not a venue name, path or URL: pass --package"):
        pip_requirement(name)
    assert pip_requirement(name, package=True) == name


@pytest.mark.parametrize("name, distribution", [("pluggy", "pluggy"), ("click", "click"), ("pip", "pip"),
                                                ("requests", "requests")])
def test_uninstall_refuses_what_is_not_a_gps_plugin_before_pip_runs(monkeypatch, name, distribution):
    from gps_core import cli_install

    monkeypatch.setattr(cli_install, "_run_pip", lambda *a, **k: pytest.fail("pip must not run"))
    result = gps("uninstall", "--yes", name)
    assert result.exit_code == 2
    assert result.stderr.strip() == (f"gps: error: {name!r} ({distribution}) is not a gps venue or plugin: gps "
                                     "uninstall removes only those (gps-core needs its own dependencies)")


@pytest.mark.parametrize("answer", ["n\n", ""])  # no, and end of input (as Ctrl-D)
def test_declining_the_uninstall_prompt_removes_nothing_and_says_so(monkeypatch, answer):
    from gps_core import cli_install

    monkeypatch.setattr(cli_install, "_run_pip", lambda *a, **k: pytest.fail("pip must not run"))
    monkeypatch.setattr(cli_install, "_on_terminal", lambda: True)
    result = CliRunner().invoke(cli, ["uninstall", "dryrun"], input=answer)
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().endswith("gps: error: not confirmed; nothing was removed")


def test_install_json_says_why_pip_failed_on_stdout(tmp_path):
    """Real pip, offline: nothing to find in an empty wheel directory."""
    result = gps("install", "--json", "--no-index", "--find-links", tmp_path, "nosuchvenue")
    assert result.exit_code == 2
    answer = json.loads(result.stdout)
    assert answer["exit_code"] == 2 and answer["error"].startswith(
        "no distribution gps-venue-nosuchvenue was found: the gps-venue-* names are not published on PyPI yet")
