"""The layout docs/writing-a-venue.md describes is the layout the bundled venues have."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "writing-a-venue.md").read_text()


@pytest.mark.parametrize("venue", ["deribit", "aevo", "dryrun"])
def test_every_runtime_module_of_a_bundled_venue_is_in_the_layout_doc(venue):
    package = ROOT / "plugins" / venue / f"gps_venue_{venue}"
    modules = sorted(p.name for p in package.glob("*.py") if p.name != "__init__.py")
    assert "backend.py" in modules, f"{venue} has no backend.py: its hooks should be one line into it"
    assert [m for m in modules if f"`{m}`" not in DOC] == []


def test_the_dryrun_hooks_are_one_line_each_into_the_backend():
    import ast

    source = (ROOT / "plugins" / "dryrun" / "gps_venue_dryrun" / "__init__.py").read_text()
    hooks = [node for node in ast.walk(ast.parse(source)) if isinstance(node, ast.FunctionDef)
             and node.name.startswith("gps_")]
    assert hooks
    for hook in hooks:
        body = [s for s in hook.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
        assert len(body) == 1 and isinstance(body[0], ast.Return), hook.name
