"""``gps plugin new NAME``: write a venue package that passes the conformance suite out of the box."""

from __future__ import annotations

import re
from pathlib import Path

from .errors import BadInput

TEMPLATE = Path(__file__).parent / "scaffold_template"
FILES = {
    "pyproject.toml.tmpl": "pyproject.toml",
    "README.md.tmpl": "README.md",
    "package/__init__.py.tmpl": "gps_venue_{name}/__init__.py",
    "package/testing/__init__.py.tmpl": "gps_venue_{name}/testing/__init__.py",
    "package/testing/fake_exchange.py.tmpl": "gps_venue_{name}/testing/fake_exchange.py",
    "package/testing/harness.py.tmpl": "gps_venue_{name}/testing/harness.py",
    "tests/test_conformance.py.tmpl": "tests/test_{name}_conformance.py",
}


def new_venue_package(name: str, directory: Path, title: str | None = None) -> list[Path]:
    """Render the template for venue ``name`` into ``directory``; return the files written."""
    if not re.fullmatch(r"[a-z][a-z0-9_]{1,30}", name):
        raise BadInput(f"venue name {name!r}: use lowercase letters, digits and _, starting with a letter")
    if directory.exists() and any(directory.iterdir()):
        raise BadInput(f"{directory} exists and is not empty")
    values = {
        "name": name,
        "cls": "".join(part.capitalize() for part in name.split("_")),
        "title": title or name.replace("_", " ").title(),
        "env": name.upper(),
    }
    written = []
    for source, target in FILES.items():
        text = (TEMPLATE / source).read_text()
        for key, value in values.items():
            text = text.replace("{{" + key + "}}", value)
        path = directory / target.format(name=name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    return written
