#!/usr/bin/env bash
# One command: install (runtime + test tools + Chromium), then run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh --dev
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1
exec python -m pytest "$@"
