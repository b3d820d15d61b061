"""``gps plugin new NAME``: write a venue package that passes the conformance suite out of the box."""

from __future__ import annotations

import re
from pathlib import Path

from . import __version__
from .errors import BadInput
from .hookspecs import HOOKSPEC_VERSION

TEMPLATE = Path(__file__).parent / "scaffold_template"
FILES = {
    "pyproject.toml.tmpl": "pyproject.toml",
    "LICENSE.tmpl": "LICENSE",
    "package/py.typed.tmpl": "gps_venue_{name}/py.typed",
    "README.md.tmpl": "README.md",
    "package/__init__.py.tmpl": "gps_venue_{name}/__init__.py",
    "package/testing/__init__.py.tmpl": "gps_venue_{name}/testing/__init__.py",
    "package/testing/fake_exchange.py.tmpl": "gps_venue_{name}/testing/fake_exchange.py",
    "package/testing/harness.py.tmpl": "gps_venue_{name}/testing/harness.py",
    "tests/test_conformance.py.tmpl": "tests/test_{name}_conformance.py",
}


def core_requirement(version: str = __version__) -> str:
    """The gps-core range a plugin built against this core declares: ``gps-core>=X.Y,<NEXT_MAJOR``.

    The upper bound is the next major release, the only one allowed to drop a hook API version
    (``MIN_HOOKSPEC_VERSION``); 0.x counts as major 0, so ``0.1.0`` gives ``gps-core>=0.1,<1``.
    """
    # The release segment of a PEP 440 version (1.0rc1, 2.3.post1, 1!2.0 are all fine); regex
    # rather than packaging.version, which gps-core does not depend on.
    release = re.match(r"^\s*v?(?:\d+!)?(\d+)(?:\.(\d+))?", version)
    if not release:
        raise ValueError(f"not a version: {version!r}")
    major, minor = int(release[1]), int(release[2] or 0)
    return f"gps-core>={major}.{minor},<{major + 1}"


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
        "hookspec_version": str(HOOKSPEC_VERSION),
        "core_requirement": core_requirement(),
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
