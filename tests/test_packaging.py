"""Build the wheels, install them into a fresh virtualenv, and check discovery end to end.

This is the "pip install gps-venue-X adds a venue, uninstalling removes it, a broken plugin
breaks nothing else" promise, checked on real installed distributions.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

BROKEN_PYPROJECT = """
[build-system]
requires = ["setuptools>=77"]
build-backend = "setuptools.build_meta"

[project]
name = "gps-venue-broken"
version = "0.0.1"
dependencies = []

[project.entry-points."gps.venues"]
broken = "gps_venue_broken:BrokenVenue"
"""


def run(*args, env=None, check=True):
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, env=env, timeout=600)
    if check and result.returncode != 0:
        raise AssertionError(f"{args} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheels")
    broken = tmp_path_factory.mktemp("broken-src")
    (broken / "pyproject.toml").write_text(BROKEN_PYPROJECT)
    (broken / "gps_venue_broken.py").write_text("import a_dependency_that_is_not_installed\n")
    for source in (ROOT, ROOT / "plugins" / "dryrun", broken):
        run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", out, source)
    return out


def test_install_list_break_and_uninstall_in_a_fresh_virtualenv(tmp_path, wheelhouse):
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    python, gps = venv / "bin" / "python", venv / "bin" / "gps"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GPS_", "VIRTUAL_ENV", "PYTHON"))}
    env.update(GPS_HOME=str(tmp_path / "home"), PATH=f"{venv / 'bin'}:{env.get('PATH', '')}")
    run(python, "-m", "pip", "install", "-q", "--find-links", wheelhouse, "gps-core", "gps-venue-dryrun", env=env)

    venues = json.loads(run(gps, "venues", "--json", env=env).stdout)
    assert [(v["name"], v["distribution"], v["ok"], v["error"]) for v in venues] == [
        ("dryrun", "gps-venue-dryrun", True, None)
    ]
    assert venues[0]["version"]

    run(python, "-m", "pip", "install", "-q", "--no-deps", "--find-links", wheelhouse, "gps-venue-broken", env=env)
    venues = {v["name"]: v for v in json.loads(run(gps, "venues", "--json", env=env).stdout)}
    assert venues["dryrun"]["ok"] is True
    assert venues["broken"]["ok"] is False and "a_dependency_that_is_not_installed" in venues["broken"]["error"]

    strategy = tmp_path / "demo.json"
    run(python, "-m", "gps_venue_dryrun.demo", "--out", strategy, env=env)
    execution = run(gps, "execute", "--venue", "dryrun", "--yes", "--json", strategy, env=env, check=False)
    assert execution.returncode == 0, execution.stderr
    report = json.loads(execution.stdout)
    # the dry-run venue offers combos: the 2-leg demo is one combo order, filled on both legs
    assert report["all_filled"] is True and [len(row["leg_fills"]) for row in report["legs"]] == [2]
    assert {leg["venue"] for leg in report["legs"]} == {"dryrun"}

    strict = run(gps, "venues", "--json", env={**env, "GPS_STRICT_PLUGINS": "1"}, check=False)
    assert strict.returncode == 2 and "broken" in strict.stderr and "Traceback" not in strict.stderr

    doctor = run(gps, "doctor", "--json", env=env, check=False)
    assert doctor.returncode == 1
    problems = [f for f in json.loads(doctor.stdout)["findings"] if f["level"] == "problem"]
    assert [p["topic"] for p in problems] == ["gps.venues:broken"]

    run(python, "-m", "pip", "uninstall", "-q", "-y", "gps-venue-dryrun", env=env)
    names = [v["name"] for v in json.loads(run(gps, "venues", "--json", env=env).stdout)]
    assert names == ["broken"]
    help_text = run(gps, "--help", env=env).stdout
    assert "execute" in help_text


def test_scaffold_install_certify_in_a_venv_with_only_gps_core(tmp_path, wheelhouse):
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    python, gps = venv / "bin" / "python", venv / "bin" / "gps"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GPS_", "VIRTUAL_ENV", "PYTHON"))}
    env.update(GPS_HOME=str(tmp_path / "home"), PATH=f"{venv / 'bin'}:{env.get('PATH', '')}")
    run(python, "-m", "pip", "install", "-q", "--find-links", wheelhouse, "gps-core", env=env)
    run(gps, "plugin", "new", "acme", "--dir", tmp_path / "gps-venue-acme", env=env)
    run(python, "-m", "pip", "install", "-q", "--no-build-isolation", "--find-links", wheelhouse,
        tmp_path / "gps-venue-acme", env=env, check=False)
    # Without build isolation the fresh venv may lack setuptools: fall back to an isolated build.
    if "gps-venue-acme" not in run(python, "-m", "pip", "list", env=env).stdout:
        run(python, "-m", "pip", "install", "-q", "--find-links", wheelhouse, tmp_path / "gps-venue-acme", env=env)
    venues = json.loads(run(gps, "venues", "--json", env=env).stdout)
    assert [(v["name"], v["ok"]) for v in venues] == [("acme", True)]
    certified = run(gps, "venues", "certify", "acme", "--json", env=env, check=False)
    assert certified.returncode == 0, certified.stdout + certified.stderr
    report = json.loads(certified.stdout)
    assert report["certified"] and report["counts"] == {"passed": 14, "failed": 0, "skipped": 1}  # C15: no combos
