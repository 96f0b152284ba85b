"""The evaluation hand-off: the lmms-eval command for a trained checkpoint.

lmms-eval's model class is chosen from the checkpoint's architecture (its config.json), so the
class that runs the benchmarks loads what training saved: a Hugging Face LLaVA / LLaVA-NeXT /
LLaVA-OneVision checkpoint -> `llava_hf`, Qwen2-VL -> `qwen2_vl`, Qwen2.5-VL -> `qwen2_5_vl`, a
LLaVA-NeXT-repository checkpoint (the reference's format) -> `llava_onevision` with its
conversation template, the other chat models (Idefics3 / SmolVLM, Gemma 3) -> lmms-eval's generic
`huggingface` chat model. Hugging Face checkpoints are prompted with the chat template they were
trained with, saved beside them. Evaluation needs the benchmark data from a hub; run the written
script where it can be had (for example on the training cluster). With `evaluate.published`
(benchmark files as their maintainers publish them), the checkpoint is also scored here
(training/evaluation.py): accuracy per benchmark in `scores.json`, every reply in `answers.jsonl`.

    python -m jobs.evaluate --conf conf/local.yaml --set evaluate.checkpoint=work/train/final_qas-v7/checkpoint
"""
from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

from runtime.cli import load_or_exit
from runtime.config import EvaluateConfig

# transformers architecture -> lmms-eval model class.
LMMS_EVAL_MODELS = {
    "LlavaForConditionalGeneration": "llava_hf",
    "LlavaNextForConditionalGeneration": "llava_hf",
    "LlavaOnevisionForConditionalGeneration": "llava_hf",
    "Qwen2VLForConditionalGeneration": "qwen2_vl",
    "Qwen2_5_VLForConditionalGeneration": "qwen2_5_vl",
    "Qwen3VLForConditionalGeneration": "qwen3_vl",
    "LlavaQwenForCausalLM": "llava_onevision",
    "Idefics2ForConditionalGeneration": "idefics2",
    "Idefics3ForConditionalGeneration": "huggingface",
    "SmolVLMForConditionalGeneration": "huggingface",
    "Gemma3ForConditionalGeneration": "huggingface",
}
# Classes that build the prompt from a conversation template of the LLaVA-NeXT repository.
CONV_TEMPLATE_MODELS = {"llava_onevision"}
CHAT_TEMPLATE_FILES = ("chat_template.jinja", "chat_template.json")


class EvaluateError(ValueError):
    pass


def architecture(checkpoint: Path) -> str:
    config = checkpoint / "config.json"
    try:
        architectures = json.loads(config.read_text()).get("architectures") or []
    except (OSError, ValueError) as exc:
        raise EvaluateError(f"evaluate.checkpoint: cannot read {config}: {exc}") from None
    if not architectures:
        raise EvaluateError(f"evaluate.checkpoint: {config} names no architecture")
    return architectures[0]


def has_chat_template(checkpoint: Path) -> bool:
    if any((checkpoint / name).is_file() for name in CHAT_TEMPLATE_FILES):
        return True
    for name in ("processor_config.json", "tokenizer_config.json"):
        try:
            if json.loads((checkpoint / name).read_text()).get("chat_template"):
                return True
        except (OSError, ValueError):
            continue
    return False


def lmms_eval_model(cfg: EvaluateConfig, checkpoint: Path) -> str:
    if cfg.model != "auto":
        return cfg.model
    arch = architecture(checkpoint)
    if arch not in LMMS_EVAL_MODELS:
        raise EvaluateError(
            f"evaluate.model: no lmms-eval model class known for architecture {arch}; set evaluate.model "
            f"(known: {', '.join(sorted(LMMS_EVAL_MODELS))})"
        )
    return LMMS_EVAL_MODELS[arch]


def lmms_eval_command(cfg: EvaluateConfig) -> list[str]:
    if cfg.checkpoint is None:
        raise EvaluateError("evaluate.checkpoint: set the checkpoint folder to evaluate")
    checkpoint = Path(cfg.checkpoint).resolve()
    model = lmms_eval_model(cfg, checkpoint)
    model_args = f"pretrained={checkpoint}"
    if model in CONV_TEMPLATE_MODELS:
        model_args += f",conv_template={cfg.conv_template},model_name=llava_qwen"
    elif not has_chat_template(checkpoint):
        raise EvaluateError(f"evaluate.checkpoint: {checkpoint} has no chat template; save the processor with the checkpoint")
    return [
        "python", "-m", "lmms_eval", "--model", model, "--model_args", model_args,
        "--tasks", ",".join(cfg.tasks), "--batch_size", str(cfg.batch_size),
        "--log_samples", "--output_path", str(cfg.output_dir.resolve()),
    ]


def main(argv=None) -> int:
    _, config = load_or_exit("evaluate", argv)
    if config is None:
        return 2
    try:
        command = lmms_eval_command(config.evaluate)
    except EvaluateError as exc:
        print(exc, file=sys.stderr)
        return 2
    config.evaluate.output_dir.mkdir(parents=True, exist_ok=True)
    script = config.evaluate.output_dir / "run_lmms_eval.sh"
    script.write_text("#!/usr/bin/env bash\n"
                      "# pip install lmms-eval; needs the checkpoint and hub access for the benchmarks\n"
                      "set -euo pipefail\n" + shlex.join(command) + "\n")
    script.chmod(0o755)
    print(shlex.join(command))
    print(f"written to {script}")
    if config.evaluate.published:
        from training.evaluation import score_published
        from udfs.benchmarks import published_files

        files = {benchmark: published_files(location) for benchmark, location in config.evaluate.published.items()}
        summary, answers = score_published(str(Path(config.evaluate.checkpoint).resolve()), files, config.evaluate.limit,
                                           config.evaluate.max_new_tokens)
        (config.evaluate.output_dir / "scores.json").write_text(json.dumps(summary, indent=1))
        (config.evaluate.output_dir / "answers.jsonl").write_text("".join(json.dumps(a) + "\n" for a in answers))
        for name, figures in summary.items():
            print(f"{name}: {figures['items']} items, {figures['unreadable']} unreadable, accuracy {figures['accuracy']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
