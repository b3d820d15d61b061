"""Meta-tests that keep the public hook API documented with its exact signatures."""

import inspect
import re
from pathlib import Path

from gps_core import hookspecs

ROOT = Path(__file__).resolve().parents[1]
HOOKS = {name: fn for name, fn in vars(hookspecs).items() if name.startswith("gps_") and callable(fn)}


def test_every_hook_is_documented_with_its_exact_signature():
    docs = (ROOT / "docs" / "hooks.md").read_text()
    headings = set(re.findall(r"^## (gps_\w+\([^)]*\))$", docs, flags=re.M))
    expected = {f"{name}({', '.join(inspect.signature(fn).parameters)})" for name, fn in HOOKS.items()}
    assert headings == expected


def test_every_hook_has_a_docstring_and_is_firstresult():
    for name, fn in HOOKS.items():
        assert (fn.__doc__ or "").strip(), name
        assert getattr(fn, "gps_spec")["firstresult"], name


def test_readme_names_every_hook():
    readme = (ROOT / "README.md").read_text()
    for name in HOOKS:
        assert f"`{name}`" in readme, name
