"""``gps doctor``: explain what is wrong with an installation, even with a broken plugin in it."""

from __future__ import annotations

import os
import re
import stat
import sys
import time
from dataclasses import dataclass
from importlib import metadata

from . import __version__
from .config import gps_home
from .hookspecs import HOOKSPEC_VERSION, MIN_HOOKSPEC_VERSION
from .plugins import PLUGIN_GROUP, VENUE_GROUP, PluginHost
from .secrets import credentials_file


@dataclass
class Finding:
    level: str  # "ok", "warning", "problem"
    topic: str
    message: str
    detail: str = ""

    def to_json(self) -> dict:
        return {"level": self.level, "topic": self.topic, "message": self.message, "detail": self.detail}


def _requirement_name(requirement: str) -> str:
    return re.split(r"[\s;<>=!~\[(]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _version_satisfies(version: str, requirement: str) -> bool | None:
    """Whether ``version`` meets the specifier in ``requirement``; None if it cannot tell."""
    try:
        from packaging.requirements import Requirement
    except ImportError:
        return None
    try:
        return Requirement(requirement).specifier.contains(version, prereleases=True)
    except Exception:  # noqa: BLE001 - an unparsable requirement is reported elsewhere
        return None


def diagnose(environ=None) -> list[Finding]:
    env = os.environ if environ is None else environ
    accepts = (f"hook API version {HOOKSPEC_VERSION}" if MIN_HOOKSPEC_VERSION == HOOKSPEC_VERSION else
               f"hook API version {HOOKSPEC_VERSION} (loads plugins built against {MIN_HOOKSPEC_VERSION} to "
               f"{HOOKSPEC_VERSION})")
    findings = [Finding("ok", "gps", f"gps-core {__version__}, {accepts}, "
                                     f"Python {sys.version.split()[0]} at {sys.executable}")]
    home = gps_home(env)
    if home.exists() and not os.access(home, os.W_OK):
        findings.append(Finding("problem", "GPS_HOME", f"{home} is not writable: journals cannot be written"))
    else:
        findings.append(Finding("ok", "GPS_HOME", str(home)))
    creds = credentials_file(home)
    if creds.exists() and stat.S_IMODE(creds.stat().st_mode) & 0o077:
        findings.append(Finding("problem", "credentials", f"{creds} is readable by other users; run: chmod 600 {creds}"))

    started = time.perf_counter()
    host = PluginHost(environ={k: v for k, v in env.items() if k != "GPS_STRICT_PLUGINS"})
    host.load_entry_points()
    elapsed = (time.perf_counter() - started) * 1000
    findings.append(Finding("ok" if elapsed < 500 else "warning", "plugins",
                            f"{len(host.records)} plugin entry point(s) loaded in {elapsed:.0f} ms"))
    for record in host.records.values():
        topic = f"{record.group}:{record.name}"
        if not record.ok:
            findings.append(Finding("problem", topic, f"{record.distribution or '?'} {record.version or ''}: {record.error}",
                                    record.detail or ""))
            continue
        hooks = [c.name for c in host.pm.get_hookcallers(record.plugin) or []]
        if not hooks:
            findings.append(Finding("problem", topic, "the entry point loads an object that implements no gps hook"))
            continue
        if record.group == VENUE_GROUP:
            missing = sorted(set(_venue_hooks()) - set(hooks))
            if missing:
                findings.append(Finding("problem", topic, f"venue does not implement: {', '.join(missing)}"))
                continue
        findings.append(Finding("ok", topic, f"{record.distribution} {record.version}: {len(hooks)} hooks"))
    if not host.venue_names():
        findings.append(_no_venue_finding(host))
    findings.extend(_dependency_findings(host))
    harnesses = {ep.name for ep in metadata.entry_points(group="gps.harnesses")}
    for name in host.venue_names():
        if name not in harnesses:
            findings.append(Finding("warning", f"{VENUE_GROUP}:{name}", "no conformance harness: `gps venues certify` "
                                                                        "cannot run for it"))
    groups = {ep.group for dist in metadata.distributions() for ep in dist.entry_points if ep.group.startswith("gps")}
    for group in sorted(groups - {VENUE_GROUP, PLUGIN_GROUP, "gps.harnesses"}):
        findings.append(Finding("warning", group, f"entry-point group {group!r} is not one gps reads "
                                                  f"(did you mean {VENUE_GROUP!r}?)"))
    return findings


def _no_venue_finding(host: PluginHost) -> Finding:
    """The problem of an installation where no venue works: gps can neither quote nor trade."""
    broken = sorted(r.name for r in host.records.values() if r.group == VENUE_GROUP and not r.ok)
    if host.skipped_venues and not broken:
        return Finding("problem", VENUE_GROUP, "GPS_LOAD_PLUGINS / GPS_DISABLE_PLUGINS leave out every installed "
                                               f"venue ({', '.join(host.skipped_venues)}): gps can neither quote nor trade")
    why = f"every installed venue is broken ({', '.join(broken)})" if broken else "no venue is installed"
    return Finding("problem", VENUE_GROUP, f"{why}: gps can neither quote nor trade; add one with "
                                           "`gps install dryrun` (paper trading) or `gps install deribit`")


def _venue_hooks() -> list[str]:
    from .plugins import VENUE_HOOKS

    return list(VENUE_HOOKS)


def _dependency_findings(host: PluginHost) -> list[Finding]:
    findings = []
    installed = {d.metadata["Name"].lower().replace("_", "-"): d.version for d in metadata.distributions()}
    for record in host.records.values():
        if not record.distribution:
            continue
        try:
            requires = metadata.requires(record.distribution) or []
        except metadata.PackageNotFoundError:
            continue
        for requirement in requires:
            if "extra ==" in requirement:
                continue
            name = _requirement_name(requirement)
            if name not in installed:
                findings.append(Finding("problem", f"{record.group}:{record.name}",
                                        f"{record.distribution} needs {requirement!r}, which is not installed"))
            elif _version_satisfies(installed[name], requirement) is False:
                findings.append(Finding("problem", f"{record.group}:{record.name}",
                                        f"{record.distribution} needs {requirement!r} but {name} {installed[name]} is installed"))
    return findings
