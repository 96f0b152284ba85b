"""Settle each QA's final answer against the web page's answer: `aligned_qas`.

With the rule-based engine the page's own answer is the answer. With the LLM engine the
majority's synthesized answer is compared with the page's: aligned keeps the synthesized
answer, misaligned takes the page's, no page answer keeps the synthesized one. Answers
that parse are compared symbolically; the LLM judge compares the rest.

    python -m jobs.align_answers --conf conf/local.yaml
"""
from __future__ import annotations

import sys
from typing import Iterator

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from runtime import judging
from runtime.cli import main
from runtime.config import PipelineConfig
from runtime.context import Context
from runtime.llm_replies import parse_choices
from runtime.stage import Stage
from schemas.aligned_qas import AlignedQA
from udfs.llm import build_request, load_prompt
from udfs.matching import equivalent

OUTPUT = AlignedQA.transform_schema()
CARRIED = ("final_id", "qa_id", "source_qa_ids", "question", "image_ids", "image_sha256", "has_images", "subject", "page_id", "url", "hit_ids", "seed_ids",
           "round")


def _carried(row, align_by: str | None) -> dict:
    """The columns a final row takes over from its valid QA, the page's answer and how it was settled."""
    carried = {name: getattr(row, name) for name in CARRIED}
    for name in ("source_qa_ids", "image_ids", "image_sha256", "hit_ids", "seed_ids"):
        carried[name] = list(carried[name])
    carried["round"] = int(carried["round"])
    decided_by = f"consistency:{row.consistency_by}" + (f";align:{align_by}" if align_by else "")
    return {**carried, "web_answer": row.answer, "decided_by": decided_by}


def final_row(row, aligned: bool | None, align_by: str | None, request_id=None) -> dict:
    """aligned: True / False from a comparison, None when the page states no answer."""
    common = {**_carried(row, align_by), "answer_ids": list(row.agreeing_answer_ids)}
    if aligned is False:
        return AlignedQA.row(**common, status="ok", answer=row.answer, solution=row.solution, answer_source="web:misaligned")
    source = "synthesized:aligned" if aligned else "synthesized:no_web_answer"
    return AlignedQA.row(**common, status="ok", answer=row.majority_answer, solution=row.majority_text, answer_source=source)


def rejected_row(row, reason: str, align_by: str | None = None) -> dict:
    return AlignedQA.row(**_carried(row, align_by), status="rejected", reason=reason, answer_source="none")


def first_pass(prompt, llm):
    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            rows = []
            for row in batch.itertuples(index=False):
                if row.consistency_status != "ok":
                    rows.append({"input_key": row.input_key, **rejected_row(row, row.consistency_reason)})
                    continue
                if not row.answer:
                    rows.append({"input_key": row.input_key, **final_row(row, None, None)})
                    continue
                same = equivalent(row.majority_answer, row.answer)
                if same is not None:
                    rows.append({"input_key": row.input_key, **final_row(row, same, "symbolic")})
                    continue
                request = build_request(prompt, llm, question=row.question, synthesized=row.majority_answer, web=row.answer)
                rows.append(judging.asking_row(OUTPUT, row.input_key, request))
            yield judging.first_pass_frame(rows, OUTPUT)

    return run


def second_pass(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    for batch in batches:
        rows = []
        for row in batch.itertuples(index=False):
            replies = parse_choices("align", row.response) if row.judge_status == "ok" else []
            if replies:
                rows.append(final_row(row, replies[0].aligned, "llm_judge", row.request_id))
            else:
                rows.append(rejected_row(row, f"alignment judge answer unusable: {row.judge_reason}", "llm_judge"))
        yield pd.DataFrame(rows, columns=OUTPUT.fieldNames())


class AlignAnswers(Stage):
    """Valid QAs in, final answers out; the engines below differ in source and transform."""

    name = "align"
    inputs = ("valid_qas", "consistent_qas")
    output = AlignedQA

    def valid(self, ctx: Context) -> DataFrame:
        return ctx.tables.read("valid_qas").where(F.col("status") == "ok").withColumn("input_key", F.col("final_id"))


class PageAnswers(AlignAnswers):
    """The rule-based engine: the page's own answer is the answer."""

    def source(self, ctx: Context) -> DataFrame:
        return self.valid(ctx)

    def transform(self, ctx: Context, batch: DataFrame) -> DataFrame:
        return batch.select(
            *CARRIED[:3], F.lit("ok").alias("status"), F.lit(None).cast("string").alias("reason"), "question", "solution", "answer",
            F.concat(F.lit("page:"), "pattern").alias("answer_source"), F.col("answer").alias("web_answer"),
            F.lit(None).cast("string").alias("decided_by"), F.array().cast("array<string>").alias("answer_ids"), *CARRIED[4:],
        )


class LlmAlignAnswers(judging.JudgedStage, AlignAnswers):
    """The majority's synthesized answer against the page's: symbolically, else by the judge."""

    second_pass = staticmethod(second_pass)

    def source(self, ctx: Context) -> DataFrame:
        consistency = ctx.tables.read("consistent_qas").select(
            "final_id", F.col("status").alias("consistency_status"), F.col("reason").alias("consistency_reason"),
            "majority_answer", "majority_text", "agreeing_answer_ids", F.col("decided_by").alias("consistency_by"),
        )
        return self.valid(ctx).join(consistency, "final_id")

    def judged_rows(self, batch: DataFrame) -> DataFrame:
        return batch.select(
            "input_key", *CARRIED, "solution", "answer", "consistency_status", "consistency_reason", "majority_answer",
            "majority_text", "agreeing_answer_ids", "consistency_by",
        )

    def first_pass(self, ctx: Context) -> judging.Pass:
        llm = ctx.config.llm
        return first_pass(load_prompt(llm.prompts_dir, "align"), llm)


def stages(config: PipelineConfig) -> tuple[Stage, ...]:
    return (LlmAlignAnswers() if config.llm.engine == "llm" else PageAnswers(),)


if __name__ == "__main__":
    sys.exit(main("align_answers", stages))
