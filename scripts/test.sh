#!/usr/bin/env bash
# One command: install (runtime + test tools + attnviz itself + Chromium, and eslint from npm), lint, then run every test.
#   scripts/test.sh                              everything (lint, fast tests, slow tests, browser tests)
#   scripts/test.sh -m "not e2e and not slow"    the fast tier, for everyday work (under 2 minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh --dev
python -m ruff check .
npm ci --no-audit --no-fund --silent   # eslint, pinned in package.json / package-lock.json
npx --no-install eslint .            # the JavaScript: components/js, tests/e2e/js, benchmarks/js
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1
exec python -m pytest "$@"
