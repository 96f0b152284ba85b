"""The evaluation hand-off: the lmms-eval command for a trained checkpoint.

Evaluation needs the model weights and the benchmark data, which are downloaded from a hub;
run the written script where both can be had (for example on the training cluster).

    python -m jobs.evaluate --conf conf/local.yaml --set evaluate.checkpoint=work/train/final_qas-v7/checkpoint
"""
from __future__ import annotations

import shlex
import sys

from runtime.cli import load_or_exit
from runtime.config import EvaluateConfig


def lmms_eval_command(cfg: EvaluateConfig) -> list[str]:
    if cfg.checkpoint is None:
        raise ValueError("evaluate.checkpoint: set the checkpoint folder to evaluate")
    model_args = f"pretrained={cfg.checkpoint.resolve()},conv_template={cfg.conv_template}"
    return [
        "python", "-m", "lmms_eval", "--model", cfg.model, "--model_args", model_args,
        "--tasks", ",".join(cfg.tasks), "--batch_size", str(cfg.batch_size),
        "--log_samples", "--output_path", str(cfg.output_dir.resolve()),
    ]


def main(argv=None) -> int:
    _, config = load_or_exit("evaluate", argv)
    if config is None:
        return 2
    try:
        command = lmms_eval_command(config.evaluate)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    config.evaluate.output_dir.mkdir(parents=True, exist_ok=True)
    script = config.evaluate.output_dir / "run_lmms_eval.sh"
    script.write_text("#!/usr/bin/env bash\n# pip install lmms-eval; needs the checkpoint and hub access for the benchmarks\nset -euo pipefail\n" + shlex.join(command) + "\n")
    script.chmod(0o755)
    print(shlex.join(command))
    print(f"written to {script}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
