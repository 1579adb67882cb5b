#!/usr/bin/env bash
# One command: install, then start the app on its offline default model.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
exec python -m streamlit run app.py "$@"
