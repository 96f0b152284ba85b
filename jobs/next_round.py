"""The next round's seeds: the images of QAs validated in round k become seeds of round k+1.

    python -m jobs.next_round --conf conf/local.yaml

Only rounds before `search.rounds` feed a next one. An image that is an earlier seed (same bytes)
is not added again; one within `seeds.near_duplicate_distance` bits of an earlier seed is kept as
`near_duplicate`; beyond `search.max_seeds_per_round` new seeds a round, the rest are `over_cap`.
Each seed keeps the image's web URL (`image_url`), which a search by URL needs.
"""
from __future__ import annotations

import sys

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from jobs.ingest_seeds import mark_near_duplicates
from runtime.cli import main
from runtime.context import Context
from runtime.stage import Stage
from schemas.seeds import Seed


class NextRoundSeeds(Stage):
    name = "next_round"
    inputs = ("valid_qas", "images", "seeds")
    output = Seed

    def source(self, ctx: Context) -> DataFrame:
        valid = ctx.tables.read("valid_qas").where((F.col("status") == "ok") & (F.col("round") < ctx.config.search.rounds))
        used = valid.select("final_id", "subject", (F.col("round") + 1).alias("round"), F.explode("image_sha256").alias("sha256"))
        images = ctx.tables.read("images").where((F.col("status") == "ok") & F.col("content").isNotNull()).select(
            "sha256", F.col("url").alias("image_url"), "width", "height", "format", "phash", "content"
        )
        # An image in several QAs seeds the earliest round once.
        first = Window.partitionBy("sha256").orderBy("round", "final_id")
        return (
            used.join(images, "sha256").withColumn("_n", F.row_number().over(first)).where("_n = 1").drop("_n")
            .withColumn("input_key", F.col("sha256"))
        )

    def transform(self, ctx: Context, batch: DataFrame) -> DataFrame:
        earlier = ctx.tables.read("seeds").select("seed_id")
        candidates = batch.join(earlier, batch.sha256 == earlier.seed_id, "left_anti").select(
            F.col("sha256").alias("seed_id"), F.concat(F.lit("qa:"), "final_id").alias("source"), "subject",
            F.col("round").cast("long").alias("round"), F.lit("ok").alias("status"), F.lit(None).cast("string").alias("reason"),
            "width", "height", "format", "phash", "content", "image_url", F.lit(None).cast("string").alias("published_uri"),
            F.lit(None).cast("timestamp").alias("image_url_expires_at"), F.lit(None).cast("string").alias("publish_error"),
        )
        marked = mark_near_duplicates(ctx, self.name, candidates, ctx.config.seeds.near_duplicate_distance)
        return self.capped(ctx, marked)

    def capped(self, ctx: Context, seeds: DataFrame) -> DataFrame:
        """Past the round's cap (counting the seeds it already holds), new seeds are `over_cap`."""
        cap = ctx.config.search.max_seeds_per_round
        held = ctx.tables.read("seeds").where("status = 'ok'").groupBy("round").agg(F.count("*").alias("held"))
        order = Window.partitionBy("round").orderBy(F.col("status") != "ok", "seed_id")
        ranked = (
            seeds.join(held, "round", "left")
            .withColumn("_n", F.when(F.col("status") == "ok", F.row_number().over(order)))
            .withColumn("_over", (F.col("status") == "ok") & (F.coalesce("held", F.lit(0)) + F.col("_n") > cap))
        )
        return ranked.select(
            *[
                F.when(F.col("_over"), F.lit("over_cap")).otherwise(F.col("status")).alias("status") if name == "status"
                else F.when(F.col("_over"), F.concat(F.lit("round "), F.col("round").cast("string"), F.lit(f" holds its {cap} seeds")))
                .otherwise(F.col("reason")).alias("reason") if name == "reason"
                else F.when(F.col("_over"), F.lit(None).cast("binary")).otherwise(F.col("content")).alias("content") if name == "content"
                else F.col(name)
                for name in seeds.columns
            ]
        )


STAGES = (NextRoundSeeds(),)

if __name__ == "__main__":
    sys.exit(main("next_round", STAGES))
