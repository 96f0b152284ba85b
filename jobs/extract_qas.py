"""Find question / solution pairs in rendered pages, into `candidate_qas`.

    python -m jobs.extract_qas --conf conf/local.yaml
"""
from __future__ import annotations

import sys

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from runtime.cli import main
from runtime.context import Context
from runtime.stage import Stage
from schemas.candidate_qas import CandidateQA
from udfs.extraction import extract_partitions


class ExtractQAs(Stage):
    name = "extract"
    inputs = ("pages",)
    output = CandidateQA

    def source(self, ctx: Context) -> DataFrame:
        pages = ctx.tables.read("pages").where(F.col("status") == "ok")
        return pages.select("url_id", "url", "tree", F.col("url_id").alias("input_key"))

    def transform(self, ctx: Context, batch: DataFrame) -> DataFrame:
        return batch.select("url_id", "url", "tree").mapInPandas(extract_partitions(), CandidateQA.transform_schema())


STAGES = (ExtractQAs(),)

if __name__ == "__main__":
    sys.exit(main("extract_qas", STAGES))
