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


def test_a_plugin_that_declares_no_hook_api_version_is_taken_as_the_first_not_the_newest():
    """A core at hook API 2 must not take an undeclared plugin as built against 2."""
    import subprocess
    import sys

    probe = ("import gps_core.hookspecs as h; h.HOOKSPEC_VERSION = 2; import gps_core.model as m; "
             "print(m.VenueInfo(name='x').hookspec_version)")
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=60).stdout.strip() == "1"


@pytest.mark.parametrize("args", [["venues"], ["positions"]])
def test_with_no_venue_every_hint_is_gps_install_dryrun(args):
    result = gps(*args, env={"GPS_LOAD_PLUGINS": "none"})
    assert "gps install dryrun" in result.output and "pip install" not in result.output


def test_no_module_hints_pip_install_of_a_venue():
    from pathlib import Path

    import gps_core

    hints = [p.name for p in Path(gps_core.__file__).parent.rglob("*.py") if "pip install gps-venue" in p.read_text()]
    assert hints == []


def test_positions_with_no_venue_installed_says_so_and_exits_1():
    result = gps("positions", env={"GPS_LOAD_PLUGINS": "none"})
    assert result.exit_code == 1 and result.stderr.strip() == "gps: error: no venue is installed: gps install dryrun"
    answer = gps("positions", "--json", env={"GPS_LOAD_PLUGINS": "none"})
    assert answer.exit_code == 1 and json.loads(answer.stdout) == {
        "error": "no venue is installed: gps install dryrun", "exit_code": 1}


def test_certify_a_venue_that_is_not_installed_says_so():
    result = gps("venues", "certify", "nosuch")
    assert result.exit_code == 2
    assert result.stderr.strip() == "gps: error: venue 'nosuch' is not installed (gps venues lists those that are)"


def test_certify_a_venue_built_for_an_unsupported_hook_api_is_one_refusal(tmp_path):
    import os
    import subprocess
    import sys

    site = tmp_path / "site"
    site.mkdir()
    (site / "gps_venue_future.py").write_text(
        "from gps_core.api import Capability, VenueInfo, hookimpl\n\n\nclass Venue:\n    @hookimpl\n"
        "    def gps_venue_info(self):\n        return VenueInfo(name='future', underlyings=('BTC',), "
        "price_currencies=('USD',), capabilities=frozenset({Capability.GTC}), hookspec_version=99)\n")
    info = site / "gps_venue_future-0.0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: gps-venue-future\nVersion: 0.0.1\n")
    (info / "entry_points.txt").write_text("[gps.venues]\nfuture = gps_venue_future:Venue\n\n"
                                           "[gps.harnesses]\nfuture = gps_venue_future:Venue\n")
    env = {**os.environ, "GPS_HOME": str(tmp_path / "home"), "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))}
    result = subprocess.run([sys.executable, "-m", "gps_core.cli", "venues", "certify", "future"],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip() == (
        "gps: error: venue 'future' does not load, so it cannot be certified: built against hook API version 99, "
        "newer than gps-core supports (this gps-core accepts 1): upgrade gps-core")


@pytest.mark.parametrize("version, requirement", [("0.1.0", "gps-core>=0.1,<1"), ("1.0rc1", "gps-core>=1.0,<2"),
                                                  ("2.3.post1", "gps-core>=2.3,<3"), ("3", "gps-core>=3.0,<4")])
def test_the_scaffold_core_range_comes_from_any_release(version, requirement):
    from gps_core.scaffold import core_requirement

    assert core_requirement(version) == requirement


def test_doctor_names_the_one_hook_api_version_it_loads():
    from gps_core.hookspecs import HOOKSPEC_VERSION, MIN_HOOKSPEC_VERSION

    findings = diagnose({"GPS_HOME": "/nonexistent-gps-home"})
    first = findings[0].message
    if MIN_HOOKSPEC_VERSION == HOOKSPEC_VERSION:
        assert f", hook API version {HOOKSPEC_VERSION}, Python " in first and " to " not in first


def test_uninstalling_a_venue_an_unfinished_execution_uses_names_it_and_needs_force(tmp_path, monkeypatch):
    import os
    import subprocess
    import sys

    from gps_core import cli_install
    from gps_venue_dryrun.market import current_market

    monkeypatch.setenv("GPS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GPS_LOAD_PLUGINS", "dryrun")
    call = next(i.symbol for i in current_market({}).instruments("BTC") if i.symbol.endswith("-100000-C"))
    crashed = subprocess.run([sys.executable, "-m", "gps_core.cli", "execute", "--venue", "dryrun", "--json",
                              "--sequential", "--timeout", "5", "--combo", "never", "--leg", f"buy 0.1 {call}",
                              "--leg", f"sell 0.1 {call[:-1]}P"],
                             env={**os.environ, "GPS_CRASH_AT": "between_legs@L1"}, capture_output=True, timeout=120)
    assert crashed.returncode == -9, crashed.stderr
    execution = next((tmp_path / "home" / "journal").glob("*.jsonl")).stem
    monkeypatch.setattr(cli_install, "_run_pip", lambda *a, **k: pytest.fail("pip must not run"))
    refused = gps("uninstall", "--yes", "dryrun")
    assert refused.exit_code == 2
    assert refused.stderr.strip() == (
        f"gps: error: executions not finished (orders unsettled, running or interrupted): {execution} on dryrun; "
        "finish them first (`gps recover`), or pass --force to uninstall anyway")
    # once the venue is gone, recover says how to bring it back
    blocked = gps("recover", "--json", env={"GPS_LOAD_PLUGINS": "aevo"})
    assert blocked.exit_code == 1
    assert "venue 'dryrun' is not installed: `gps install dryrun`" in json.loads(blocked.stdout)["failures"][0]
