"""``gps install`` and ``gps uninstall``: add or remove a venue in the environment gps runs in.

Both run ``sys.executable -m pip``, the pip of the very interpreter running gps, so a gps
installed with pipx (in a virtualenv of its own) gains the venue where it will look for it.
Registered on the ``gps`` group by :mod:`gps_core.cli`; imports only ``click`` at start-up.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import click

from .cli import EXIT_OK, _echo_json, _say, cli, handles_errors

#: A venue's name, as ``gps plugin new`` accepts it: ``deribit`` stands for ``gps-venue-deribit``.
VENUE_NAME = re.compile(r"[a-z][a-z0-9_]{1,30}")
#: Distributions gps uninstall refuses to remove: they are gps itself.
CORE_DISTRIBUTIONS = {"gps-core"}


def pip_requirement(argument: str) -> str:
    """What to hand pip for one ``gps install`` argument.

    A bare venue name (lowercase letters, digits and ``_``, as venues are named) is the
    distribution ``gps-venue-NAME``; anything else (``gps-venue-acme>=1.2``, a path, a wheel
    file, a URL) is passed to pip unchanged, as is a name that is an existing path.
    """
    if VENUE_NAME.fullmatch(argument) and not Path(argument).exists():
        return "gps-venue-" + argument.replace("_", "-")
    return argument


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_venues() -> dict[str, str]:
    """Installed venue entry points: venue name -> distribution name (fresh from disk)."""
    import importlib
    from importlib import metadata

    from .plugins import VENUE_GROUP

    importlib.invalidate_caches()
    venues = {}
    for ep in metadata.entry_points(group=VENUE_GROUP):
        dist = getattr(ep, "dist", None)
        venues.setdefault(ep.name, dist.metadata["Name"] if dist is not None else "")
    return venues


def _installed_distribution(name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.distribution(name).metadata["Name"]
    except metadata.PackageNotFoundError:
        return None


def _require_pip() -> None:
    import importlib.util

    from .errors import ConfigurationError

    if importlib.util.find_spec("pip") is None:
        raise ConfigurationError(
            f"pip is not available to the Python that runs gps ({sys.executable}); with pipx use "
            "`pipx inject gps-core gps-venue-NAME` instead")


def _run_pip(args: list[str], *, as_json: bool) -> None:
    from .errors import GpsError

    command = [sys.executable, "-m", "pip", *args]
    # With --json, pip's own messages go to stderr so stdout is the JSON answer alone.
    result = subprocess.run(command, stdout=sys.stderr if as_json else None)
    if result.returncode != 0:
        raise GpsError(f"pip {args[0]} failed (exit {result.returncode}); pip's message is above")


def _load_errors(names: list[str]) -> dict[str, str]:
    """Venue name -> why it does not load (import error, incompatible hook API), for ``names``."""
    from .plugins import PluginHost

    if not names:
        return {}
    host = PluginHost(environ={"GPS_LOAD_PLUGINS": ",".join(names)})
    host.load_entry_points()
    return {name: record.error or "failed to load" for name, record in host.records.items()
            if name in names and not record.ok}


def _report(before: dict[str, str], after: dict[str, str], verb: str, as_json: bool, **extra) -> int:
    """Say which venues came and went; return the exit code (1 when an added venue does not load)."""
    from .cli import EXIT_INCOMPLETE

    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    broken = _load_errors(added)
    if as_json:
        _echo_json({**extra, "added_venues": added, "removed_venues": removed, "venues": sorted(after),
                    "broken_venues": broken})
        return EXIT_INCOMPLETE if broken else EXIT_OK
    for name in added:
        if name in broken:
            _say(f"Added venue {name} ({after[name]}), but it does not load: {broken[name]}", err=True)
        else:
            _say(f"Added venue {name} ({after[name]}).")
    for name in removed:
        _say(f"Removed venue {name} ({before[name]}).")
    if not added and not removed:
        _say(f"No venue was {verb}.")
    _say(f"Installed venues: {', '.join(sorted(after)) or 'none'}.")
    return EXIT_INCOMPLETE if broken else EXIT_OK


@cli.command("install", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("packages", nargs=-1, metavar="NAME...")
@click.option("-e", "--editable", multiple=True, metavar="PATH", help="Install a venue from its source directory, editable.")
@click.option("-U", "--upgrade", is_flag=True, help="Upgrade to the newest version that fits.")
@click.option("--force-reinstall", is_flag=True, help="Reinstall even if the version is already installed.")
@click.option("--pre", is_flag=True, help="Accept pre-release versions.")
@click.option("-f", "--find-links", multiple=True, metavar="DIR|URL", help="Also look for wheels here (pip -f).")
@click.option("--no-index", is_flag=True, help="Do not ask the package index (use --find-links only).")
@click.option("-i", "--index-url", metavar="URL", help="Package index to use instead of PyPI.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON: the venues added, and all installed.")
@handles_errors
def install_cmd(packages, editable, upgrade, force_reinstall, pre, find_links, no_index, index_url, as_json) -> None:
    """Install venues into the Python environment gps runs in (with pip).

    NAME is a venue's name (deribit installs gps-venue-deribit) or anything pip install
    accepts: a distribution with a version range, a wheel file, a path. Works for a gps
    installed with pipx too: the venue goes where gps looks for it.

    \b
    Examples:
      gps install deribit
      gps install --upgrade aevo
      gps install -e ./gps-venue-acme
    """
    from .errors import BadInput

    if not packages and not editable:
        raise BadInput("name a venue to install (gps install deribit), or a path with -e PATH")
    _require_pip()
    args = ["install"]
    for flag, on in (("--upgrade", upgrade), ("--force-reinstall", force_reinstall), ("--pre", pre),
                     ("--no-index", no_index)):
        if on:
            args.append(flag)
    for link in find_links:
        args += ["--find-links", link]
    if index_url:
        args += ["--index-url", index_url]
    for path in editable:
        args += ["--editable", path]
    requirements = [pip_requirement(p) for p in packages]
    args += requirements
    before = installed_venues()
    if not as_json:
        _say(f"Installing {', '.join(requirements + list(editable))} with {sys.executable} -m pip")
    _run_pip(args, as_json=as_json)
    sys.exit(_report(before, installed_venues(), "added", as_json, installed=requirements + list(editable)))


@cli.command("uninstall", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("names", nargs=-1, metavar="NAME...")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON: the venues removed, and those left.")
@handles_errors
def uninstall_cmd(names, yes, as_json) -> None:
    """Uninstall venues from the Python environment gps runs in (with pip).

    NAME is an installed venue's name (its distribution is removed) or a distribution name.
    gps-core itself is never removed this way.

    \b
    Examples:
      gps uninstall deribit
      gps uninstall --yes gps-venue-aevo
    """
    from .errors import BadInput

    if not names:
        raise BadInput("name a venue to uninstall (gps uninstall deribit)")
    venues = installed_venues()
    distributions = []
    for name in names:
        distribution = venues.get(name) or _installed_distribution(name) or _installed_distribution(pip_requirement(name))
        if not distribution:
            raise BadInput(f"no venue or distribution named {name!r} is installed "
                           f"(installed venues: {', '.join(sorted(venues)) or 'none'})")
        if _normalise(distribution) in CORE_DISTRIBUTIONS:
            raise BadInput(f"{name!r} is gps itself ({distribution}); remove it with pip (or pipx) uninstall")
        if distribution not in distributions:
            distributions.append(distribution)
    if not yes:
        if not sys.stdin.isatty():
            raise BadInput(f"no terminal to confirm on: pass --yes to uninstall {', '.join(distributions)}")
        if not click.confirm(f"Uninstall {', '.join(distributions)}?", err=True):
            raise click.Abort()
    _require_pip()
    _run_pip(["uninstall", "--yes", *distributions], as_json=as_json)
    sys.exit(_report(venues, installed_venues(), "removed", as_json, uninstalled=distributions))
