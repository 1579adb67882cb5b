#!/usr/bin/env bash
# Installs what attnviz needs on a fresh Debian machine: Chromium (for image export and
# the browser tests; Debian's package, never a browser download) and the Python packages.
#   scripts/install.sh          runtime (requirements.txt)
#   scripts/install.sh --dev    runtime + test tools (requirements-dev.txt)
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
  else
    echo "attnviz: no apt-get here; install Chromium yourself for PNG/SVG export (the app runs without it)." >&2
  fi
fi
req=requirements.txt
[ "${1:-}" = "--dev" ] && req=requirements-dev.txt
python -m pip install -q --disable-pip-version-check -r "$req"
