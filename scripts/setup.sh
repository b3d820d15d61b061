#!/usr/bin/env bash
# Create .venv and install gps-core with the bundled venue plugins (editable) and test tools.
# Safe to run again: it reinstalls only when a pyproject.toml changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.gps-installed
want=$(cat pyproject.toml plugins/*/pyproject.toml | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  # PYTHONWARNINGS quiets setuptools' deprecation notices in the build subprocesses; errors still show.
  PYTHONWARNINGS=ignore .venv/bin/python -m pip install -q -e ".[test,packaging-test]" -e plugins/dryrun -e plugins/deribit -e plugins/aevo
  echo "$want" > "$stamp"
fi
