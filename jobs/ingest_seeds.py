"""Seed images from a folder or a CSV/JSONL manifest (path, subject) into `seeds`.

    python -m jobs.ingest_seeds --conf conf/local.yaml [--set seeds.source=path/to/manifest.csv]
"""
from __future__ import annotations

import sys

import csv
import json
from pathlib import Path
from typing import Iterator

import pandas as pd
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from runtime.cli import main
from runtime.config import SeedsConfig
from runtime.context import Context
from runtime.keys import stable_id
from runtime.stage import Stage
from schemas.seeds import Seed
from udfs.images import decode

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".tif", ".tiff"}


def list_seed_files(source: Path) -> list[tuple[str, str | None]]:
    """(absolute path, subject) for each seed a folder or manifest names."""
    if source.is_dir():
        return [(str(p.resolve()), p.parent.name if p.parent != source else None)
                for p in sorted(source.rglob("*")) if p.suffix.lower() in IMAGE_SUFFIXES]
    if not source.is_file():
        raise FileNotFoundError(f"seed source not found: {source}")
    if source.suffix.lower() == ".csv":
        with open(source, newline="") as handle:
            records = list(csv.DictReader(handle))
    elif source.suffix.lower() in (".jsonl", ".json"):
        records = [json.loads(line) for line in source.read_text().splitlines() if line.strip()]
    else:
        raise ValueError(f"seed manifest must be .csv or .jsonl: {source}")
    missing = [i for i, r in enumerate(records, 1) if not r.get("path")]
    if missing:
        raise ValueError(f"seed manifest {source}: record(s) {missing[:5]} have no path")
    return [(str((source.parent / r["path"]).resolve()), r.get("subject") or None) for r in records]


def read_seeds(config: SeedsConfig, round_: int):
    def one(path: str, subject: str | None) -> dict:
        base = {"source": path, "subject": subject, "round": round_}
        file = Path(path)
        if not file.is_file():
            return Seed.row(seed_id=stable_id("missing", path), status="missing", reason="file not found", **base)
        if file.stat().st_size > config.max_bytes:
            return Seed.row(seed_id=stable_id("large", path), status="too_large", reason=f"over {config.max_bytes} bytes", **base)
        data = file.read_bytes()
        found = decode(data, config.min_side, config.max_side)
        return Seed.row(
            seed_id=found.sha256, status=found.status, reason=found.reason, width=found.width, height=found.height,
            format=found.format, phash=found.phash, content=data if found.status == "ok" else None, **base,
        )

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            rows = [one(p, s) for p, s in zip(batch["path"], batch["subject"])]
            yield pd.DataFrame(rows, columns=Seed.transform_schema().fieldNames())

    return run


class IngestSeeds(Stage):
    name = "seeds"
    inputs = ()
    output = Seed

    def source(self, ctx: Context) -> DataFrame:
        files = list_seed_files(ctx.config.seed_source())
        df = ctx.spark.createDataFrame(files, "path string, subject string")
        return df.withColumn("input_key", df["path"])

    def transform(self, ctx: Context, batch: DataFrame) -> DataFrame:
        rows = batch.select("path", "subject").mapInPandas(read_seeds(ctx.config.seeds, ctx.config.search.round), Seed.transform_schema())
        # The same image under two paths is one seed: keep the first path.
        first = Window.partitionBy("seed_id").orderBy("source")
        return rows.withColumn("_n", F.row_number().over(first)).where("_n = 1").drop("_n")


STAGES = (IngestSeeds(),)

if __name__ == "__main__":
    sys.exit(main("ingest_seeds", STAGES))
