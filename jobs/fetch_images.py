"""Download and decode the images of rendered pages, each URL once, into `images`.

    python -m jobs.fetch_images --conf conf/local.yaml
"""
from __future__ import annotations

import sys

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from jobs.render_pages import readable_pages
from runtime.cli import main
from runtime.context import Context
from runtime.keys import stable_id_col
from runtime.stage import Stage
from runtime.tables import Tables
from schemas.images import TRANSIENT, ImageRecord
from udfs.images import fetch_partitions
from udfs.urls import host_of


class FetchImages(Stage):
    name = "images"
    inputs = ("pages",)
    output = ImageRecord
    transient = TRANSIENT
    input_key_column = "page_id"

    def max_attempts(self, ctx: Context) -> int:
        return ctx.config.images.max_attempts

    def source(self, ctx: Context) -> DataFrame:
        return readable_pages(ctx).select("url_id", "tree", F.col("url_id").alias("input_key"))

    def transform(self, ctx: Context, batch: DataFrame) -> DataFrame:
        refs = batch.select("url_id", F.explode("tree").alias("node")).where("node.kind = 'image' AND node.src IS NOT NULL")
        wanted = refs.groupBy(F.col("node.src").alias("url")).agg(F.min("url_id").alias("page_id"))
        wanted = wanted.withColumn("image_id", stable_id_col("url"))
        images = ctx.tables.read("images")
        settled = images.join(self.retryable(ctx, images), "image_id", "left_anti").select("image_id")
        new = wanted.join(settled, "image_id", "left_anti")
        fetched = new.select("image_id", "url", "page_id").repartition(ctx.config.images.partitions, host_of("url")).mapInPandas(
            fetch_partitions(ctx.config.images, ctx.config.network), ImageRecord.transform_schema()
        )
        # The same picture under another URL is stored once: the first row (earlier runs
        # first, then the smallest image_id) keeps the bytes, the others point at it.
        stored = ctx.tables.read("images").where("status = 'ok' AND duplicate_of IS NULL")
        stored = stored.groupBy("sha256").agg(F.min("image_id").alias("stored_id"))
        ok = F.col("status") == "ok"
        first = F.first("image_id").over(Window.partitionBy("sha256").orderBy("image_id"))
        return (
            fetched.withColumn("first_id", F.when(ok, first))
            .join(stored, "sha256", "left")
            .withColumn("duplicate_of", F.when(ok, F.coalesce("stored_id", F.when(F.col("first_id") != F.col("image_id"), F.col("first_id")))))
            .withColumn("content", F.when(F.col("duplicate_of").isNull(), F.col("content")))
            .select(*ImageRecord.transform_schema().fieldNames())
        )


def images_with_content(tables: Tables) -> DataFrame:
    """The images table with `content` on every ok row: a row that repeats a stored picture
    (`duplicate_of`) carries the stored row's bytes. Readers of image bytes go through here."""
    images = tables.read("images")
    stored = images.where(F.col("duplicate_of").isNull()).select(
        F.col("image_id").alias("duplicate_of"), F.col("content").alias("stored_content")
    )
    return (
        images.join(stored, "duplicate_of", "left")
        .withColumn("content", F.coalesce("content", "stored_content"))
        .drop("stored_content")
    )


STAGES = (FetchImages(),)

if __name__ == "__main__":
    sys.exit(main("fetch_images", STAGES))
