"""Write N candidate answers for every valid QA, into `answers` (`llm.engine: llm` only).

One request per question asks for N choices, so the question and its images are paid for
once (an endpoint that returns fewer choices is asked again for the rest). With `llm.synthesis_mode: batch` the requests go through the Batch API at half the
price; a later run collects the results.

    python -m jobs.synthesize_answers --conf conf/llm.yaml
"""
from __future__ import annotations

import sys
from typing import Iterator

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.fetch_images import images_with_content
from runtime.cli import main
from runtime.context import Context
from runtime.llm_replies import parse_choices
from runtime.llm_stage import LlmStage, request_schema
from schemas.answers import Answer
from udfs.llm import build_request, image_data_url, load_prompt

REQUESTS = request_schema()


def synthesis_requests(prompt, llm):
    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        n, side = llm.answers_per_question, llm.image_max_side
        for batch in batches:
            rows = [
                {"input_key": final_id, **build_request(prompt, llm, [image_data_url(c, side) for c in contents], n, question=question)}
                for final_id, question, contents in zip(batch["final_id"], batch["question"], batch["contents"])
            ]
            yield pd.DataFrame(rows, columns=REQUESTS.fieldNames())

    return run


def answer_rows(n: int):
    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            rows = []
            for final_id, request_id, status, reason, response in zip(
                    batch["input_key"], batch["request_id"], batch["call_status"], batch["call_reason"], batch["response"]):
                replies = parse_choices("synthesize", response) if status == "ok" else []
                for k in range(n):
                    base = {"answer_id": f"{final_id}:{k}", "final_id": final_id, "k": k, "request_id": request_id}
                    if k < len(replies):
                        rows.append(Answer.row(**base, status="ok", text=replies[k].text, short_answer=replies[k].short_answer))
                    else:
                        rows.append(Answer.row(**base, status="failed", reason=reason or "fewer choices than asked for"))
            yield pd.DataFrame(rows, columns=Answer.transform_schema().fieldNames())

    return run


class SynthesizeAnswers(LlmStage):
    name = "synthesize"
    inputs = ("valid_qas", "images")
    output = Answer

    def source(self, ctx: Context) -> DataFrame:
        return ctx.tables.read("valid_qas").where(F.col("status") == "ok").withColumn("input_key", F.col("final_id"))

    def requests(self, ctx: Context, batch: DataFrame) -> DataFrame:
        llm = ctx.config.llm
        images = images_with_content(ctx.tables).select("image_id", "content")
        with_images = (
            batch.select("final_id", "question", F.posexplode_outer("image_ids").alias("pos", "image_id"))
            .join(images, "image_id", "left")
            .groupBy("final_id", "question")
            .agg(F.sort_array(F.collect_list(F.when(F.col("content").isNotNull(), F.struct("pos", "content")))).alias("files"))
            .select("final_id", "question", F.col("files.content").alias("contents"))
        )
        return with_images.mapInPandas(synthesis_requests(load_prompt(llm.prompts_dir, "synthesize"), llm), REQUESTS)

    def batched(self, ctx: Context) -> bool:
        return ctx.config.llm.synthesis_mode == "batch"

    def rows(self, ctx: Context, batch: DataFrame, answers: DataFrame) -> DataFrame:
        return answers.select("input_key", "request_id", "call_status", "call_reason", "response").mapInPandas(
            answer_rows(ctx.config.llm.answers_per_question), Answer.transform_schema()
        )


STAGES = (SynthesizeAnswers(),)

if __name__ == "__main__":
    sys.exit(main("synthesize_answers", STAGES))
