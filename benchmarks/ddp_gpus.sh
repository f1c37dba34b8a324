#!/usr/bin/env bash
# mcod's distributed training on the GPUs of one node: training throughput for 1, 2, 4, ...
# GPUs (strong scaling: one batch of 256 shared out; weak: 256 per GPU), and the demo's
# AUROC on one GPU and on all of them, which should agree within about 0.01.
#
#   bash benchmarks/ddp_gpus.sh [GPUS]      # default: every GPU that nvidia-smi lists
#
# Needs a CUDA build of torch and mcod installed (pip install -e .). Not run in CI, which
# has no GPU; record its output in benchmarks/RESULTS.md when a GPU machine is at hand.
set -euo pipefail
cd "$(dirname "$0")/.."
gpus=${1:-$(nvidia-smi -L | wc -l)}
counts=1
for ((p = 2; p <= gpus; p *= 2)); do counts="$counts $p"; done
if ((gpus > 1)) && [[ " $counts " != *" $gpus "* ]]; then counts="$counts $gpus"; fi

echo "== throughput, release config (WRN-10-4, 32 px), ${gpus} GPU(s): $(nvidia-smi -L | head -1)"
python benchmarks/ddp_throughput.py --device cuda --config release --images 16384 \
    --epochs 2 --batch-size 256 --repeats 2 --processes $counts
python benchmarks/ddp_throughput.py --device cuda --config release --images 16384 \
    --epochs 2 --batch-size 256 --repeats 2 --processes $counts --weak

echo "== demo AUROC (digits, seed 0): 1 GPU, then ${gpus} GPUs"
python -m mcod detect --device cuda --seed 0 --quiet | grep AUROC
torchrun --standalone --nproc-per-node "$gpus" -m mcod detect --device cuda --seed 0 --quiet \
    | grep AUROC
