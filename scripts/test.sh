#!/usr/bin/env bash
# Set up, then run every test (core and the three bundled venue plugins).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest -q "$@"
