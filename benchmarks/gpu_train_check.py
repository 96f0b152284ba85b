"""A fine-tuning check for a GPU machine: a small model of each family, a few hundred steps.

Writes a final_qas table of generated problems (half of them over a diagram) and, for each
model family, builds a small randomly initialised model (no download) and trains it through
the training stage (jobs/train.py: TorchDistributor, one DDP process per visible GPU, bf16,
gradient checkpointing), then prints steps, loss, tokens/s and peak GPU memory per family.
`--cpu N` runs the same on N CPU processes (gloo, fp32), for figures on a machine without GPUs.

    PYTHONPATH=$PWD .venv/bin/python -m benchmarks.gpu_train_check --steps 300
    PYTHONPATH=$PWD .venv/bin/python -m benchmarks.gpu_train_check --cpu 2 --steps 20 --hidden 32 --layers 2 --batch 1
"""
from __future__ import annotations

import argparse
import io
import json
import random
import shutil
from pathlib import Path

from pyspark.sql import functions as F

from jobs.train import launch
from runtime.config import load_config
from runtime.context import pipeline_run
from sampleweb.problems import GENERATORS, make_problem, render_diagram
from schemas.final_qas import FinalQA
from schemas.images import ImageRecord
from training.model import FAMILIES, build_tiny_model
from udfs.images import decode


def problem_rows(count: int, seed: int = 0) -> tuple[list[dict], list[dict]]:
    rng = random.Random(seed)
    qas, images = [], []
    for n in range(count):
        illustrated = n % 2 == 0
        for subject in rng.sample(sorted(GENERATORS), len(GENERATORS)):
            try:
                problem = make_problem(subject, rng, illustrated)
                break
            except IndexError:  # no problem of this kind in the subject
                continue
        image_ids = []
        if illustrated:
            buffer = io.BytesIO()
            render_diagram(problem, rng).save(buffer, format="PNG")
            content = buffer.getvalue()
            decoded = decode(content, 1)
            image_ids = [f"img{n}"]
            images.append(ImageRecord.row(
                image_id=image_ids[0], url=f"http://check/{n}.png", page_id="p", status="ok", sha256=decoded.sha256,
                width=decoded.width, height=decoded.height, format=decoded.format, size_bytes=len(content),
                phash=decoded.phash, content=content,
            ))
        qas.append(FinalQA.row(
            final_id=f"f{n:05d}", qa_id=f"q{n}", source_qa_ids=[f"q{n}"], status="ok", question=problem.question,
            solution=" ".join(problem.steps), answer=problem.answer, answer_source="generated", image_ids=image_ids,
            image_sha256=[], has_images=illustrated, subject=problem.subject, page_id="p", url=f"http://check/{n}",
        ))
    return qas, images


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default="work/gpu_train_check")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--rows", type=int, default=512)
    parser.add_argument("--gpus", type=int, default=None, help="default: every visible GPU")
    parser.add_argument("--cpu", type=int, default=0, metavar="N", help="train on N CPU processes instead")
    parser.add_argument("--batch", type=int, default=4, help="per-device batch size")
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--layers", type=int, default=8)
    args = parser.parse_args(argv)

    import torch

    if not args.cpu and not torch.cuda.is_available():
        raise SystemExit("no CUDA device: this check trains on GPUs (--cpu N for CPU processes)")
    processes = args.cpu or args.gpus or torch.cuda.device_count()
    work = Path(args.work).resolve()
    shutil.rmtree(work, ignore_errors=True)
    discovery = Path(__file__).with_name("gpu_discovery.sh").resolve()
    settings = {
        "run.work_dir": str(work), "tables.root": str(work / "tables"), "sample_web.enabled": "false",
        "tracking.uri": f"sqlite:///{work / 'mlflow.db'}", "tracking.artifact_root": str(work / "mlartifacts"),
        "tracking.experiment": "gpu-train-check", "train.num_processes": str(processes),
        "train.max_steps": str(args.steps), "train.per_device_batch_size": str(args.batch), "train.max_length": "1024",
        "train.learning_rate": "3e-4", "train.vision_learning_rate": "1e-4", "train.logging_steps": "10",
        "train.dataloader_workers": "0" if args.cpu else "2",
    }
    if not args.cpu:
        settings.update({
            "spark.extra": json.dumps({"spark.driver.resource.gpu.amount": str(processes),
                                       "spark.driver.resource.gpu.discoveryScript": str(discovery)}),
            "train.use_gpu": "true", "train.precision": "bf16",
        })
    results = {}
    for family in FAMILIES:
        config = load_config(Path(__file__).parents[1] / "conf" / "local.yaml", {
            **settings, "train.output_dir": str(work / family), "train.checkpoint": str(work / "models" / family)})
        with pipeline_run(config, "gpu_train_check", f"gpu-check-{family}", serve_sample_web=False) as ctx:
            if not ctx.tables.exists("final_qas") or ctx.tables.read("final_qas").count() == 0:
                qas, images = problem_rows(args.rows)
                for name, model, rows in (("images", ImageRecord, images), ("final_qas", FinalQA, qas)):
                    frame = ctx.spark.createDataFrame(rows, model.transform_schema()).withColumn("run_id", F.lit(ctx.run_id))
                    ctx.tables.merge(name, frame)
            texts = [f"{r['question']} {r['solution']} {r['answer']}" for r in ctx.tables.read("final_qas").collect()]
            build_tiny_model(family, work / "models" / family, texts, hidden=args.hidden, layers=args.layers,
                             image_size=224, patch=14 if family == "qwen2_vl" else 16)
            results[family] = launch(ctx)
    device = f"{processes} CPU processes, fp32" if args.cpu else f"{torch.cuda.get_device_name(0)} x {processes}, bf16"
    print(f"{device}, DDP, batch {args.batch} per process, {args.steps} steps, hidden {args.hidden}, {args.layers} layers")
    print(f"{'family':<10} {'parameters':>11} {'loss first':>10} {'loss last':>10} {'tokens/s':>12} {'peak GiB':>9} {'seconds':>8}")
    for family, r in results.items():
        peak = f"{r['peak_memory_gb']:>9.2f}" if r["peak_memory_gb"] is not None else f"{'-':>9}"
        print(f"{family:<10} {r['parameters']:>11,} {r['losses'][0]:>10.3f} {r['losses'][-1]:>10.3f} "
              f"{r['tokens_per_s']:>12,.0f} {peak} {r['seconds']:>8.1f}")
    Path(work / "results.json").write_text(json.dumps({f: {k: v for k, v in r.items() if k != "export"} for f, r in results.items()}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
