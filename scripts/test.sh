#!/usr/bin/env bash
# Sets everything up and runs the test suite. Extra arguments go to pytest (e.g. -m "not network").
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest "$@"
