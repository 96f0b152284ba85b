"""Fine-tune a LLaVA-style model on final_qas read at a pinned Delta version.

Exports that version, pins a copy of it (`Tables.pin`: VACUUM cannot take it away), mixes in
an external instruction set, records the table and version as the MLflow run's input, and launches the training loop through TorchDistributor
(local mode on one machine, GPU executors on a cluster). The checkpoint is logged with the
data version it learned from.

    python -m jobs.train --conf conf/local.yaml --set train.checkpoint=/models/llava-qwen2.5-7b
"""
from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

from runtime.cli import load_or_exit
from runtime.config import ConfigError
from runtime.context import Context, pipeline_run
from training.export import export_final_qas
from training.mix import mix


def launch(ctx: Context) -> dict:
    from pyspark.ml.torch.distributor import TorchDistributor

    from training.loop import train

    cfg = ctx.config.train
    if cfg.checkpoint is None:
        raise ConfigError("train.checkpoint: set the path of a saved LLaVA-style model and processor")
    version = ctx.tables.version("final_qas") if cfg.table_version is None else cfg.table_version
    run_dir = cfg.output_dir / f"final_qas-v{version}"
    exported = export_final_qas(ctx.tables, run_dir / "export", version)
    data = exported.jsonl
    if cfg.external_data is not None:
        data = mix(Path(exported.jsonl), cfg.external_data, run_dir / "mix" / "train.jsonl", cfg.mix_ratio, cfg.seed).jsonl
    ctx.tracker.log_params({"train": cfg.model_dump(mode="json"), "export": asdict(exported)})
    # A copy of the version, which no VACUUM of final_qas removes: the checkpoint's data stays readable.
    pinned = ctx.tables.pin("final_qas", version)
    ctx.tracker.log_dataset(ctx.tables.read("final_qas", version), ctx.tables.location("final_qas"), version, "final_qas",
                            by_name=ctx.config.tables.catalog is not None, pinned=pinned)
    args = {
        **cfg.model_dump(mode="json"),
        "checkpoint": str(cfg.checkpoint.resolve()),
        "data": str(data),
        "image_root": str((run_dir / "export").resolve()),
        "output_dir": str((run_dir / "checkpoint").resolve()),
        "mlflow_run_id": ctx.tracker.run.info.run_id if ctx.tracker.run else None,
        "mlflow_uri": ctx.tracker.uri,
    }
    local = ctx.config.spark.master.startswith("local")
    result = TorchDistributor(num_processes=cfg.num_processes, local_mode=local, use_gpu=cfg.use_gpu).run(train, args)
    ctx.tracker.log_artifacts(result["output_dir"], "checkpoint")
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
        print(f"loss: first {result['losses'][0]:.4f}, last {result['losses'][-1]:.4f} over {result['steps']} steps")
    return 0


if __name__ == "__main__":
    sys.exit(main())
