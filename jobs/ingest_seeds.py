"""Seed images into `seeds`: from a folder, a CSV/JSONL manifest or Parquet with image bytes.

    python -m jobs.ingest_seeds --conf conf/local.yaml [--set seeds.source=path/to/manifest.csv]

- a folder: every image under it, the subject being its sub-folder's name;
- a manifest (.csv, .jsonl): `path` (relative to the manifest), `subject`, optionally `image_url`
  (the image's public URL, which SerpAPI Google Lens needs);
- Parquet (a .parquet file or a folder of them, e.g. a Hugging Face dataset export): the image in
  `seeds.parquet_image_column` (bytes, or a struct with `bytes`), with subject and URL columns.

A seed is keyed by the SHA-256 of its bytes, so the same image twice is one seed; one whose pHash
lies within `seeds.near_duplicate_distance` bits of an earlier seed's is kept as `near_duplicate`
with the seed it repeats. Unreadable, tiny and huge images are rows with a status and a reason.
"""
from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Iterator

import pandas as pd
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from runtime.cli import main
from runtime.config import SeedsConfig
from runtime.context import Context
from runtime.keys import stable_id
from runtime.near_duplicates import cluster_representatives, phash_pairs
from runtime.stage import Stage
from schemas.seeds import Seed
from udfs.images import decode

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".tif", ".tiff"}
SOURCE_COLUMNS = "path string, subject string, image_url string"


def list_seed_files(source: Path) -> list[tuple[str, str | None, str | None]]:
    """(absolute path, subject, image URL) for each seed a folder or manifest names."""
    if source.is_dir():
        return [(str(p.resolve()), p.parent.name if p.parent != source else None, None)
                for p in sorted(source.rglob("*")) if p.suffix.lower() in IMAGE_SUFFIXES]
    if not source.is_file():
        raise FileNotFoundError(f"seed source not found: {source}")
    if source.suffix.lower() == ".csv":
        with open(source, newline="") as handle:
            records = list(csv.DictReader(handle))
    elif source.suffix.lower() in (".jsonl", ".json"):
        records = [json.loads(line) for line in source.read_text().splitlines() if line.strip()]
    else:
        raise ValueError(f"seed manifest must be .csv, .jsonl or .parquet: {source}")
    missing = [i for i, r in enumerate(records, 1) if not r.get("path")]
    if missing:
        raise ValueError(f"seed manifest {source}: record(s) {missing[:5]} have no path")
    return [(str((source.parent / r["path"]).resolve()), r.get("subject") or None, r.get("image_url") or None) for r in records]


def is_parquet(source: Path) -> bool:
    return source.suffix.lower() == ".parquet" or (source.is_dir() and any(source.glob("*.parquet")))


def parquet_seeds(ctx: Context, source: Path) -> DataFrame:
    """Rows (input_key, path, subject, image_url, data) of a Parquet seed source; the key is the bytes' hash."""
    config = ctx.config.seeds
    df = ctx.spark.read.parquet(str(source.resolve()))
    if config.parquet_image_column not in df.columns:
        raise ValueError(f"seeds.parquet_image_column: no column {config.parquet_image_column!r} in {source} (columns: {', '.join(df.columns)})")
    image = F.col(config.parquet_image_column)
    if isinstance(df.schema[config.parquet_image_column].dataType, T.StructType):
        image = image.getField("bytes")  # the datasets library's Image feature

    def optional(name: str) -> F.Column:
        return F.col(name).cast("string") if name in df.columns else F.lit(None).cast("string")

    rows = df.select(image.alias("data"), optional(config.parquet_subject_column).alias("subject"),
                     optional(config.parquet_url_column).alias("image_url"))
    digest = F.coalesce(F.sha2("data", 256), F.lit("empty"))
    return rows.select(
        F.concat(F.lit("parquet:"), digest).alias("input_key"),
        F.concat(F.lit(f"{source.resolve()}#sha256="), digest).alias("path"), "subject", "image_url", "data",
    ).dropDuplicates(["input_key"])


def read_seeds(config: SeedsConfig):
    """A mapInPandas function: (path, subject, image_url, data) in, seeds rows (round 1) out; data
    holds the bytes of a Parquet seed, else the file at path is read."""

    def one(path: str, subject: str | None, image_url: str | None, data: bytes | None) -> dict:
        base = {"source": path, "subject": subject, "image_url": image_url, "round": 1}
        if data is None:
            file = Path(path)
            if not file.is_file():
                return Seed.row(seed_id=stable_id("missing", path), status="missing", reason="file not found", **base)
            if file.stat().st_size > config.max_bytes:
                return Seed.row(seed_id=stable_id("large", path), status="too_large", reason=f"over {config.max_bytes} bytes", **base)
            data = file.read_bytes()
        elif len(data) > config.max_bytes:
            return Seed.row(seed_id=stable_id("large", path), status="too_large", reason=f"over {config.max_bytes} bytes", **base)
        found = decode(data, config.min_side, config.max_side)
        return Seed.row(
            seed_id=found.sha256, status=found.status, reason=found.reason, width=found.width, height=found.height,
            format=found.format, phash=found.phash, content=data if found.status == "ok" else None, **base,
        )

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            rows = [one(p, s, u, None if d is None or (isinstance(d, float) and pd.isna(d)) else bytes(d))
                    for p, s, u, d in zip(batch["path"], batch["subject"], batch["image_url"], batch["data"])]
            yield pd.DataFrame(rows, columns=Seed.transform_schema().fieldNames())

    return run


def mark_near_duplicates(ctx: Context, stage: str, seeds: DataFrame, max_distance: int) -> DataFrame:
    """Seeds rows with those that repeat an earlier seed (in the table) or another new one set to
    `near_duplicate`; of new near duplicates the one first by source is kept."""
    if max_distance == 0:
        return seeds
    seeds = ctx.tables.stage_input(f"{stage}.decoded", seeds)  # decoded once, read by every join below
    new = seeds.where("status = 'ok'").select("seed_id", "phash", F.concat_ws("\x1f", "source", "seed_id").alias("order_key"))
    earlier = ctx.tables.read("seeds").where("status = 'ok'").select(F.col("seed_id").alias("earlier_id"), "phash")
    repeats = (
        phash_pairs(new, "seed_id", earlier, "earlier_id", max_distance).where(F.col("seed_id") != F.col("earlier_id"))
        .groupBy("seed_id").agg(F.min("earlier_id").alias("duplicate_of"))
    )
    pairs = phash_pairs(new.select("order_key", "phash"), "order_key", None, "order_key", max_distance)
    clusters = cluster_representatives(pairs, "order_key", "other_order_key")
    among_new = clusters.where(F.col("member") != F.col("representative")).select(
        F.substring_index("member", "\x1f", -1).alias("seed_id"), F.substring_index("representative", "\x1f", -1).alias("duplicate_of"))
    duplicate_of = repeats.unionByName(among_new).groupBy("seed_id").agg(F.min("duplicate_of").alias("duplicate_of"))
    marked = seeds.join(duplicate_of, "seed_id", "left")
    is_repeat = F.col("duplicate_of").isNotNull()
    return marked.select(
        *[
            F.when(is_repeat, F.lit("near_duplicate")).otherwise(F.col("status")).alias("status") if name == "status"
            else F.when(is_repeat, F.concat(F.lit(f"within {max_distance} bits of seed "), "duplicate_of"))
            .otherwise(F.col("reason")).alias("reason") if name == "reason"
            else F.when(is_repeat, F.lit(None).cast("binary")).otherwise(F.col("content")).alias("content") if name == "content"
            else F.col(name)
            for name in seeds.columns
        ]
    )


class IngestSeeds(Stage):
    name = "seeds"
    inputs = ()
    output = Seed

    def source(self, ctx: Context) -> DataFrame:
        source = ctx.config.seed_source()
        if is_parquet(source):
            return parquet_seeds(ctx, source)
        df = ctx.spark.createDataFrame(list_seed_files(source), SOURCE_COLUMNS)
        return df.withColumn("data", F.lit(None).cast("binary")).withColumn("input_key", df["path"])

    def transform(self, ctx: Context, batch: DataFrame) -> DataFrame:
        rows = batch.select("path", "subject", "image_url", "data").mapInPandas(read_seeds(ctx.config.seeds), Seed.transform_schema())
        # The same image under two paths is one seed: keep the first path.
        first = Window.partitionBy("seed_id").orderBy("source")
        unique = rows.withColumn("_n", F.row_number().over(first)).where("_n = 1").drop("_n")
        return mark_near_duplicates(ctx, self.name, unique, ctx.config.seeds.near_duplicate_distance)


STAGES = (IngestSeeds(),)

if __name__ == "__main__":
    sys.exit(main("ingest_seeds", STAGES))
