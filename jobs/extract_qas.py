"""Find question / solution pairs in rendered pages, into `candidate_qas`.

Two stages, one chosen when the pipeline is built: the rule-based engine (the default) and
`llm.engine: llm`, which sends each page's tree to a model.

    python -m jobs.extract_qas --conf conf/local.yaml
"""
from __future__ import annotations

import sys
from typing import Iterator

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from jobs.render_pages import readable_pages
from runtime.cli import main
from runtime.config import PipelineConfig
from runtime.context import Context
from runtime.keys import stable_id
from runtime.llm_replies import parse_choices
from runtime.llm_stage import LlmStage, request_schema
from runtime.stage import Stage
from schemas.candidate_qas import CandidateQA
from udfs.answers import final_answer
from udfs.extraction import PAGE_COLUMNS, extract_partitions, tree_text
from udfs.llm import build_request, load_prompt

REQUESTS = request_schema(T.StructField("url", T.StringType()), T.StructField("image_urls", T.ArrayType(T.StringType())))


def extract_requests(prompt, llm):
    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            rows = []
            for url_id, url, tree in zip(batch["url_id"], batch["url"], batch["tree"]):
                content, images = tree_text([dict(node) for node in tree])
                rows.append({"input_key": url_id, "url": url, "image_urls": images, **build_request(prompt, llm, url=url, content=content)})
            yield pd.DataFrame(rows, columns=REQUESTS.fieldNames())

    return run


def llm_pairs(engine: str):
    """Candidate rows from extraction replies; image numbers map back to the page's URLs."""

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            rows = []
            for url_id, url, images, response in zip(batch["input_key"], batch["url"], batch["image_urls"], batch["response"]):
                images = list(images)
                pick = lambda numbers: [images[n - 1] for n in numbers if 0 < n <= len(images)]
                for reply in parse_choices("extract", response)[:1]:
                    for pair in reply.pairs:
                        solution = None if (pair.solution or "").strip().lower() in ("", "not found") else pair.solution
                        rows.append(CandidateQA.row(
                            qa_id=stable_id(url_id, pair.question), page_id=url_id, url=url, question=pair.question,
                            solution=solution, answer=final_answer(solution or ""), question_images=pick(pair.question_images),
                            solution_images=pick(pair.solution_images), pattern="llm", engine=engine,
                        ))
            unique = list({row["qa_id"]: row for row in rows}.values())
            yield pd.DataFrame(unique, columns=CandidateQA.transform_schema().fieldNames())

    return run


class ExtractQAs(Stage):
    """Rendered pages in, candidate pairs out; the engines below differ in transform only."""

    name = "extract"
    inputs = ("pages",)
    output = CandidateQA

    def source(self, ctx: Context) -> DataFrame:
        return readable_pages(ctx).select(*PAGE_COLUMNS, F.col("url_id").alias("input_key"))


class RuleExtractQAs(ExtractQAs):
    """By rules: the anchors, answer keys and structures of udfs/extraction.py."""

    def transform(self, ctx: Context, batch: DataFrame) -> DataFrame:
        return batch.select(*PAGE_COLUMNS).mapInPandas(extract_partitions(), CandidateQA.transform_schema())


class LlmExtractQAs(LlmStage, ExtractQAs):
    """By a model that reads each page's tree as text."""

    def requests(self, ctx: Context, batch: DataFrame) -> DataFrame:
        llm = ctx.config.llm
        return batch.select("url_id", "url", "tree").mapInPandas(extract_requests(load_prompt(llm.prompts_dir, "extract"), llm), REQUESTS)

    def rows(self, ctx: Context, batch: DataFrame, answers: DataFrame) -> DataFrame:
        engine = f"llm:{ctx.config.llm.extract.model}"
        return answers.where(F.col("call_status") == "ok").select("input_key", "url", "image_urls", "response").mapInPandas(
            llm_pairs(engine), CandidateQA.transform_schema()
        )


def stages(config: PipelineConfig) -> tuple[Stage, ...]:
    return (LlmExtractQAs() if config.llm.engine == "llm" else RuleExtractQAs(),)


if __name__ == "__main__":
    sys.exit(main("extract_qas", stages))
