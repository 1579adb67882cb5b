#!/usr/bin/env bash
# One command: install (runtime + test tools + attnviz itself + Chromium), lint, then run every test.
#   scripts/test.sh                              everything (lint, fast tests, slow tests, browser tests)
#   scripts/test.sh -m "not e2e and not slow"    the fast tier, for everyday work (under 2 minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh --dev
python -m ruff check .
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1
exec python -m pytest "$@"
