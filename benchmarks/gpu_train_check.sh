#!/usr/bin/env bash
# Fine-tuning on a GPU machine: a small model of each family (LLaVA-style, Qwen2-VL) trained a
# few hundred steps in bf16 with DDP on every visible GPU, through the training stage; prints
# loss, tokens/s and peak GPU memory. No download: models and data are generated.
# Needs the project installed with the train extra (pip install -e '.[spark,train]') and CUDA.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
PYTHONPATH=$PWD "$PY" -m benchmarks.gpu_train_check "$@"
