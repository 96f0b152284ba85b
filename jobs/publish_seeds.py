"""Seed images into object storage, each seed's `image_url` a time-limited signed URL to its copy.

    python -m jobs.publish_seeds --conf conf/cluster.yaml --set seeds.publish.uri=s3://bucket/webmine-seeds

Google Lens (SerpAPI) searches by URL: a seed read from disk has none until it is published. Seeds
with a URL of their own (a manifest's `image_url`, a round-2 seed's web address) are left as they
are. A published URL with less than `seeds.publish.renew_before_s` left (or expired) is signed
anew. A failed upload keeps its reason in `publish_error` and is tried again by the next run.
"""
from __future__ import annotations

import sys

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from runtime.cli import main
from runtime.context import Context
from runtime.stage import Stage
from schemas.seeds import Seed
from udfs.storage import publish_partitions, store

PUBLISHED = ("image_url", "published_uri", "image_url_expires_at", "publish_error", "run_id")


class PublishSeeds(Stage):
    name = "publish"
    inputs = ("seeds",)
    output = Seed
    update = {name: f"s.{name}" for name in PUBLISHED}
    skippable = False  # a URL comes due for renewal with time alone

    def source(self, ctx: Context) -> DataFrame:
        config = ctx.config.seeds.publish
        if config.uri is None:
            raise ValueError("seeds.publish.uri is not set: name the object storage to publish seeds to (s3://, gs://, az://)")
        store(config)  # a store that cannot sign stops here, named
        renew_by = F.current_timestamp() + F.expr(f"INTERVAL {config.renew_before_s} SECONDS")
        due = F.col("image_url").isNull() | (F.col("image_url_expires_at").isNotNull() & (F.col("image_url_expires_at") < renew_by))
        seeds = ctx.tables.read("seeds").where((F.col("status") == "ok") & F.col("content").isNotNull() & due)
        # The key names the URL's expiry, so each renewal is new input.
        return seeds.withColumn("input_key", F.concat_ws(":", "seed_id", F.coalesce(F.col("image_url_expires_at").cast("string"), F.lit("new"))))

    def transform(self, ctx: Context, batch: DataFrame) -> DataFrame:
        config = ctx.config.seeds.publish
        return batch.select(*Seed.transform_schema().fieldNames()).repartition(config.partitions, "seed_id").mapInPandas(
            publish_partitions(config), Seed.transform_schema())

    def completed(self, ctx: Context, batch: DataFrame) -> DataFrame:
        """Keys whose seed now has a URL: a failed upload is tried again by a later run."""
        published = ctx.tables.read("seeds").where(F.col("publish_error").isNull() & F.col("image_url").isNotNull()).select("seed_id")
        return batch.join(published, "seed_id").select("input_key")


STAGES = (PublishSeeds(),)

if __name__ == "__main__":
    sys.exit(main("publish_seeds", STAGES))
