"""Render every kept URL not rendered yet in Chromium, into `pages` (tree or status).

With `render.mode: auto` a page whose scripts cannot change it is rendered with scripts off and
read at load (`rendered_by: static`); the rest run their scripts until settled (`browser`).

A page that failed in passing (timeout, 5xx, not settled) is rendered again by later runs, up
to `render.max_attempts`. Pages are grouped by host into Spark tasks, so the per-host limits
(`per_host_concurrency`, `per_host_delay_s`, robots.txt Crawl-delay) hold across the cluster.

    python -m jobs.render_pages --conf conf/local.yaml
"""
from __future__ import annotations

import sys

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from runtime.cli import main
from runtime.context import Context
from runtime.stage import Stage
from schemas.pages import TRANSIENT, Page
from udfs.browser import render_partitions
from udfs.urls import host_of


class RenderPages(Stage):
    name = "pages"
    inputs = ("urls",)
    output = Page
    transient = TRANSIENT
    input_key_column = "url_id"

    def max_attempts(self, ctx: Context) -> int:
        return ctx.config.render.max_attempts

    def source(self, ctx: Context) -> DataFrame:
        urls = ctx.tables.read("urls").where(F.col("status") == "ok")
        return urls.select("url_id", "url", F.col("url_id").alias("input_key"))

    def transform(self, ctx: Context, batch: DataFrame) -> DataFrame:
        cfg = ctx.config.render
        return batch.select("url_id", "url").repartition(cfg.partitions, host_of("url")).mapInPandas(
            render_partitions(cfg, ctx.config.network), Page.transform_schema()
        )


def readable_pages(ctx: Context) -> DataFrame:
    """Pages whose tree is there to read: ok, or partial with no attempt left (what arrived)."""
    spent = ctx.config.render.max_attempts
    return ctx.tables.read("pages").where(f"status = 'ok' OR (status = 'partial' AND attempts >= {spent})")


STAGES = (RenderPages(),)

if __name__ == "__main__":
    sys.exit(main("render_pages", STAGES))
