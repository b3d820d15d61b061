"""Finding, loading and calling plugins.

Venues come from the entry-point group ``gps.venues`` and other plugins (risk guards,
audit sinks) from ``gps.plugins``. Each entry point is loaded on its own, inside
``try``: one that fails to import, to register or to describe itself is recorded with
its error and the others keep working. ``GPS_STRICT_PLUGINS=1`` makes such a failure
fatal (for plugin authors). ``GPS_LOAD_PLUGINS=a,b`` loads only the named entry points,
``GPS_DISABLE_PLUGINS=x`` skips some.

Venue hooks are called through :class:`Venue`, the one typed facade over them, holding one
per-venue hook caller per hook, from which every *other* venue plugin is removed: an order can
only ever reach the venue it was routed to (see :mod:`gps_core.hookspecs`, the public API).
Everything that talks to a venue (quotes, the engine, status, cancel, recover, close) holds a
:class:`Venue`; a dry run's venues are :class:`~gps_core.simulated.SimulatedVenue` plugins behind
the same facade. So an order goes: engine -> :meth:`Venue.place` -> the plugin's ``gps_place``.
"""

from __future__ import annotations

import os
import threading
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import pluggy

from . import hookspecs
from .errors import ConfigurationError, GpsError, OutcomeUnknown, VenueError
from .model import VenueInfo

VENUE_GROUP = "gps.venues"
PLUGIN_GROUP = "gps.plugins"
VENUE_HOOKS = (
    "gps_venue_info",
    "gps_authenticate",
    "gps_find_instrument",
    "gps_list_instruments",
    "gps_order_book",
    "gps_place",
    "gps_order_status",
    "gps_cancel",
)
#: Venue hooks a venue may leave out; :class:`Venue` says whether it has each.
OPTIONAL_VENUE_HOOKS = ("gps_positions", "gps_combo_offer", "gps_settlements", "gps_prepare_place")


@dataclass
class PluginRecord:
    """One entry point and what became of it."""

    name: str
    group: str
    distribution: str | None
    version: str | None
    ok: bool = False
    error: str | None = None
    detail: str | None = None  # traceback, for `gps doctor` and -v
    info: VenueInfo | None = None
    plugin: Any = field(default=None, repr=False)

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "group": self.group,
            "distribution": self.distribution,
            "version": self.version,
            "ok": self.ok,
            "error": self.error,
        }


def _env_list(name: str, environ: Mapping[str, str]) -> set[str] | None:
    raw = environ.get(name)
    if raw is None:
        return None
    return {part.strip() for part in raw.split(",") if part.strip()}


def _instantiate(obj: Any) -> Any:
    return obj() if isinstance(obj, type) else obj


class PluginHost:
    """The plugin manager plus what was loaded into it."""

    def __init__(self, environ: Mapping[str, str] | None = None):
        self.environ = os.environ if environ is None else environ
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.records: dict[str, PluginRecord] = {}
        #: installed venue entry points left out by GPS_LOAD_PLUGINS / GPS_DISABLE_PLUGINS
        self.skipped_venues: list[str] = []
        self._venues: dict[str, Venue] = {}
        self._lock = threading.Lock()

    # --- loading -----------------------------------------------------------------------

    @property
    def strict(self) -> bool:
        return self.environ.get("GPS_STRICT_PLUGINS", "") not in ("", "0")

    def load_entry_points(self, *, cache_dir: Path | None = None) -> None:
        """Load every entry point of both groups, each in isolation.

        :param cache_dir: where to cache the entry-point scan (see :mod:`gps_core.discovery`);
            ``None`` scans the installed distributions every time.
        """
        from .discovery import cached_scan, scan

        groups = (VENUE_GROUP, PLUGIN_GROUP)
        entry_points = cached_scan(groups, cache_dir) if cache_dir else scan(groups)
        only = _env_list("GPS_LOAD_PLUGINS", self.environ)
        disabled = _env_list("GPS_DISABLE_PLUGINS", self.environ) or set()
        for group in groups:
            # A name claimed twice goes to the distribution whose name sorts first, whatever the scan order.
            for ep in sorted((e for e in entry_points if e.group == group),
                             key=lambda e: (e.name, (e.distribution or "").lower().replace("_", "-"), e.value)):
                if (only is not None and ep.name not in only) or ep.name in disabled:
                    if group == VENUE_GROUP and ep.name not in self.skipped_venues:
                        self.skipped_venues.append(ep.name)
                    continue
                if ep.name in self.records:
                    self._record_duplicate(ep, group)
                    continue
                record = PluginRecord(ep.name, group, ep.distribution, ep.version)
                self.records[ep.name] = record
                try:
                    plugin = _instantiate(ep.load())
                except KeyboardInterrupt:
                    raise
                except BaseException as exc:  # noqa: BLE001 - a broken plugin (even one calling sys.exit) must not break gps
                    self._fail(record, f"failed to import {ep.value}: {type(exc).__name__}: {exc}")
                    continue
                self._register(record, plugin)

    def register(self, plugin: Any, name: str, *, venue: bool = True, distribution: str | None = None,
                 version: str | None = None) -> PluginRecord:
        """Register a plugin object directly (tests, embedding). Raises on failure."""
        record = PluginRecord(name, VENUE_GROUP if venue else PLUGIN_GROUP, distribution, version)
        self._register(record, _instantiate(plugin), raise_errors=True)
        return record

    def unregister(self, name: str) -> None:
        record = self.records.pop(name, None)
        if record and record.plugin is not None and self.pm.is_registered(record.plugin):
            self.pm.unregister(record.plugin)
        self._venues.clear()

    def _register(self, record: PluginRecord, plugin: Any, *, raise_errors: bool = False) -> None:
        self.records[record.name] = record
        try:
            self.pm.register(plugin, name=record.name)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 - SystemExit, GeneratorExit too: this is no generator
            self._fail(record, f"failed to register: {exc}", raise_errors)
            return
        record.plugin = plugin
        try:
            self.pm.check_pending()
            if record.group == VENUE_GROUP:
                record.info = self._describe(record)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 - a plugin's sys.exit in gps_venue_info marks it broken
            self.pm.unregister(plugin)
            record.plugin = None
            self._fail(record, str(exc).splitlines()[0] if str(exc) else type(exc).__name__, raise_errors)
            return
        record.ok = True
        self._venues.clear()

    def _describe(self, record: PluginRecord) -> VenueInfo:
        caller = self.pm.subset_hook_caller("gps_venue_info", remove_plugins=self._other_venue_plugins(record.name))
        info = caller()
        if not isinstance(info, VenueInfo):
            raise ConfigurationError(f"gps_venue_info returned {type(info).__name__}, not VenueInfo")
        if info.name != record.name:
            raise ConfigurationError(f"entry point {record.name!r} describes itself as {info.name!r}")
        refusal = hookspecs.hookspec_refusal(info.hookspec_version)
        if refusal:
            raise ConfigurationError(refusal)
        return info

    def _fail(self, record: PluginRecord, message: str, raise_errors: bool = False) -> None:
        record.ok = False
        record.error = message
        record.detail = traceback.format_exc()
        if raise_errors or self.strict:
            raise ConfigurationError(f"plugin {record.name!r}: {message}")

    def _record_duplicate(self, ep, group: str) -> None:
        name = f"{ep.name} ({ep.distribution or ep.value})"
        record = PluginRecord(name, group, ep.distribution, ep.version)
        self.records[name] = record
        winner = self.records[ep.name].distribution or self.records[ep.name].name
        self._fail(record, f"another installed plugin ({winner}) already uses the name {ep.name!r}; "
                           f"gps loads {winner} (the first by distribution name): uninstall one of them")

    # --- venues ------------------------------------------------------------------------

    def _venue_plugins(self) -> list[PluginRecord]:
        return [r for r in self.records.values() if r.group == VENUE_GROUP and r.plugin is not None]

    def _other_venue_plugins(self, name: str) -> list[Any]:
        return [r.plugin for r in self._venue_plugins() if r.name != name]

    def non_venue_plugins(self) -> list[tuple[str, Any]]:
        """``(name, plugin)`` of each working ``gps.plugins`` plugin (wrappers such as a risk guard).

        A dry run's simulated venues (:func:`~gps_core.simulated.simulated`) register them too, so
        their wrappers see dry-run orders as they see live ones.
        """
        return [(r.name, r.plugin) for r in self.records.values()
                if r.group == PLUGIN_GROUP and r.ok and r.plugin is not None]

    def venue_names(self) -> list[str]:
        return sorted(r.name for r in self._venue_plugins() if r.ok)

    def venue(self, name: str) -> "Venue":
        with self._lock:
            if name not in self._venues:
                record = self.records.get(name)
                if record is None or record.group != VENUE_GROUP:
                    known = ", ".join(self.venue_names()) or "none"
                    raise ConfigurationError(f"venue {name!r} is not installed: `gps install {name}` "
                                             f"(installed: {known})")
                if not record.ok:
                    raise ConfigurationError(f"venue {name!r} is installed but broken: {record.error}")
                others = self._other_venue_plugins(name)
                callers = {hook: self.pm.subset_hook_caller(hook, remove_plugins=others)
                           for hook in VENUE_HOOKS + OPTIONAL_VENUE_HOOKS}
                implemented = {hook for hook in OPTIONAL_VENUE_HOOKS
                               if any(impl.plugin is record.plugin for impl in getattr(self.pm.hook, hook).get_hookimpls())}
                if any(impl.plugin is not record.plugin for impl in callers["gps_place"].get_hookimpls()):
                    implemented.discard("gps_prepare_place")  # a plugin wrapping gps_place must see every order
                self._venues[name] = Venue(record.info, callers, implemented)
            return self._venues[name]

    def venues(self) -> list["Venue"]:
        return [self.venue(name) for name in self.venue_names()]


class Venue:
    """Typed access to one venue's hooks: one method per hook (``place`` calls ``gps_place``...).

    Errors come back tagged with the venue's name; an order hook's unexpected exception is an
    :class:`~gps_core.errors.OutcomeUnknown`, never a rejection.
    """

    def __init__(self, info: VenueInfo, callers: Mapping[str, Any], optional: Iterable[str] = ()):
        self.info = info
        self.name = info.name
        self._callers = dict(callers)
        #: the optional hooks (``OPTIONAL_VENUE_HOOKS``) this venue's plugin implements
        self.optional_hooks = frozenset(optional)
        self._auth_lock = threading.Lock()
        self.authenticated = False

    def _call(self, hook: str, **kwargs):
        try:
            return self._callers[hook](**kwargs)
        except VenueError as exc:
            exc.venue = exc.venue or self.name
            raise
        except GpsError:
            raise

    def authenticate(self, credentials) -> Any:
        with self._auth_lock:
            result = self._call("gps_authenticate", credentials=credentials)
            self.authenticated = True
            return result

    def find_instrument(self, key):
        return self._call("gps_find_instrument", key=key)

    def list_instruments(self, underlying: str):
        return self._call("gps_list_instruments", underlying=underlying) or []

    def order_book(self, instrument, depth: int = 10):
        return self._call("gps_order_book", instrument=instrument, depth=depth)

    def _order_call(self, hook: str, doing: str, order):
        """An order hook; any unexpected exception means the outcome is unknown, never rejected."""
        try:
            return self._call(hook, order=order)
        except GpsError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise OutcomeUnknown(f"unexpected {type(exc).__name__} {doing}: {exc}", venue=self.name) from exc

    def place(self, order):
        """Place one order."""
        return self._order_call("gps_place", "while placing", order)

    def order_status(self, order):
        return self._order_call("gps_order_status", "in status lookup", order)

    def cancel(self, order):
        return self._order_call("gps_cancel", "while cancelling", order)

    def prepare_place(self, order):
        """The order made ready to leave (``gps_prepare_place``), or ``None``: send it with :meth:`place`."""
        if "gps_prepare_place" not in self.optional_hooks:
            return None
        return self._call("gps_prepare_place", order=order)

    @property
    def has_positions(self) -> bool:
        """Whether the venue implements the optional ``gps_positions`` hook."""
        return "gps_positions" in self.optional_hooks

    def positions(self, underlying: str | None = None) -> list:
        """The venue's open positions (``gps_positions``); ``[]`` from a venue without the hook."""
        if not self.has_positions:
            return []
        return self._call("gps_positions", underlying=underlying) or []

    @property
    def has_settlements(self) -> bool:
        """Whether the venue implements the optional ``gps_settlements`` hook."""
        return "gps_settlements" in self.optional_hooks

    def settlements(self, underlying: str | None = None) -> list:
        """Positions the venue settled at expiry (``gps_settlements``); ``[]`` from a venue without the hook."""
        if not self.has_settlements:
            return []
        return self._call("gps_settlements", underlying=underlying) or []

    @property
    def offers_combos(self) -> bool:
        """Whether the venue implements the optional ``gps_combo_offer`` hook."""
        return "gps_combo_offer" in self.optional_hooks

    def combo_offer(self, legs, *, create: bool, depth: int = 10):
        """The venue's combo for ``legs`` (``ComboLeg`` list), or ``None`` (also when it offers no combos)."""
        if not self.offers_combos:
            return None
        return self._call("gps_combo_offer", legs=list(legs), create=create, depth=depth)


def load_host(environ: Mapping[str, str] | None = None, extra: Iterable[tuple[str, Any]] = (),
              *, cache: bool = True) -> PluginHost:
    """A :class:`PluginHost` with every installed entry point loaded (the scan cached in ``$GPS_HOME``)."""
    from .config import gps_home

    host = PluginHost(environ)
    host.load_entry_points(cache_dir=gps_home(host.environ) / "cache" if cache else None)
    for name, plugin in extra:
        host.register(plugin, name)
    return host
