#!/usr/bin/env bash
# Run every notebook in the gpu profile, each under a time limit, and summarise the run
# (time, peak GPU memory, glued scores) in runs/gpu_check/summary.json and summary.md.
#
#   scripts/gpu_check.sh                     # all notebooks, 3600 s each
#   scripts/gpu_check.sh --limit 1800 notebooks/05_pretraining.ipynb
#   scripts/gpu_check.sh --dry-run           # check the script on a CPU (smoke profile)
#
# Needs the project's .venv with a CUDA build of torch (book/setup.md, "On a GPU") and,
# for the gpu profile's datasets, the Hugging Face Hub or its local cache.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-$repo/.venv/bin/python}"
if [[ ! -x "$python" ]]; then
  echo "gpu_check: no $python; run 'make setup' first (or set PYTHON=...)." >&2
  exit 2
fi
for arg in "$@"; do
  if [[ "$arg" == "--dry-run" ]]; then
    export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1  # the smoke profile needs no network
  fi
done
export PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}"  # the kernels import this checkout
exec "$python" "$repo/scripts/gpu_check.py" "$@"
