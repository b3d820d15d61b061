"""Optional hooks are marked ``optionalhook=True`` in every bundled plugin, so an older gps-core
that lacks such a hook still loads the plugin (pluggy skips an unknown optional hookimpl)."""

import importlib

import pluggy
import pytest

from gps_core import hookspecs

OPTIONAL = ("gps_positions", "gps_settlements", "gps_prepare_place", "gps_combo_offer")
BUNDLED = ("gps_venue_dryrun", "gps_venue_deribit", "gps_venue_aevo")


def venue_class(module_name):
    module = pytest.importorskip(module_name)
    return next(v for k, v in vars(module).items() if k.endswith("Venue") and isinstance(v, type)
                and v.__module__ == module_name)


@pytest.mark.parametrize("module_name", BUNDLED)
def test_every_optional_hook_a_bundled_venue_implements_is_marked_optional(module_name):
    cls = venue_class(module_name)
    implemented = [name for name in OPTIONAL if hasattr(cls, name)]
    assert implemented, f"{module_name} implements no optional hook"
    for name in implemented:
        opts = getattr(getattr(cls, name), "gps_impl", None)
        assert opts is not None and opts.get("optionalhook") is True, f"{module_name}.{name} is not optionalhook"


@pytest.mark.parametrize("module_name", BUNDLED)
def test_a_core_without_the_optional_hooks_still_loads_the_plugin(module_name):
    """A stand-in for an older gps-core: the same hookspecs minus every optional one."""
    class OlderSpecs:
        pass

    for name in dir(hookspecs):
        function = getattr(hookspecs, name)
        if name.startswith("gps_") and name not in OPTIONAL and callable(function):
            setattr(OlderSpecs, name, staticmethod(function))
    pm = pluggy.PluginManager("gps")
    pm.add_hookspecs(OlderSpecs)
    plugin = venue_class(module_name)()
    pm.register(plugin)
    pm.check_pending()  # raises for an unknown hookimpl not marked optional
    assert pm.is_registered(plugin)
    assert all(getattr(pm.hook, name).spec is None for name in OPTIONAL if hasattr(pm.hook, name))
