"""Supervised fine-tuning of a vision-language model, run by TorchDistributor in every process.

transformers' `Trainer` over `AutoModelForImageTextToText` + `AutoProcessor`: each example is
rendered with the processor's chat template, and the loss is on the answer only (labels -100 on
the prompt, padding included). The processes form one job: DDP (gloo on CPU, nccl on GPU), or
FSDP / DeepSpeed ZeRO-3 (`train.sharding`) for models that do not fit one device; a shuffled
sampler gives each rank its own share of every epoch. bf16 where the GPU has it, gradient
checkpointing, per-device batch size and accumulation, AdamW with a lower learning rate for the
vision tower, cosine schedule with warm-up. Rank 0 reports to the MLflow run the launcher opened
(the run that records the Delta version) and saves the checkpoint with its processor.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile

from training import storage
from training.records import read_examples

# Names of the vision encoder's modules in the families' transformers implementations.
VISION_MODULES = ("vision_tower", "visual", "vision_model")


def is_vision_parameter(name: str) -> bool:
    return any(part in VISION_MODULES for part in name.split("."))


class ChatCollator:
    """Examples -> a padded batch whose labels are the last (assistant) turn's tokens only."""

    def __init__(self, processor, max_length: int):
        self.processor = processor
        self.max_length = max_length

    def _images(self, example: dict) -> list:
        from PIL import Image

        images = []
        for ref in example["images"]:
            with storage.open_file(ref) as handle:
                images.append(Image.open(handle).convert("RGB"))
        return images

    def __call__(self, examples: list[dict]) -> dict:
        texts, prompts, images = [], [], []
        for example in examples:
            full = self.processor.apply_chat_template(example["messages"], tokenize=False)
            prompt = self.processor.apply_chat_template(example["messages"][:-1], tokenize=False, add_generation_prompt=True)
            if not full.startswith(prompt):
                raise ValueError(f"example {example['id']}: the chat template's prompt is not a prefix of the conversation")
            texts.append(full)
            prompts.append(prompt)
            images.append(self._images(example))
        with_images = any(images)
        batch = self.processor(
            text=texts, images=images if with_images else None, padding=True, padding_side="right", return_tensors="pt",
        )
        labels = batch["input_ids"].clone()
        labels[batch["attention_mask"] == 0] = -100
        for row, (prompt, own) in enumerate(zip(prompts, images)):
            encoded = self.processor(text=[prompt], images=[own] if own else None, return_tensors="pt")
            prompt_length = encoded["input_ids"].shape[1]
            if prompt_length >= self.max_length:
                raise ValueError(
                    f"example {examples[row]['id']}: its prompt is {prompt_length} tokens, train.max_length is {self.max_length}"
                )
            labels[row, :prompt_length] = -100  # learn the answer, not the question
        batch["labels"] = labels
        for key in ("input_ids", "attention_mask", "labels", "mm_token_type_ids", "token_type_ids"):
            if key in batch:
                batch[key] = batch[key][:, : self.max_length]
        batch["example_ids"] = [example["id"] for example in examples]
        return dict(batch)


def parameter_digest(model) -> str:
    digest = hashlib.sha256()
    for name, parameter in sorted(model.named_parameters()):
        digest.update(name.encode())
        digest.update(parameter.detach().float().cpu().numpy().tobytes())
    return digest.hexdigest()


def _sharding_options(args: dict) -> dict:
    if args["sharding"] == "fsdp":
        # FSDP2, one unit per decoder / encoder layer (the model's _no_split_modules); FSDP's own
        # activation checkpointing, which saves the extra all-gather of the Trainer's; the weights
        # read once, on rank 0, and broadcast (8 fp32 copies of a 7B model would not fit a node's RAM).
        return {
            "fsdp": True, "gradient_checkpointing": False,
            "fsdp_config": {"version": 2, "reshard_after_forward": True, "auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
                            "activation_checkpointing": args["gradient_checkpointing"], "state_dict_type": "FULL_STATE_DICT",
                            "cpu_ram_efficient_loading": True},
        }
    if args["sharding"] == "deepspeed_zero3":
        return {"deepspeed": {
            "zero_optimization": {
                "stage": 3, "overlap_comm": True, "contiguous_gradients": True,
                "stage3_gather_16bit_weights_on_model_save": True,
            },
            "bf16": {"enabled": "auto"}, "gradient_accumulation_steps": "auto", "gradient_clipping": "auto",
            "train_micro_batch_size_per_gpu": "auto", "train_batch_size": "auto",
        }}
    return {}


def _precision(args: dict, cuda: bool) -> bool:
    """True for bf16: asked for, or `auto` on a GPU that has it."""
    import torch

    if args["precision"] == "bf16":
        return True
    return args["precision"] == "auto" and cuda and torch.cuda.is_bf16_supported()


def train(args: dict) -> dict:
    import mlflow
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor, Trainer, TrainerCallback, TrainingArguments
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    rank = int(os.environ.get("RANK", "0"))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    cuda = args["use_gpu"] and torch.cuda.is_available()
    if args["use_gpu"] and not cuda:
        raise RuntimeError("train.use_gpu is set but this process sees no CUDA device")
    bf16 = _precision(args, cuda)
    examples = read_examples(args["data"], args["image_root"])
    if not examples:
        raise ValueError(f"no training examples in {args['data']}")
    reporting = bool(args["mlflow_run_id"]) and rank == 0
    if reporting:
        mlflow.set_tracking_uri(args["mlflow_uri"])
        mlflow.start_run(run_id=args["mlflow_run_id"])  # the Trainer's MLflow callback logs into this open run
    scratch = tempfile.mkdtemp(prefix="webmine-train-")
    # TrainingArguments come before the model: under ZeRO-3 the model is built already sharded.
    options = {"gradient_checkpointing": args["gradient_checkpointing"], **_sharding_options(args)}
    training_args = TrainingArguments(
        output_dir=scratch, seed=args["seed"], data_seed=args["seed"],
        num_train_epochs=args["epochs"], max_steps=args["max_steps"] or -1,
        per_device_train_batch_size=args["per_device_batch_size"], gradient_accumulation_steps=args["gradient_accumulation"],
        learning_rate=args["learning_rate"], lr_scheduler_type=args["scheduler"], warmup_steps=args["warmup_ratio"],
        weight_decay=args["weight_decay"], max_grad_norm=args["max_grad_norm"],
        optim="adamw_torch_fused" if cuda else "adamw_torch",
        bf16=bf16, use_cpu=not cuda, ddp_backend="nccl" if cuda else "gloo",
        ddp_find_unused_parameters=args["ddp_find_unused_parameters"] if world > 1 else None,
        gradient_checkpointing_kwargs={"use_reentrant": False},
        logging_steps=args["logging_steps"], logging_first_step=True, save_strategy="no",
        report_to=["mlflow"] if reporting else [], include_num_input_tokens_seen="non_padding",
        remove_unused_columns=False, dataloader_num_workers=args["dataloader_workers"], disable_tqdm=True,
        **options,
    )
    processor = AutoProcessor.from_pretrained(args["checkpoint"])
    # fp32 master weights under DDP and FSDP (bf16 is autocast / FSDP's compute dtype); DeepSpeed
    # keeps its own fp32 copy in the optimizer, so its model loads in bf16.
    model = AutoModelForImageTextToText.from_pretrained(
        args["checkpoint"], dtype=torch.bfloat16 if bf16 and args["sharding"] == "deepspeed_zero3" else torch.float32,
        attn_implementation=args["attn_implementation"],
    )
    ranks_dir = storage.join(args["output_dir"], "ranks")
    seen: list[str] = []

    class FineTuner(Trainer):
        def create_optimizer(self, model=None):
            """AdamW with the vision tower at train.vision_learning_rate, the rest at train.learning_rate."""
            if self.optimizer is None:
                target = self.model if model is None else model
                decay = set(self.get_decay_parameter_names(target))
                groups = []
                for vision in (False, True):
                    for decayed in (True, False):
                        params = [p for n, p in target.named_parameters()
                                  if p.requires_grad and is_vision_parameter(n) == vision and (n in decay) == decayed]
                        if params:
                            group = {"params": params, "weight_decay": self.args.weight_decay if decayed else 0.0}
                            groups.append({**group, "lr": args["vision_learning_rate"]} if vision else group)
                optimizer_cls, optimizer_kwargs = Trainer.get_optimizer_cls_and_kwargs(self.args, target)
                self.optimizer = optimizer_cls(groups, **optimizer_kwargs)
            return self.optimizer

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            seen.extend(inputs.pop("example_ids"))
            return super().compute_loss(model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch)

        def log(self, logs, start_time=None):
            if cuda:
                logs["peak_memory_gb"] = round(torch.cuda.max_memory_allocated() / 2**30, 3)
            super().log(logs, start_time)

    class RankAudit(TrainerCallback):
        """Per rank and step: the examples trained on and a digest of the parameters (DDP keeps them equal)."""

        def __init__(self):
            self.lines: list[str] = []

        def on_step_end(self, _args, state, control, model=None, **kwargs):
            self.lines.append(json.dumps({"step": state.global_step, "examples": list(seen), "digest": parameter_digest(model)}))
            seen.clear()

        def on_train_end(self, _args, state, control, **kwargs):
            storage.makedirs(ranks_dir)
            storage.write_text(storage.join(ranks_dir, f"rank-{rank}.jsonl"), "".join(line + "\n" for line in self.lines))

    trainer = FineTuner(
        model=model, args=training_args, train_dataset=examples, data_collator=ChatCollator(processor, args["max_length"]),
        processing_class=processor, callbacks=[RankAudit()] if args["audit_ranks"] else [],
    )
    result = trainer.train()
    output_dir = args["output_dir"]
    local_checkpoint = os.path.join(scratch, "checkpoint") if storage.is_uri(output_dir) else storage.join(output_dir, "checkpoint")
    trainer.save_model(local_checkpoint)  # every rank: FSDP and ZeRO-3 gather the shards
    history = trainer.state.log_history
    summary = {
        "steps": trainer.state.global_step,
        "world_size": world,
        "losses": [entry["loss"] for entry in history if "loss" in entry],
        "tokens": trainer.state.num_input_tokens_seen,
        "seconds": result.metrics["train_runtime"],
        "tokens_per_s": round(trainer.state.num_input_tokens_seen / max(result.metrics["train_runtime"], 1e-9), 1),
        "peak_memory_gb": round(torch.cuda.max_memory_allocated() / 2**30, 3) if cuda else None,
        "parameters": sum(getattr(p, "ds_numel", p.numel()) for p in model.parameters()),  # ZeRO-3 partitions them
        "bf16": bf16,
        "output_dir": storage.join(output_dir, "checkpoint"),
    }
    if rank == 0:
        processor.save_pretrained(local_checkpoint)
        if storage.is_uri(output_dir):
            storage.put_folder(local_checkpoint, summary["output_dir"])
        if reporting:
            mlflow.log_artifacts(local_checkpoint, "checkpoint")
            mlflow.end_run()
    shutil.rmtree(scratch, ignore_errors=True)  # a checkpoint bound for a URI was staged here
    return summary
