"""De-duplicate and decontaminate the aligned QAs and flag the verified ones: `final_qas`.

Two stages:

- `benchmarks`: benchmark items -> `benchmark_items`, with the n-gram hashes of each item's
  question and the pHash of each of its images. Items come as the project's JSONL (id, benchmark,
  question, images) and as the benchmarks publish them (MMMU, MMMU-Pro, MathVista, MathVerse,
  DynaMath Parquet / JSON, read by `udfs/benchmarks.py`), one input row per JSONL line or file;
- `curate`: `aligned_qas` -> `final_qas`, every row checked. A QA whose question shares a word
  n-gram with an item's, or one of whose images lies within `image_distance` bits of an item's
  image, is `contaminated` (the item recorded). Of the rest, a QA whose question is a near
  duplicate of another's (MinHash LSH on normalised text, the same numbers, Jaccard from
  `min_jaccard`) showing the same pictures (pHash clusters of images) is a `duplicate`, with the
  kept row's id. New rows are compared with each other and with every row already kept; a
  cluster keeps its already-kept row, else its smallest final_id. `verified` marks the QAs whose
  final answer is equivalent to the web page's answer.

    python -m jobs.curate_qas --conf conf/local.yaml
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Iterator
from urllib.parse import unquote, urlsplit

import fsspec
import pandas as pd
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from runtime.cli import main
from runtime.context import Context
from runtime.keys import stable_id, stable_id_col
from runtime.near_duplicates import cluster_representatives, phash_clusters, phash_pairs, question_pairs
from runtime.stage import Stage
from schemas.aligned_qas import AlignedQA
from schemas.benchmark_items import BenchmarkItem
from schemas.final_qas import FinalQA
from udfs.answers import final_answer
from udfs.benchmarks import NAMES, index_text, published_files, read_published
from udfs.images import decode, read_data_url
from udfs.matching import answers_agree
from udfs.questions import features_udf, ngram_hashes, ngrams_udf, tokens

ALIGNED = AlignedQA.transform_schema().fieldNames()
ITEM = BenchmarkItem.transform_schema()
MAX_IMAGE_BYTES = 20_000_000


def benchmark_files(source: Path | None) -> list[str]:
    if source is None:
        return []
    if source.is_file():
        return [str(source.resolve())]
    if source.is_dir():
        return sorted(str(p.resolve()) for p in source.rglob("*.jsonl"))
    raise FileNotFoundError(f"quality.decontamination.benchmarks: no such file or folder: {source}")


def _image_bytes(ref: str, folder: Path) -> bytes:
    if ref.startswith("data:"):
        return read_data_url(ref, MAX_IMAGE_BYTES)
    path = Path(ref) if Path(ref).is_absolute() else folder / ref
    if path.stat().st_size > MAX_IMAGE_BYTES:
        raise ValueError(f"{ref} is over {MAX_IMAGE_BYTES} bytes")
    return path.read_bytes()


def _unreadable(source: str, benchmark: str, what: str, exc: Exception) -> dict:
    return BenchmarkItem.row(item_id=f"unreadable/{stable_id(source, what)}", benchmark=benchmark, source=source,
                             status="unreadable", reason=f"{type(exc).__name__}: {exc}", question="")


def item_row(source: str, benchmark: str, item_id: str, question: str, images: list[bytes | Exception], ngram: int) -> dict:
    """A benchmark_items row: the question's n-gram hashes, each image's pHash; an image that
    cannot be read or decoded makes the item `unreadable`, with the reason."""
    if not question and not images:
        return _unreadable(source, benchmark, item_id, ValueError("an item needs a question or an image"))
    phashes, problems = [], []
    for number, content in enumerate(images, 1):
        if isinstance(content, Exception):
            problems.append(f"image {number}: {type(content).__name__}: {content}")
            continue
        if len(content) > MAX_IMAGE_BYTES:
            problems.append(f"image {number}: over {MAX_IMAGE_BYTES} bytes")
            continue
        try:
            decoded = decode(content, min_side=1)
        except (OSError, ValueError) as exc:
            problems.append(f"image {number}: {type(exc).__name__}: {exc}")
            continue
        if decoded.status == "ok":
            phashes.append(decoded.phash)
        else:
            problems.append(f"image {number}: {decoded.status}: {decoded.reason}")
    return BenchmarkItem.row(
        item_id=item_id, benchmark=benchmark, source=source,
        status="unreadable" if problems else "ok", reason="; ".join(problems) or None, question=question,
        ngram_hashes=ngram_hashes(tokens(question), ngram), image_phashes=phashes,
    )


def benchmark_item(path: str, line: str, ngram: int) -> dict:
    """One JSONL line as a benchmark_items row; a line or image that cannot be read is a status row."""
    source = unquote(urlsplit(path).path) if path.startswith("file:") else path
    try:
        record = json.loads(line)
        if not isinstance(record, dict) or not record.get("id") or not record.get("question"):
            raise ValueError("an item needs an id and a question")
    except ValueError as exc:
        return _unreadable(source, "unknown", line, exc)
    benchmark = str(record.get("benchmark") or Path(source).stem)
    images: list[bytes | Exception] = []
    for ref in record.get("images") or ([record["image"]] if record.get("image") else []):
        try:
            images.append(_image_bytes(str(ref), Path(source).parent))
        except (OSError, ValueError) as exc:
            images.append(exc)
    return item_row(source, benchmark, f"{benchmark}/{record['id']}", str(record["question"]), images, ngram)


def published_items(path: str, benchmark: str, ngram: int) -> Iterator[dict]:
    """The rows of one published benchmark file; a file that cannot be read (or lacks the
    benchmark's columns) is one unreadable row."""
    name = NAMES[benchmark]
    try:
        for item in read_published(benchmark, path):
            yield item_row(path, name, f"{name}/{item.id}", index_text(item), item.images, ngram)
    except Exception as exc:  # noqa: BLE001 - any failure to read the file is its status row
        yield _unreadable(path, name, benchmark, exc)


def benchmark_partitions(ngram: int):
    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            rows = []
            for path, line, benchmark in zip(batch["path"], batch["line"], batch["benchmark"]):
                if isinstance(benchmark, str):
                    rows.extend(published_items(path, benchmark, ngram))
                else:
                    rows.append(benchmark_item(path, line, ngram))
            yield pd.DataFrame(rows, columns=ITEM.fieldNames())

    return run


class IndexBenchmarks(Stage):
    """Benchmark item files -> their questions' n-gram hashes and their images' pHashes."""

    name = "benchmarks"
    inputs = ()
    output = BenchmarkItem

    def source(self, ctx: Context) -> DataFrame:
        """A row per JSONL line (benchmark null) and a row per published file (line null); a
        published file is read again when its size changes."""
        schema = "path string, line string, benchmark string, input_key string"
        files = benchmark_files(ctx.config.benchmark_source())
        rows = ctx.spark.createDataFrame([], schema)
        if files:
            lines = ctx.spark.read.text(files).select(F.col("_metadata.file_path").alias("path"), F.col("value").alias("line"))
            rows = rows.unionByName(
                lines.where(F.trim("line") != "").withColumn("benchmark", F.lit(None).cast("string"))
                .withColumn("input_key", stable_id_col("path", "line"))
            )
        published = []
        for benchmark, location in sorted(ctx.config.quality.decontamination.published.items()):
            for path in published_files(location):
                size = fsspec.core.url_to_fs(path)[0].size(path)
                published.append((path, None, benchmark, stable_id(benchmark, path, str(size))))
        return rows.unionByName(ctx.spark.createDataFrame(published, schema)) if published else rows

    def transform(self, ctx: Context, batch: DataFrame) -> DataFrame:
        # Spread the published files over tasks: each file is read whole by one task.
        batch = batch.select("path", "line", "benchmark").repartition(max(1, ctx.config.spark.shuffle_partitions))
        items = batch.mapInPandas(benchmark_partitions(ctx.config.quality.decontamination.ngram), ITEM)
        # An item given twice (two lines, two files) is indexed once.
        first = Window.partitionBy("item_id").orderBy("source", "question")
        return items.withColumn("_n", F.row_number().over(first)).where("_n = 1").drop("_n")


@F.pandas_udf(T.BooleanType())
def verified(answer: pd.Series, solution: pd.Series, web_answer: pd.Series) -> pd.Series:
    """The QA's short final answer (its answer, else the one its solution states) agrees with the page's."""
    return pd.Series([
        answers_agree(a or (final_answer(s) if s else None), w) for a, s, w in zip(answer, solution, web_answer)
    ], dtype=bool)


def _best(pairs: DataFrame, key: str, *order) -> DataFrame:
    window = Window.partitionBy(key).orderBy(*order)
    return pairs.withColumn("_n", F.row_number().over(window)).where("_n = 1").drop("_n")


class CurateQAs(Stage):
    name = "curate"
    inputs = ("aligned_qas", "images", "benchmark_items", "final_qas")
    output = FinalQA
    single_batch = True

    def source(self, ctx: Context) -> DataFrame:
        return ctx.tables.read("aligned_qas").withColumn("input_key", F.col("final_id"))

    def contamination(self, ctx: Context, qas: DataFrame) -> DataFrame:
        """(final_id, benchmark_item, match_kind, match_score) of the QAs that match a benchmark item:
        by shared n-grams (most shared wins), else by image (nearest wins); ties to the smallest item_id."""
        cfg = ctx.config.quality.decontamination
        items = ctx.tables.read("benchmark_items")
        grams = qas.select("final_id", F.explode(ngrams_udf(cfg.ngram)("question")).alias("gram"))
        shared = (
            grams.join(items.select("item_id", F.explode("ngram_hashes").alias("gram")), "gram")
            .groupBy("final_id", "item_id").agg(F.countDistinct("gram").alias("shared"))
        )
        text = _best(shared, "final_id", F.desc("shared"), "item_id").select(
            "final_id", F.col("item_id").alias("benchmark_item"), F.lit("benchmark_text").alias("match_kind"),
            F.col("shared").cast("double").alias("match_score"),
        )
        phashes = ctx.tables.read("images").where("status = 'ok' AND phash IS NOT NULL").select("image_id", "phash")
        qa_images = qas.select("final_id", F.explode("image_ids").alias("image_id")).join(phashes, "image_id").select(
            F.concat_ws("#", "final_id", "image_id").alias("qa_image"), "phash"
        )
        item_images = items.select("item_id", F.posexplode("image_phashes").alias("pos", "phash")).select(
            F.concat_ws("#", "item_id", "pos").alias("item_image"), "phash"
        )
        near = phash_pairs(qa_images, "qa_image", item_images, "item_image", cfg.image_distance).select(
            F.substring_index("qa_image", "#", 1).alias("final_id"),
            F.regexp_extract("item_image", r"^(.*)#\d+$", 1).alias("item_id"), "distance",
        )
        image = _best(near, "final_id", "distance", "item_id").select(
            "final_id", F.col("item_id").alias("benchmark_item"), F.lit("benchmark_image").alias("match_kind"),
            F.col("distance").cast("double").alias("match_score"),
        )
        return text.unionByName(image.join(text.select("final_id"), "final_id", "left_anti"))

    def duplicates(self, ctx: Context, new: DataFrame, batch: DataFrame) -> DataFrame:
        """(final_id, duplicate_of, match_kind, match_score) of the new QAs that repeat another QA."""
        cfg = ctx.config.quality.dedup
        kept = (
            ctx.tables.read("final_qas").where(F.col("status") == "ok")
            .join(batch.select("final_id"), "final_id", "left_anti")  # a rerun of a batch that was merged before
        )
        # Node ids sort kept rows ("0...") before new ones ("1..."): a cluster's smallest node is the
        # row it already kept, else its smallest new final_id.
        nodes = new.select(F.concat(F.lit("1"), "final_id").alias("node"), "question", "image_ids").unionByName(
            kept.select(F.concat(F.lit("0"), "final_id").alias("node"), "question", "image_ids")
        )
        images = ctx.tables.read("images").where("status = 'ok' AND phash IS NOT NULL").select("image_id", "phash")
        pictures = phash_clusters(images, "image_id", cfg.image_distance)
        scopes = (
            nodes.select("node", F.explode("image_ids").alias("member")).join(pictures, "member", "left")
            .groupBy("node").agg(F.array_join(F.array_sort(F.collect_set(F.coalesce("representative", "member"))), ",").alias("scope"))
        )
        question_features = features_udf(cfg.shingle_words, cfg.num_perm, cfg.bands)
        featured = (
            nodes.join(scopes, "node", "left")
            .select("node", question_features("question", F.coalesce("scope", F.lit(""))).alias("f"))
            .select("node", "f.*")
            .localCheckpoint()  # the features are read by several joins below
        )
        pairs = question_pairs(featured, "node", cfg.min_jaccard).where(
            F.col("node").startswith("1") | F.col("other_node").startswith("1")
        ).localCheckpoint()
        clusters = cluster_representatives(pairs, "node", "other_node")
        scores = (
            pairs.select(F.col("node").alias("member"), "jaccard")
            .unionByName(pairs.select(F.col("other_node").alias("member"), "jaccard"))
            .groupBy("member").agg(F.max("jaccard").alias("score"))
        )
        return (
            clusters.where(F.col("member").startswith("1") & (F.col("member") != F.col("representative")))
            .join(scores, "member")
            .select(
                F.expr("substring(member, 2)").alias("final_id"), F.expr("substring(representative, 2)").alias("duplicate_of"),
                F.when(F.col("score") >= 1.0, "question_exact").otherwise("question_near").alias("match_kind"),
                F.col("score").cast("double").alias("match_score"),
            )
        )

    def transform(self, ctx: Context, batch: DataFrame) -> DataFrame:
        rows = batch.select(*ALIGNED)
        ok = rows.where(F.col("status") == "ok")
        contaminated = self.contamination(ctx, ok).localCheckpoint()
        duplicates = self.duplicates(ctx, ok.join(contaminated.select("final_id"), "final_id", "left_anti"), batch)
        removed = contaminated.select(
            "final_id", F.lit("contaminated").alias("removed_as"), F.lit(None).cast("string").alias("duplicate_of"),
            "benchmark_item", "match_kind", "match_score",
        ).unionByName(duplicates.select(
            "final_id", F.lit("duplicate").alias("removed_as"), "duplicate_of", F.lit(None).cast("string").alias("benchmark_item"),
            "match_kind", "match_score",
        ))
        reason = (
            F.when(F.col("removed_as") == "contaminated", F.concat(F.lit("matches benchmark item "), "benchmark_item", F.lit(" by "), "match_kind"))
            .when(F.col("removed_as") == "duplicate", F.concat(F.lit("duplicate of "), "duplicate_of", F.lit(" by "), "match_kind"))
            .otherwise(F.col("reason"))
        )
        return (
            rows.join(removed, "final_id", "left")
            .withColumn("verified", (F.col("status") == "ok") & verified("answer", "solution", "web_answer"))
            .withColumn("reason", reason)
            .withColumn("status", F.coalesce("removed_as", "status"))
            .select(*FinalQA.transform_schema().fieldNames())
        )


STAGES = (IndexBenchmarks(), CurateQAs())

if __name__ == "__main__":
    sys.exit(main("curate_qas", STAGES))
