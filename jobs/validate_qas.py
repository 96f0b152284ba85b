"""Validate candidate QAs by rule, attach images and lineage, merge copies: `final_qas`.

    python -m jobs.validate_qas --conf conf/local.yaml
"""
from __future__ import annotations

import sys

import pandas as pd
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from runtime.cli import main
from runtime.context import Context
from runtime.keys import stable_id_col
from runtime.stage import Stage
from schemas.final_qas import FinalQA
from udfs.extraction import validate_pair

VERDICT = T.StructType([T.StructField("status", T.StringType()), T.StructField("reason", T.StringType())])


def verdicts(min_chars: int, max_chars: int):
    @F.pandas_udf(VERDICT)
    def judge(question: pd.Series, answer: pd.Series, ok: pd.Series, failed: pd.Series) -> pd.DataFrame:
        out = [validate_pair(q, a, int(o), int(f), min_chars, max_chars) for q, a, o, f in zip(question, answer, ok, failed)]
        return pd.DataFrame(out, columns=["status", "reason"])

    return judge


class ValidateQAs(Stage):
    name = "validate"
    inputs = ("candidate_qas", "images", "urls", "seeds")
    output = FinalQA
    # A copy of a kept QA found on another URL is recorded on the kept row.
    update = {"source_qa_ids": "array_sort(array_union(t.source_qa_ids, s.source_qa_ids))"}
    update_when = "size(array_except(s.source_qa_ids, t.source_qa_ids)) > 0"

    def source(self, ctx: Context) -> DataFrame:
        return ctx.tables.read("candidate_qas").withColumn("input_key", F.col("qa_id"))

    def transform(self, ctx: Context, batch: DataFrame) -> DataFrame:
        images = ctx.tables.read("images").select(F.col("url").alias("image_url"), "image_id", F.col("status").alias("image_status"), "sha256")
        refs = batch.select("qa_id", F.explode(F.array_union("question_images", "solution_images")).alias("image_url"))
        linked = refs.join(images, "image_url", "left").groupBy("qa_id").agg(
            F.array_sort(F.collect_list(F.when(F.col("image_status") == "ok", F.col("image_id")))).alias("image_ids"),
            F.array_sort(F.collect_set(F.when(F.col("image_status") == "ok", F.col("sha256")))).alias("image_sha256"),
            F.sum(F.when(F.col("image_status") != "ok", 1).otherwise(0)).alias("images_failed"),
        )
        urls = ctx.tables.read("urls").select(F.col("url_id").alias("page_id"), "hit_ids", "seed_ids")
        seeds = ctx.tables.read("seeds").select(F.col("seed_id").alias("first_seed"), "subject")
        rows = (
            batch.join(linked, "qa_id", "left").join(urls, "page_id", "left")
            .withColumn("image_ids", F.coalesce("image_ids", F.array().cast("array<string>")))
            .withColumn("image_sha256", F.coalesce("image_sha256", F.array().cast("array<string>")))
            .withColumn("images_failed", F.coalesce("images_failed", F.lit(0)))
            .withColumn("first_seed", F.element_at("seed_ids", 1))
            .join(seeds, "first_seed", "left")
        )
        cfg = ctx.config.validate_
        judged = rows.withColumn(
            "v", verdicts(cfg.min_question_chars, cfg.max_question_chars)("question", "answer", F.size("image_ids"), "images_failed")
        )
        # Keyed by content: the same problem with the same figures on two URLs is one row.
        normalized = F.lower(F.regexp_replace(F.trim("question"), r"\s+", " "))
        keyed = judged.withColumn("final_id", stable_id_col(normalized, F.array_join("image_sha256", ",")))
        first = Window.partitionBy("final_id").orderBy("qa_id")
        everyone = Window.partitionBy("final_id")
        return (
            keyed.withColumn("source_qa_ids", F.array_sort(F.collect_set("qa_id").over(everyone)))
            .withColumn("_n", F.row_number().over(first)).where("_n = 1")
            .select(
                "final_id", "qa_id", "source_qa_ids", "v.status", "v.reason", "question", "solution", "answer",
                F.concat(F.lit("page:"), F.col("pattern")).alias("answer_source"), "image_ids", "image_sha256",
                (F.size("image_ids") > 0).alias("has_images"), "subject", "page_id", "url",
                F.coalesce("hit_ids", F.array().cast("array<string>")).alias("hit_ids"),
                F.coalesce("seed_ids", F.array().cast("array<string>")).alias("seed_ids"),
            )
        )


STAGES = (ValidateQAs(),)

if __name__ == "__main__":
    sys.exit(main("validate_qas", STAGES))
