"""Fine-tune a vision-language model on final_qas read at a pinned Delta version.

Exports that version, pins a copy of it (`Tables.pin`: VACUUM cannot take it away), mixes in
an external instruction set, records the table and version as the MLflow run's input, and
launches the trainer (training/trainer.py) through TorchDistributor: `train.num_processes`
processes on the driver in local mode, GPU executors on a cluster, forming one DDP / FSDP /
ZeRO-3 job. The trainer reports its loss, learning rate and throughput into this run and logs the
checkpoint, so the checkpoint names the data it learned from.

    python -m jobs.train --conf conf/local.yaml --set train.checkpoint=/models/Qwen2-VL-7B-Instruct
"""
from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict
from pathlib import Path

from runtime.cli import load_or_exit
from runtime.config import ConfigError
from runtime.context import Context, pipeline_run
from training import storage
from training.export import export_final_qas
from training.mix import mix

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def launch(ctx: Context) -> dict:
    from pyspark.ml.torch.distributor import TorchDistributor

    from training.trainer import train

    cfg = ctx.config.train
    if cfg.checkpoint is None:
        raise ConfigError("train.checkpoint: set the model to fine-tune (a saved model + processor folder, or a hub id)")
    version = ctx.tables.version("final_qas") if cfg.table_version is None else cfg.table_version
    run_dir = storage.join(storage.absolute(cfg.output_dir), f"final_qas-v{version}")
    export_dir = storage.join(run_dir, "export")
    exported = export_final_qas(ctx.tables, export_dir, version)
    data = exported.messages_jsonl
    if cfg.external_data is not None:
        data = mix(exported.jsonl, cfg.external_data, storage.join(run_dir, "mix", "train.jsonl"), cfg.mix_ratio, cfg.seed).jsonl
    ctx.tracker.log_params({"train": cfg.model_dump(mode="json"), "export": asdict(exported)})
    # A copy of the version, which no VACUUM of final_qas removes: the checkpoint's data stays readable.
    pinned = ctx.tables.pin("final_qas", version)
    ctx.tracker.log_dataset(ctx.tables.read("final_qas", version), ctx.tables.location("final_qas"), version, "final_qas",
                            by_name=ctx.config.tables.catalog is not None, pinned=pinned)
    # A folder here is made absolute for the training processes; anything else is a hub id.
    checkpoint = str(Path(cfg.checkpoint).resolve()) if Path(cfg.checkpoint).exists() else cfg.checkpoint
    args = {
        **cfg.model_dump(mode="json"),
        "checkpoint": checkpoint,
        "data": data,
        "image_root": export_dir,
        "output_dir": run_dir,
        "mlflow_run_id": ctx.tracker.run.info.run_id if ctx.tracker.run else None,
        "mlflow_uri": ctx.tracker.uri,
    }
    local = ctx.config.spark.master.startswith("local")
    distributor = TorchDistributor(num_processes=cfg.num_processes, local_mode=local, use_gpu=cfg.use_gpu)
    if not local:
        return {"table_version": version, "export": asdict(exported), **distributor.run(train, args)}
    # torchrun's processes start from a script in a temporary folder: they import this project
    # from where the driver does, installed or not.
    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), before]))
    try:
        result = distributor.run(train, args)
    finally:
        if before is None:
            os.environ.pop("PYTHONPATH")
        else:
            os.environ["PYTHONPATH"] = before
    return {"table_version": version, "export": asdict(exported), **result}


def main(argv=None) -> int:
    args, config = load_or_exit("train", argv)
    if config is None:
        return 2
    with pipeline_run(config, "train", args.run_id, serve_sample_web=False) as ctx:
        try:
            result = launch(ctx)
        except ConfigError as exc:
            print(exc, file=sys.stderr)
            return 2
        print(json.dumps({k: v for k, v in result.items() if k != "losses"}, indent=1))
        print(
            f"loss: first {result['losses'][0]:.4f}, last {result['losses'][-1]:.4f} over {result['steps']} steps "
            f"on {result['world_size']} processes; {result['tokens_per_s']} tokens/s; peak memory {result['peak_memory_gb']} GiB"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
