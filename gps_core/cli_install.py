"""``gps install`` and ``gps uninstall``: add or remove a venue in the environment gps runs in.

Both run ``sys.executable -m pip``, the pip of the very interpreter running gps, so a gps
installed with pipx (in a virtualenv of its own) gains the venue where it will look for it.
Registered on the ``gps`` group by :mod:`gps_core.cli`; imports only ``click`` at start-up.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

import click

from .cli import EXIT_OK, _echo_json, _say, cli, handles_errors

#: A venue's name, as ``gps plugin new`` accepts it: ``deribit`` stands for ``gps-venue-deribit``.
VENUE_NAME = re.compile(r"[a-z][a-z0-9_]{1,30}")
#: Distributions gps uninstall refuses to remove: they are gps itself.
CORE_DISTRIBUTIONS = {"gps-core"}


def pip_requirement(argument: str, *, package: bool = False) -> str:
    """What to hand pip for one ``gps install`` argument.

    A venue name is the distribution ``gps-venue-NAME``, case and ``-``/``_`` normalised
    (``Aevo`` and ``aevo`` are ``gps-venue-aevo``); a ``gps-venue-*`` requirement (with a version
    range or not), a path, a wheel or sdist file or a URL goes to pip unchanged, as does a name
    that is an existing path. Anything else is refused unless ``package`` says it is meant
    (``--package``), so gps never installs an arbitrary index name by accident.

    :raises BadInput: ``argument`` is none of those and ``package`` is false.
    """
    from .errors import BadInput

    if package or Path(argument).exists() or "/" in argument or "://" in argument or argument.startswith("git+"):
        return argument
    if re.search(r"\.(whl|tar\.gz|zip)$", argument):
        return argument
    if re.match(r"gps[-_.]venue[-_.][a-z0-9]", argument, re.I):
        return argument
    name = argument.lower().replace("-", "_")
    if VENUE_NAME.fullmatch(name):
        return "gps-venue-" + name.replace("_", "-")
    raise BadInput(f"{argument!r} is not a venue name, path or URL: pass --package {argument!r} to hand it "
                   "to pip anyway")


def _venue_distribution(name: str) -> str:
    """``gps-venue-NAME`` for a venue name (case and ``-``/``_`` normalised), else ``name``."""
    venue = name.lower().replace("-", "_")
    return "gps-venue-" + venue.replace("_", "-") if VENUE_NAME.fullmatch(venue) else name


def unfinished_executions(venues: list[str]) -> dict[str, list[str]]:
    """Execution id -> the venues among ``venues`` it has an order on, for every execution that is
    running, was interrupted, or finished with orders unsettled (from the journals in GPS_HOME)."""
    if not venues:
        return {}
    from .config import gps_home
    from .events import replay
    from .journal import read_events
    from .recovery import interrupted_executions, unsettled_orders

    home = gps_home()
    found: dict[str, set[str]] = {}
    for path, order in unsettled_orders(home):
        if order.request.venue in venues:
            found.setdefault(path.stem, set()).add(order.request.venue)
    for path in interrupted_executions(home):
        on = {o.request.venue for o in replay(read_events(path, warn=lambda *a: None)).values()} & set(venues)
        if on:
            found.setdefault(path.stem, set()).update(on)
    return {execution: sorted(on) for execution, on in found.items()}


def _on_terminal() -> bool:
    """Whether a person can answer a prompt (stdin is a terminal)."""
    return sys.stdin.isatty()


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_venues() -> dict[str, str]:
    """Installed venue entry points: venue name -> distribution name (fresh from disk)."""
    import importlib
    from importlib import metadata

    from .plugins import VENUE_GROUP

    importlib.invalidate_caches()
    return {name: dists[0] for name, dists in venue_claims().items()}


def venue_claims() -> dict[str, list[str]]:
    """Venue name -> every installed distribution whose entry point claims it, in the order gps
    resolves a clash (by distribution name: the first is loaded, see :mod:`gps_core.plugins`)."""
    import importlib
    from importlib import metadata

    from .plugins import VENUE_GROUP

    importlib.invalidate_caches()
    claims: dict[str, list[str]] = {}
    for ep in metadata.entry_points(group=VENUE_GROUP):
        dist = getattr(ep, "dist", None)
        name = dist.metadata["Name"] if dist is not None else ""
        if name not in claims.setdefault(ep.name, []):
            claims[ep.name].append(name)
    return {venue: sorted(dists, key=_normalise) for venue, dists in claims.items()}


def installed_distributions() -> dict[str, str]:
    """Every distribution in the environment: normalised name -> version (fresh from disk)."""
    import importlib
    from importlib import metadata

    importlib.invalidate_caches()
    found = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            found.setdefault(_normalise(name), dist.version)
    return found


def running_core_version() -> str:
    """The version of the gps-core running now (installing a venue must never change it)."""
    from . import __version__

    return __version__


def core_requirements() -> set[str]:
    """Normalised names of the distributions gps-core requires (never removed by gps uninstall)."""
    from importlib import metadata

    try:
        requires = metadata.requires("gps-core") or []
    except metadata.PackageNotFoundError:
        requires = []
    return {_normalise(re.match(r"[A-Za-z0-9._-]+", r)[0]) for r in requires if re.match(r"[A-Za-z0-9._-]+", r)}


def plugin_distributions() -> set[str]:
    """Normalised names of the distributions that provide a gps venue or gps plugin entry point."""
    import importlib
    from importlib import metadata

    from .plugins import PLUGIN_GROUP, VENUE_GROUP

    importlib.invalidate_caches()
    found = set()
    for group in (VENUE_GROUP, PLUGIN_GROUP):
        for ep in metadata.entry_points(group=group):
            dist = getattr(ep, "dist", None)
            if dist is not None:
                found.add(_normalise(dist.metadata["Name"]))
    return found


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


def _run_pip(args: list[str], *, as_json: bool) -> str:
    """Run pip, passing its messages through (to stderr with ``--json``); return what it said.

    :raises GpsError: pip failed; a conflict with the running gps-core is named in one line.
    """
    from .errors import GpsError

    command = [sys.executable, "-m", "pip", *args]
    out = sys.stderr if as_json else sys.stdout
    said = []
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as pip:
        for line in pip.stdout:
            said.append(line)
            out.write(line)
            out.flush()
    text = "".join(said)
    if pip.returncode != 0:
        missing = re.search(r"No matching distribution found for (gps-venue-[A-Za-z0-9._-]+)", text)
        if missing:
            from .errors import BadInput

            raise BadInput(f"no distribution {missing[1]} was found: the gps-venue-* names are not published on "
                           "PyPI yet; install from wheels (-f DIR) or a source directory (-e DIR)")
        needs = re.search(r"^\s*(\S+ \S+) depends on (gps-core\b[^\s]*)", text, re.M)
        if needs:
            raise GpsError(f"{needs[1]} needs {needs[2]}; you run gps-core {running_core_version()}: "
                           "nothing was installed (gps install never changes gps-core)")
        raise GpsError(f"pip {args[0]} failed (exit {pip.returncode}); pip's message is above")
    return text


#: Run in a fresh interpreter: an editable install's import hook is read only at start-up.
_LOAD_CHECK = ("import json, sys; from gps_core.cli_install import load_errors_here; "
               "print(json.dumps(load_errors_here(sys.argv[1:])))")


def load_errors_here(names: list[str]) -> dict[str, str]:
    """Venue name -> why it does not load (import error, incompatible hook API), in this process."""
    from .plugins import PluginHost

    if not names:
        return {}
    host = PluginHost(environ={"GPS_LOAD_PLUGINS": ",".join(names)})
    host.load_entry_points()
    return {name: record.error or "failed to load" for name, record in host.records.items()
            if name.split(" ")[0] in names and not record.ok}


def _load_errors(names: list[str]) -> dict[str, str]:
    """:func:`load_errors_here` in a fresh interpreter (the one gps runs in), as gps will load them next."""
    import json

    if not names:
        return {}
    result = subprocess.run([sys.executable, "-c", _LOAD_CHECK, *names], capture_output=True, text=True,
                            timeout=120)
    try:
        return json.loads(result.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        why = (result.stderr.strip().splitlines() or [f"exit {result.returncode}"])[-1]
        return {name: f"could not be checked: {why}" for name in names}


def _changed(before: dict[str, str], after: dict[str, str], *, leave_out: set[str]) -> dict[str, list]:
    """Distribution -> [version before, version after] (``None`` = absent), for those that changed."""
    return {name: [before.get(name), after.get(name)] for name in sorted(set(before) | set(after))
            if before.get(name) != after.get(name) and name not in leave_out}


def _report(before: dict[str, str], after: dict[str, str], verb: str, as_json: bool, *,
            dists_before: dict[str, str], plugins_before: set[str], clashes: dict[str, list[str]] | None = None,
            **extra) -> int:
    """Say which venues came, went or were replaced, and what else changed; return the exit code.

    1 when an added venue does not load, replaced another, or shares its name with another.
    """
    from .cli import EXIT_INCOMPLETE

    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    replaced = {name: [before[name], after[name]] for name in sorted(set(before) & set(after))
                if _normalise(before[name]) != _normalise(after[name])}
    clashes = clashes or {}
    broken = _load_errors(added + list(replaced))
    # the venue and plugin distributions are reported as venues: "other" means everything else
    venue_dists = ({_normalise(d) for d in list(before.values()) + list(after.values())} | plugins_before
                   | plugin_distributions())
    changed = _changed(dists_before, installed_distributions(), leave_out=venue_dists)
    failed = bool(broken or replaced or clashes)
    if as_json:
        _echo_json({**extra, "added_venues": added, "removed_venues": removed, "venues": sorted(after),
                    "broken_venues": broken, "replaced_venues": replaced, "venue_name_clashes": clashes,
                    "other_distributions_changed": changed})
        return EXIT_INCOMPLETE if failed else EXIT_OK
    for name in added:
        if name in broken:
            _say(f"Added venue {name} ({after[name]}), but it does not load: {broken[name]}; "
                 f"remove it with `gps uninstall {name}`", err=True)
        else:
            _say(f"Added venue {name} ({after[name]}).")
    for name, (old, new) in replaced.items():
        _say(f"Venue {name} was {old} and is now {new}: a plugin replaced it"
             f"{' and does not load: ' + broken[name] if name in broken else ''}", err=True)
    for name, dists in clashes.items():
        _say(f"Venue name {name} is claimed by {' and '.join(dists)}: gps loads {dists[0]}; "
             f"uninstall the other", err=True)
    for name in removed:
        _say(f"Removed venue {name} ({before[name]}).")
    for name, (old, new) in changed.items():
        _say(f"Also changed: {name} {old or '(absent)'} -> {new or '(removed)'}.", err=True)
    if not added and not removed and not replaced and not clashes:
        _say(f"No venue was {verb}.")
    _say(f"Installed venues: {', '.join(sorted(after)) or 'none'}.")
    return EXIT_INCOMPLETE if failed else EXIT_OK


@cli.command("install", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("packages", nargs=-1, metavar="NAME...")
@click.option("-e", "--editable", multiple=True, metavar="PATH", help="Install a venue from its source directory, editable.")
@click.option("-U", "--upgrade", is_flag=True, help="Upgrade to the newest version that fits.")
@click.option("--force-reinstall", is_flag=True, help="Reinstall even if the version is already installed.")
@click.option("--pre", is_flag=True, help="Accept pre-release versions.")
@click.option("-f", "--find-links", multiple=True, metavar="DIR|URL", help="Also look for wheels here (pip -f).")
@click.option("--no-index", is_flag=True, help="Do not ask the package index (use --find-links only).")
@click.option("-i", "--index-url", metavar="URL", help="Package index to use instead of PyPI.")
@click.option("--package", "package", is_flag=True,
              help="NAME is a pip requirement, not a venue name (installs any distribution pip finds).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON: the venues added, and all installed.")
@handles_errors
def install_cmd(packages, editable, upgrade, force_reinstall, pre, find_links, no_index, index_url, package,
                as_json) -> None:
    """Install venues into the Python environment gps runs in (with pip).

    NAME is a venue's name (deribit or Deribit installs gps-venue-deribit), a gps-venue-*
    requirement with a version range, a wheel file, a path or a URL; any other pip requirement
    needs --package. gps-core itself is never changed: a venue that needs another gps-core is
    refused. Works for a gps installed with pipx too: the venue goes where gps looks for it.

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
    requirements = [pip_requirement(p, package=package) for p in packages]
    args += requirements
    before, dists_before, plugins_before = installed_venues(), installed_distributions(), plugin_distributions()
    if not as_json:
        _say(f"Installing {', '.join(requirements + list(editable))} with {sys.executable} -m pip")
    with tempfile.TemporaryDirectory(prefix="gps-install-") as scratch:
        constraint = Path(scratch) / "constraints.txt"
        constraint.write_text(f"gps-core=={running_core_version()}\n")
        _run_pip([*args, "--constraint", str(constraint)], as_json=as_json)
    after = installed_venues()
    clashes = {name: dists for name, dists in venue_claims().items() if len(dists) > 1}
    sys.exit(_report(before, after, "added", as_json, dists_before=dists_before, plugins_before=plugins_before,
                     clashes=clashes,
                     installed=requirements + list(editable)))


@cli.command("uninstall", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("names", nargs=-1, metavar="NAME...")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--force", is_flag=True, help="Uninstall even if executions on the venue are not finished.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON: the venues removed, and those left.")
@handles_errors
def uninstall_cmd(names, yes, force, as_json) -> None:
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
        distribution = venues.get(name) or _installed_distribution(name) or _installed_distribution(_venue_distribution(name))
        if not distribution:
            raise BadInput(f"no venue or distribution named {name!r} is installed "
                           f"(installed venues: {', '.join(sorted(venues)) or 'none'})")
        if _normalise(distribution) in CORE_DISTRIBUTIONS:
            raise BadInput(f"{name!r} is gps itself ({distribution}); remove it with pip (or pipx) uninstall")
        if _normalise(distribution) in core_requirements() or _normalise(distribution) not in plugin_distributions():
            raise BadInput(f"{name!r} ({distribution}) is not a gps venue or plugin: gps uninstall removes only "
                           "those (gps-core needs its own dependencies)")
        if distribution not in distributions:
            distributions.append(distribution)
    removing = sorted(v for v, d in venues.items() if d in distributions)
    unfinished = unfinished_executions(removing)
    if unfinished:
        listed = "; ".join(f"{execution} on {', '.join(on)}" for execution, on in unfinished.items())
        if not force:
            raise BadInput(f"executions not finished (orders unsettled, running or interrupted): {listed}; finish "
                           "them first (`gps recover`), or pass --force to uninstall anyway")
        _say(f"Warning: uninstalling with executions not finished: {listed}", err=True)
    if not yes:
        if not _on_terminal():
            raise BadInput(f"no terminal to confirm on: pass --yes to uninstall {', '.join(distributions)}")
        try:
            confirmed = click.confirm(f"Uninstall {', '.join(distributions)}?", err=True)
        except click.Abort:  # Ctrl-C or end of input at the prompt
            confirmed = False
        if not confirmed:
            raise BadInput("not confirmed; nothing was removed")
    _require_pip()
    dists_before, plugins_before = installed_distributions(), plugin_distributions()
    _run_pip(["uninstall", "--yes", *distributions], as_json=as_json)
    sys.exit(_report(venues, installed_venues(), "removed", as_json, dists_before=dists_before,
                     plugins_before=plugins_before,
                     uninstalled=distributions))
