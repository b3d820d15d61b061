#!/usr/bin/env bash
# Set up, then run a real `gps execute` of a BTC call spread on the offline dry-run market.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export GPS_HOME="${GPS_HOME:-$PWD/demo-home}"
mkdir -p "$GPS_HOME"
.venv/bin/python -m gps_venue_dryrun.demo --out "$GPS_HOME/demo-strategy.json"
.venv/bin/gps venues
.venv/bin/gps execute --venue dryrun "$GPS_HOME/demo-strategy.json" "$@"
