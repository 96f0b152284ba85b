"""Write N candidate answers for every valid QA, into `answers` (`llm.engine: llm` only).

One request per question asks for N choices, so the question and its images are paid for
once. With `llm.synthesis_mode: batch` the requests go through the Batch API at half the
price; a later run collects the results.

    python -m jobs.synthesize_answers --conf conf/llm.yaml
"""
from __future__ import annotations

import sys
from typing import Iterator

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from jobs.fetch_images import images_with_content
from runtime.cli import main
from runtime.context import Context
from runtime.ledger import REQUEST_COLUMNS, final_keys, resolve, resolve_batch
from runtime.stage import Stage
from schemas.answers import Answer
from udfs.llm import build_request, image_data_url, load_prompt, parse_choices

REQUESTS = T.StructType([T.StructField("input_key", T.StringType())] + [T.StructField(n, T.StringType()) for n in REQUEST_COLUMNS])


def synthesis_requests(prompt, settings, n: int, max_side: int):
    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            rows = [
                {"input_key": final_id, **build_request(prompt, settings, [image_data_url(c, max_side) for c in contents], n, question=question)}
                for final_id, question, contents in zip(batch["final_id"], batch["question"], batch["contents"])
            ]
            yield pd.DataFrame(rows, columns=REQUESTS.fieldNames())

    return run


def answer_rows(n: int):
    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            rows = []
            for final_id, request_id, status, reason, response in zip(batch["input_key"], batch["request_id"], batch["status"], batch["reason"], batch["response"]):
                replies = parse_choices("synthesize", response) if status == "ok" else []
                for k in range(n):
                    base = {"answer_id": f"{final_id}:{k}", "final_id": final_id, "k": k, "request_id": request_id}
                    if k < len(replies):
                        rows.append(Answer.row(**base, status="ok", text=replies[k].text, short_answer=replies[k].short_answer))
                    else:
                        rows.append(Answer.row(**base, status="failed", reason=reason or "fewer choices than asked for"))
            yield pd.DataFrame(rows, columns=Answer.transform_schema().fieldNames())

    return run


class SynthesizeAnswers(Stage):
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
        builder = synthesis_requests(load_prompt(llm.prompts_dir, "synthesize"), llm.synthesize, llm.answers_per_question, llm.image_max_side)
        return with_images.mapInPandas(builder, REQUESTS)

    def transform(self, ctx: Context, batch: DataFrame) -> DataFrame:
        requests = self.requests(ctx, batch)
        batched = ctx.config.llm.synthesis_mode == "batch"
        answered = (resolve_batch if batched else resolve)(ctx, self.name, requests)
        if batched:  # questions whose batch has not come back yet get no rows this run
            answered = answered.where(F.col("status").isin("ok", "invalid"))
        rows = requests.select("input_key", "request_id").join(answered.select("request_id", "status", "reason", "response"), "request_id")
        return rows.mapInPandas(answer_rows(ctx.config.llm.answers_per_question), Answer.transform_schema())

    def completed(self, ctx: Context, batch: DataFrame) -> DataFrame | None:
        return final_keys(ctx, self.requests(ctx, batch))


STAGES = (SynthesizeAnswers(),)

if __name__ == "__main__":
    sys.exit(main("synthesize_answers", STAGES))
