#!/usr/bin/env bash
# Sets everything up and runs the main job. Extra arguments are Hydra overrides for `nlpf train`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/nlpf train experiment=finetune_sentiment "$@"
