#!/usr/bin/env bash
# Install everything the tests need on a fresh Debian machine, lint, then run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1; then
  apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi

# uv installs the packages in parallel, with the indexes pip is configured with (this machine's torch
# lies in a local one); plain pip is the fallback. It compiles no bytecode up front: compiling every
# installed file took 45 s of the install here. Python caches the bytecode of what the tests import
# instead, the first time, so PYTHONDONTWRITEBYTECODE (set on some machines) is unset for the suite:
# with it, and nothing compiled, each of the suite's processes would compile torch again (import
# torch: 8 s instead of 4).
install_with_uv() {
  python3 -m pip install -q uv==0.13.8 || return 1
  local args=(--python python3 --index-strategy unsafe-best-match)
  local url
  for url in $(python3 -m pip config get global.extra-index-url 2>/dev/null || true) ${PIP_EXTRA_INDEX_URL:-}; do
    args+=(--extra-index-url "$url")
  done
  python3 -m uv pip install -q "${args[@]}" -r requirements-dev.txt
}
install_with_uv || { echo "uv could not install the packages; installing with pip" >&2;
                     python3 -m pip install -q -r requirements-dev.txt; }

unset PYTHONDONTWRITEBYTECODE
python3 -m ruff check .
python3 -m pytest "$@"
