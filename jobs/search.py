"""Reverse-image search for every readable seed not searched yet, into `search_hits`.

    python -m jobs.search --conf conf/local.yaml
"""
from __future__ import annotations

import sys

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from runtime.cli import main
from runtime.context import Context
from runtime.stage import Stage
from schemas.search_hits import SearchHit
from udfs.search import local_search


class SearchSeeds(Stage):
    name = "search"
    inputs = ("seeds", "search_index")
    output = SearchHit

    def source(self, ctx: Context) -> DataFrame:
        seeds = ctx.tables.read("seeds").where((F.col("status") == "ok") & (F.col("round") == ctx.config.search.round))
        return seeds.select("seed_id", "phash", F.concat_ws(":", "seed_id", F.lit(ctx.config.search.provider)).alias("input_key"))

    def transform(self, ctx: Context, batch: DataFrame) -> DataFrame:
        cfg = ctx.config.search
        index = ctx.tables.read("search_index").select("image_url", "page_url", "phash").toPandas()
        return batch.select("seed_id", "phash").mapInPandas(
            local_search(index, cfg.top_k, cfg.max_distance, cfg.round), SearchHit.transform_schema()
        )


STAGES = (SearchSeeds(),)

if __name__ == "__main__":
    sys.exit(main("search", STAGES))
