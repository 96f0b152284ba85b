"""The fine-tuning loop, run by TorchDistributor in each training process.

A plain transformers + torch loop: LLaVA-style model and processor from a checkpoint path,
loss on the answer tokens only, AdamW with a separate (lower) learning rate for the vision
tower, cosine schedule with warm-up. Loss, learning rate and throughput go to the MLflow run
the launcher opened.
"""
from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path


def _examples(jsonl: Path, image_root: Path) -> list[dict]:
    out = []
    for line in jsonl.read_text().splitlines():
        record = json.loads(line)
        images = record.get("image") or []
        out.append({
            "prompt": record["conversations"][0]["value"],
            "reply": record["conversations"][1]["value"],
            "images": [str(image_root / p) for p in ([images] if isinstance(images, str) else images)],
        })
    return out


def _encode(processor, example: dict, max_length: int):
    from PIL import Image

    images = [Image.open(p).convert("RGB") for p in example["images"]] or None
    eos = processor.tokenizer.eos_token
    full = processor(text=f"{example['prompt']}\n{example['reply']}{eos}", images=images, return_tensors="pt")
    prompt = processor(text=f"{example['prompt']}\n", images=images, return_tensors="pt")
    input_ids = full["input_ids"][:, :max_length]
    labels = input_ids.clone()
    labels[:, : prompt["input_ids"].shape[1]] = -100  # learn the answer, not the question
    batch = {"input_ids": input_ids, "attention_mask": full["attention_mask"][:, :max_length], "labels": labels}
    if images:
        batch["pixel_values"] = full["pixel_values"]
    return batch


def train(args: dict) -> dict:
    import mlflow
    import torch
    from transformers import AutoProcessor, LlavaForConditionalGeneration, get_cosine_schedule_with_warmup
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    torch.manual_seed(args["seed"])
    device = torch.device("cuda" if args["use_gpu"] and torch.cuda.is_available() else "cpu")
    processor = AutoProcessor.from_pretrained(args["checkpoint"])
    model = LlavaForConditionalGeneration.from_pretrained(args["checkpoint"]).to(device)
    model.train()
    examples = _examples(Path(args["data"]), Path(args["image_root"]))
    if not examples:
        raise ValueError(f"no training examples in {args['data']}")
    if args["repeat_first_batch"]:
        examples = examples[:1]  # overfit one example: the loss must fall
    vision = [p for n, p in model.named_parameters() if "vision_tower" in n]
    rest = [p for n, p in model.named_parameters() if "vision_tower" not in n]
    optimizer = torch.optim.AdamW([{"params": rest, "lr": args["learning_rate"]}, {"params": vision, "lr": args["vision_learning_rate"]}])
    per_epoch = math.ceil(len(examples) / args["gradient_accumulation"])
    total = args["max_steps"] or per_epoch * args["epochs"]
    scheduler = get_cosine_schedule_with_warmup(optimizer, int(total * args["warmup_ratio"]), total)
    rank = int(os.environ.get("RANK", "0"))
    run = None
    if args["mlflow_run_id"] and rank == 0:
        mlflow.set_tracking_uri(args["mlflow_uri"])
        run = mlflow.start_run(run_id=args["mlflow_run_id"])
    losses: list[float] = []
    step, seen_tokens, started = 0, 0, time.monotonic()
    while step < total:
        for start in range(0, len(examples), args["gradient_accumulation"]):
            group = examples[start:start + args["gradient_accumulation"]]
            optimizer.zero_grad()
            step_loss = 0.0
            for example in group:
                batch = {k: v.to(device) for k, v in _encode(processor, example, args["max_length"]).items()}
                loss = model(**batch).loss / len(group)
                loss.backward()
                step_loss += loss.item()
                seen_tokens += int(batch["attention_mask"].sum())
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            step += 1
            losses.append(step_loss)
            if run is not None:
                elapsed = max(time.monotonic() - started, 1e-9)
                mlflow.log_metrics(
                    {"train.loss": step_loss, "train.learning_rate": scheduler.get_last_lr()[0], "train.tokens_per_s": seen_tokens / elapsed},
                    step=step,
                )
            if step >= total:
                break
    if rank == 0:
        Path(args["output_dir"]).mkdir(parents=True, exist_ok=True)
        model.save_pretrained(args["output_dir"])
        processor.save_pretrained(args["output_dir"])
    if run is not None:
        mlflow.end_run()
    return {"losses": losses, "steps": step, "output_dir": args["output_dir"]}
