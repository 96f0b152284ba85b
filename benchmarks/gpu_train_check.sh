#!/usr/bin/env bash
# A short fine-tuning run on a GPU machine: builds a small randomly initialised LLaVA-style
# model (no download), a small final_qas export from a generated sample web, and trains it
# through TorchDistributor with use_gpu=true for 50 steps, printing the loss and throughput.
# Needs the project installed (`make install` plus `pip install -e '.[train]'`) and a CUDA GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
WORK=${WORK:-work/gpu_check}
"$PY" - <<PYEOF
import torch
assert torch.cuda.is_available(), "no CUDA device"
print("device:", torch.cuda.get_device_name(0))
PYEOF
"$PY" -m jobs.run_pipeline --conf conf/local.yaml --set run.work_dir=$WORK --set tables.root=$WORK/tables \
  --set sample_web.dir=$WORK/sample_web --set tracking.uri=sqlite:///$WORK/mlflow.db --set tracking.artifact_root=$WORK/mlartifacts
"$PY" -m jobs.export --conf conf/local.yaml --set tables.root=$WORK/tables --set train.output_dir=$WORK/train \
  --set tracking.uri=sqlite:///$WORK/mlflow.db --set tracking.artifact_root=$WORK/mlartifacts --set sample_web.enabled=false
"$PY" - <<PYEOF
import json
from pathlib import Path
from training.model import build_tiny_llava
export = sorted(Path("$WORK/train").glob("final_qas-v*/export/train.jsonl"))[-1]
texts = [turn["value"] for line in export.read_text().splitlines() for turn in json.loads(line)["conversations"]]
build_tiny_llava(Path("$WORK/model"), texts, hidden=256, layers=4, image_size=224, patch=16)
PYEOF
"$PY" -m jobs.train --conf conf/local.yaml --set tables.root=$WORK/tables --set train.output_dir=$WORK/train \
  --set tracking.uri=sqlite:///$WORK/mlflow.db --set tracking.artifact_root=$WORK/mlartifacts --set sample_web.enabled=false \
  --set "spark.extra={spark.driver.resource.gpu.amount: '1', spark.driver.resource.gpu.discoveryScript: $PWD/benchmarks/gpu_discovery.sh}" \
  --set train.checkpoint=$WORK/model --set train.use_gpu=true --set train.max_steps=50 --set train.max_length=2048 \
  --set train.learning_rate=0.0003 --set train.vision_learning_rate=0.0001
