"""What the bundled plugins import from gps-core at run time: :mod:`gps_core.api` only.

A venue's ``testing`` subpackage (its fake exchange and conformance harness) may also use
:mod:`gps_core.testing`, the plugin test kit. The one documented exception is the dry-run venue,
which is the core's paper engine behind the venue hooks (see :mod:`gps_core.api`).
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = {
    "deribit": ROOT / "plugins" / "deribit" / "gps_venue_deribit",
    "aevo": ROOT / "plugins" / "aevo" / "gps_venue_aevo",
    "dryrun": ROOT / "plugins" / "dryrun" / "gps_venue_dryrun",
    "risk_guard example": ROOT / "examples" / "risk_guard",
}
#: the dry-run venue builds on the paper engine and the paper market's helpers (documented in gps_core.api)
DRYRUN_EXCEPTION = ("gps_core.paper", "gps_core.testing.market")


def core_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "gps_core":
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] == "gps_core"]
    return found


def allowed(module: str, path: Path, plugin: str) -> bool:
    if module == "gps_core.api":
        return True
    if "testing" in path.parts and (module == "gps_core.testing" or module.startswith("gps_core.testing.")):
        return True
    return plugin == "dryrun" and module.startswith(DRYRUN_EXCEPTION)


@pytest.mark.parametrize("plugin", ["deribit", "aevo", "risk_guard example"])
def test_bundled_plugins_import_gps_core_only_through_its_public_api(plugin):
    outside = [f"{path.relative_to(ROOT)}: {module}" for path in sorted(RUNTIME[plugin].rglob("*.py"))
               for module in core_imports(path) if not allowed(module, path, plugin)]
    assert outside == []


def test_the_rule_sees_an_import_outside_the_api(tmp_path):
    module = tmp_path / "venue.py"
    module.write_text("from gps_core.errors import InvalidReply\nimport gps_core.config\nfrom gps_core.api import hookimpl\n")
    assert [m for m in core_imports(module) if not allowed(m, module, "acme")] == ["gps_core.errors", "gps_core.config"]
