#!/usr/bin/env bash
# Creates .venv (Python 3.11) and installs nlpf with its dev extras, pinned to the CPU torch 2.13.0.
# Idempotent: a second run only checks that everything is installed.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
VENV=${NLPF_VENV:-.venv}

if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating $VENV with $($PYTHON --version)"
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -c .ci/constraints.txt)

# torch first, from the pinned CPU build, so no other requirement can pull a CUDA build
"${PIP[@]}" torch==2.13.0
"${PIP[@]}" -e ".[dev]"
# third-party plugin packages the test suite discovers through their entry points
for pkg in tests/fixtures/nlpf-demo-plugin examples/nlpf-lstm-plugin; do
  if [ -f "$pkg/pyproject.toml" ]; then
    "${PIP[@]}" --no-deps -e "$pkg"
  fi
done
echo "[setup] ready: $("$VENV/bin/nlpf" --version)"
