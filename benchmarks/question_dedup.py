"""Near-duplicate questions at scale, in Spark local mode: rows per second and recall on planted
duplicates, for the product's MinHash (numpy in a pandas UDF, band keys with the numbers group,
`runtime.near_duplicates.question_pairs`) and for Spark ML's MinHashLSH.

Questions are generated in Spark from templates with random numbers; a share of them is planted
again as near duplicates (one phrase swapped, a number written "40.0", thousands separated), the
way `sampleweb/planted.py` rewords. A planted copy is found when it ends in its original's cluster;
a false merge is a row clustered with a row of another problem.

    flock /tmp/webmine-spark.lock .venv/bin/python -m benchmarks.question_dedup [--rows 1000000] [--mllib-rows 5000]
"""
from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path
from typing import Iterator

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from runtime.config import DedupConfig, SparkConfig
from runtime.near_duplicates import cluster_representatives, question_pairs
from runtime.session import build_session
from sampleweb.planted import reword
from udfs.questions import features_udf, shingle_hashes, tokens

TEMPLATES = (
    "A metal block has a mass of {a} g and a volume of {b} cm^3. Calculate its density.",
    "A car travels {a} km in {b} hours. What is its average speed in km per hour?",
    "Find the area of a rectangle that is {a} m long and {b} m wide.",
    "An investment of ${a} earns {b}% interest compounded annually. What is it worth after {c} years?",
    "Two resistors of {a} ohm and {b} ohm are connected in series to a {c} V battery. Calculate the current.",
    "A right triangle has legs of {a} cm and {b} cm. Find the length of the hypotenuse.",
    "How many moles are in {a} g of a compound whose molar mass is {b} g/mol?",
    "A ball is thrown straight up at {a} m/s. What is its height after {b} s, taking g = 9.8 m/s^2?",
    "A population of {a} bacteria doubles every {b} hours. How many bacteria are there after {c} hours?",
    "Determine the reaction at each support of a beam of length {a} m carrying a load of {b} N at mid-span.",
    "A heater draws {a} A from a {b} V supply. Calculate the electrical power it uses.",
    "The sides of a triangle are {a} cm, {b} cm and {c} cm. What is its perimeter?",
)


def question(seed: int) -> str:
    rng = random.Random(seed)
    template = TEMPLATES[rng.randrange(len(TEMPLATES))]
    return template.format(a=rng.randint(2, 99_999), b=rng.randint(2, 99_999), c=rng.randint(2, 999))


def generate(originals: int, planted_every: int):
    """A mapInPandas function over spark.range: (id, question, truth). Row ids from `originals` on
    are planted copies of original (id - originals) * planted_every."""

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            rows = []
            for i in batch["id"]:
                if i < originals:
                    rows.append((f"q{i:08d}", question(i), f"q{i:08d}"))
                else:
                    base = (i - originals) * planted_every
                    rows.append((f"q{i:08d}", reword(question(base)), f"q{base:08d}"))
            yield pd.DataFrame(rows, columns=["id", "question", "truth"])

    return run


def questions(spark: SparkSession, rows: int, planted_share: float, folder: Path) -> DataFrame:
    planted = int(rows * planted_share)
    originals = rows - planted
    path = folder / f"questions-{rows}"
    if not (path / "_SUCCESS").exists():
        spark.range(rows, numPartitions=max(2, rows // 50_000)).mapInPandas(
            generate(originals, max(1, originals // max(1, planted))), "id string, question string, truth string"
        ).write.mode("overwrite").parquet(str(path))
    return spark.read.parquet(str(path))


def score(df: DataFrame, clusters: DataFrame) -> dict[str, float]:
    """Recall on planted copies and the false-merge rate, from (member, representative)."""
    rep = df.select("id", "truth").join(clusters.withColumnRenamed("member", "id"), "id", "left").withColumn(
        "representative", F.coalesce("representative", "id")
    )
    truth_rep = rep.select(F.col("id").alias("truth"), F.col("representative").alias("truth_rep"))
    planted = rep.where(F.col("id") != F.col("truth")).join(truth_rep, "truth")
    found = planted.where(F.col("representative") == F.col("truth_rep")).count()
    total = planted.count()
    rep_truth = rep.select(F.col("id").alias("representative"), F.col("truth").alias("rep_truth"))
    merged = rep.where(F.col("representative") != F.col("id")).join(rep_truth, "representative")
    wrong = merged.where(F.col("truth") != F.col("rep_truth")).count()
    removed = merged.count()
    return {"planted": total, "planted_found": found, "recall": found / total if total else 1.0,
            "rows_merged": removed, "false_merges": wrong, "false_merge_rate": wrong / removed if removed else 0.0}


def product_minhash(spark: SparkSession, df: DataFrame, cfg: DedupConfig) -> tuple[DataFrame, float]:
    started = time.monotonic()
    featured = df.select("id", features_udf(cfg.shingle_words, cfg.num_perm, cfg.bands)("question", F.lit("")).alias("f")).select("id", "f.*")
    featured = featured.localCheckpoint()
    pairs = question_pairs(featured, "id", cfg.min_jaccard).localCheckpoint()
    clusters = cluster_representatives(pairs, "id", "other_id").localCheckpoint()
    clusters.count()
    return clusters, time.monotonic() - started


def spark_ml_minhash(spark: SparkSession, df: DataFrame, cfg: DedupConfig, tables: int) -> tuple[DataFrame, float]:
    from pyspark.ml.feature import HashingTF, MinHashLSH

    @F.pandas_udf("array<string>")
    def bigrams(texts: pd.Series) -> pd.Series:
        return pd.Series([[str(h) for h in shingle_hashes(tokens(t), cfg.shingle_words)] for t in texts])

    started = time.monotonic()
    vectors = HashingTF(inputCol="shingles", outputCol="features", numFeatures=1 << 20, binary=True).transform(
        df.select("id", bigrams("question").alias("shingles"))
    ).localCheckpoint()
    model = MinHashLSH(inputCol="features", outputCol="hashes", numHashTables=tables, seed=1).fit(vectors)
    joined = model.approxSimilarityJoin(vectors, vectors, 1 - cfg.min_jaccard, distCol="distance").select(
        F.col("datasetA.id").alias("id"), F.col("datasetB.id").alias("other_id")
    ).where(F.col("id") < F.col("other_id")).localCheckpoint()
    clusters = cluster_representatives(joined, "id", "other_id").localCheckpoint()
    clusters.count()
    return clusters, time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--planted-share", type=float, default=0.02)
    parser.add_argument("--mllib-rows", type=int, default=5_000, help="rows for Spark ML's MinHashLSH (0: skip)")
    parser.add_argument("--mllib-tables", type=int, default=8)
    parser.add_argument("--out", type=Path, default=Path("work/bench"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    spark = build_session(SparkConfig(master="local[2]", shuffle_partitions=8, driver_memory="6g"))
    cfg = DedupConfig()
    results = {"cores": 2, "config": cfg.model_dump(), "runs": []}
    for method, rows in (("numpy_minhash_bands", args.rows), ("spark_ml_minhashlsh", args.mllib_rows)):
        if not rows:
            continue
        df = questions(spark, rows, args.planted_share, args.out)
        if method == "numpy_minhash_bands":
            clusters, seconds = product_minhash(spark, df, cfg)
        else:
            clusters, seconds = spark_ml_minhash(spark, df, cfg, args.mllib_tables)
        run = {"method": method, "rows": rows, "seconds": round(seconds, 1), "rows_per_s": round(rows / seconds), **score(df, clusters)}
        results["runs"].append(run)
        print(json.dumps(run), flush=True)
    (args.out / "question_dedup.json").write_text(json.dumps(results, indent=1))
    print(f"written to {args.out / 'question_dedup.json'}")
    spark.stop()


if __name__ == "__main__":
    main()
