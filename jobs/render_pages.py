"""Render every kept URL not rendered yet in Chromium, into `pages` (tree or status).

    python -m jobs.render_pages --conf conf/local.yaml
"""
from __future__ import annotations

import sys

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from runtime.cli import main
from runtime.context import Context
from runtime.stage import Stage
from schemas.pages import Page
from udfs.browser import render_partitions


class RenderPages(Stage):
    name = "pages"
    inputs = ("urls",)
    output = Page

    def source(self, ctx: Context) -> DataFrame:
        urls = ctx.tables.read("urls").where(F.col("status") == "ok")
        return urls.select("url_id", "url", F.col("url_id").alias("input_key"))

    def transform(self, ctx: Context, batch: DataFrame) -> DataFrame:
        cfg = ctx.config.render
        return batch.select("url_id", "url").repartition(cfg.partitions, "url_id").mapInPandas(
            render_partitions(cfg, ctx.config.network), Page.transform_schema()
        )


STAGES = (RenderPages(),)

if __name__ == "__main__":
    sys.exit(main("render_pages", STAGES))
