#!/usr/bin/env bash
# Install everything the tests need on a fresh Debian machine, lint, then run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1; then
  apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi
python3 -m pip install -q -r requirements-dev.txt
python3 -m ruff check .
python3 -m pytest "$@"
