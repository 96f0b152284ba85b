"""Validate candidate QAs, attach images and lineage, merge copies: `valid_qas`.

Two stages, one chosen when the pipeline is built: by rule (the default) or by an LLM that
also picks the relevant images (`llm.engine: llm`). Both key and merge their rows the same way.

    python -m jobs.validate_qas --conf conf/local.yaml
"""
from __future__ import annotations

import sys
from typing import Iterator

import pandas as pd
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from jobs.fetch_images import images_with_content
from runtime.cli import main
from runtime.config import PipelineConfig
from runtime.context import Context
from runtime.keys import stable_id_col
from runtime.llm_replies import parse_choices
from runtime.llm_stage import LlmStage, request_schema
from runtime.stage import Stage
from schemas.valid_qas import ValidQA
from udfs.answers import validate_pair
from udfs.extraction import ENGINE
from udfs.llm import build_request, image_data_url, load_prompt

VERDICT = T.StructType([T.StructField("status", T.StringType()), T.StructField("reason", T.StringType())])
REQUESTS = request_schema()
LLM_VERDICT = T.StructType([
    T.StructField("request_id", T.StringType()), T.StructField("status", T.StringType()), T.StructField("reason", T.StringType()),
    T.StructField("relevant", T.ArrayType(T.LongType())),
])


def rule_verdicts(min_chars: int, max_chars: int):
    @F.pandas_udf(VERDICT)
    def judge(question: pd.Series, solution: pd.Series, ok: pd.Series, failed: pd.Series) -> pd.DataFrame:
        out = [
            validate_pair(q, s, int(o), int(f), min_chars, max_chars) for q, s, o, f in zip(question, solution, ok, failed)
        ]
        return pd.DataFrame(out, columns=["status", "reason"])

    return judge


def validate_requests(prompt, llm):
    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            rows = []
            for qa_id, question, contents in zip(batch["qa_id"], batch["question"], batch["contents"]):
                images = [image_data_url(c, llm.image_max_side) for c in contents]
                listing = ", ".join(f"[image {i}]" for i in range(1, len(images) + 1)) or "none"
                rows.append({"input_key": qa_id, **build_request(prompt, llm, images, question=question, image_list=listing)})
            yield pd.DataFrame(rows, columns=REQUESTS.fieldNames())

    return run


def llm_verdicts(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    for batch in batches:
        rows = []
        for request_id, status, reason, response in zip(batch["request_id"], batch["call_status"], batch["call_reason"], batch["response"]):
            replies = parse_choices("validate", response) if status == "ok" else []
            if not replies:
                rows.append((request_id, "rejected", f"validation answer unusable: {reason}", []))
            else:
                reply = replies[0]
                rows.append((request_id, "ok" if reply.valid else "rejected", None if reply.valid else reply.reason or "not answerable", reply.relevant_images))
        yield pd.DataFrame(rows, columns=LLM_VERDICT.fieldNames())


class ValidateQAs(Stage):
    """Candidates in, valid QAs out; the engines below differ in the verdict (`judged`) only."""

    name = "validate"
    inputs = ("candidate_qas", "images", "urls", "seeds")
    output = ValidQA
    # A copy of a QA found on another URL is recorded on the kept row.
    update = {"source_qa_ids": "array_sort(array_union(t.source_qa_ids, s.source_qa_ids))"}
    update_when = "size(array_except(s.source_qa_ids, t.source_qa_ids)) > 0"

    def source(self, ctx: Context) -> DataFrame:
        return ctx.tables.read("candidate_qas").withColumn("input_key", F.col("qa_id"))


def linked(ctx: Context, batch: DataFrame) -> DataFrame:
    """Candidates with their readable images (in page order), lineage and subject."""
    images = images_with_content(ctx.tables).select(F.col("url").alias("image_url"), "image_id", F.col("status").alias("image_status"), "sha256", "content")
    refs = batch.select("qa_id", F.posexplode(F.concat("question_images", "solution_images")).alias("pos", "image_url"))
    ok = F.col("image_status") == "ok"
    linked = refs.join(images, "image_url", "left").groupBy("qa_id").agg(
        F.sort_array(F.collect_list(F.when(ok, F.struct("pos", "image_id", "sha256", "content")))).alias("files"),
        F.sum(F.when(~ok | F.col("image_status").isNull(), 1).otherwise(0)).alias("images_failed"),
    )
    urls = ctx.tables.read("urls").select(F.col("url_id").alias("page_id"), "hit_ids", "seed_ids", "round")
    seeds = ctx.tables.read("seeds").select(F.col("seed_id").alias("first_seed"), "subject")
    return (
        batch.join(linked, "qa_id", "left").join(urls, "page_id", "left")
        .withColumn("files", F.coalesce("files", F.array().cast("array<struct<pos:int,image_id:string,sha256:string,content:binary>>")))
        .withColumn("images_failed", F.coalesce("images_failed", F.lit(0)))
        .withColumn("first_seed", F.element_at("seed_ids", 1))
        .join(seeds, "first_seed", "left")
    )


def keyed(judged: DataFrame) -> DataFrame:
    """Valid-QA rows from linked candidates with a verdict `v` (status, reason) and validated_by."""
    judged = judged.withColumn("image_ids", F.transform("files", lambda f: f["image_id"])).withColumn(
        "image_sha256", F.array_sort(F.array_distinct(F.transform("files", lambda f: f["sha256"])))
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
            "final_id", "qa_id", "source_qa_ids", "v.status", "v.reason", "question", "solution", "answer", "pattern",
            "validated_by", "image_ids", "image_sha256", (F.size("image_ids") > 0).alias("has_images"), "subject",
            "page_id", "url", F.coalesce("hit_ids", F.array().cast("array<string>")).alias("hit_ids"),
            F.coalesce("seed_ids", F.array().cast("array<string>")).alias("seed_ids"),
            F.coalesce("round", F.lit(1)).cast("long").alias("round"),
        )
    )


class RuleValidateQAs(ValidateQAs):
    """By rule: length bounds, a stated solution, readable images (udfs/answers.py)."""

    def transform(self, ctx: Context, batch: DataFrame) -> DataFrame:
        cfg = ctx.config.validate_
        verdicts = rule_verdicts(cfg.min_question_chars, cfg.max_question_chars)
        return keyed(linked(ctx, batch).withColumn("v", verdicts("question", "solution", F.size("files"), "images_failed")).withColumn(
            "validated_by", F.lit(ENGINE)
        ))


class LlmValidateQAs(LlmStage, ValidateQAs):
    """By a model that sees the question with its images and keeps the relevant ones."""

    def requests(self, ctx: Context, batch: DataFrame) -> DataFrame:
        llm = ctx.config.llm
        builder = validate_requests(load_prompt(llm.prompts_dir, "validate"), llm)
        return linked(ctx, batch).select("qa_id", "question", F.col("files.content").alias("contents")).mapInPandas(builder, REQUESTS)

    def rows(self, ctx: Context, batch: DataFrame, answers: DataFrame) -> DataFrame:
        verdicts = answers.select("request_id", "call_status", "call_reason", "response").mapInPandas(llm_verdicts, LLM_VERDICT)
        judged = (
            linked(ctx, batch).join(answers.select(F.col("input_key").alias("qa_id"), "request_id"), "qa_id")
            .join(verdicts, "request_id")
            .withColumn("v", F.struct("status", "reason"))
            # keep the images the model found relevant (numbered from 1 as they were sent)
            .withColumn("files", F.filter("files", lambda f, i: F.array_contains("relevant", i + 1)))
            .drop("status", "reason")
            .withColumn("validated_by", F.lit(f"llm:{ctx.config.llm.validate_.model}"))
        )
        return keyed(judged)


def stages(config: PipelineConfig) -> tuple[Stage, ...]:
    return (LlmValidateQAs() if config.llm.engine == "llm" else RuleValidateQAs(),)


if __name__ == "__main__":
    sys.exit(main("validate_qas", stages))
