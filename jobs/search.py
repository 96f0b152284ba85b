"""Reverse-image search for every readable seed and every configured provider, into `search_hits`.

    python -m jobs.search --conf conf/local.yaml [--set search.providers=[local,serpapi]]

Each (seed, provider, round) is asked once: every answer is kept in `search_responses` (the
local index's too, as a count), hits are read from there, and a failed query (429 after its
retries, 5xx, timeout) leaves its seed pending for a later run.
"""
from __future__ import annotations

import sys

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from runtime.cli import main
from runtime.context import Context
from runtime.keys import stable_id_col
from runtime.stage import Stage
from schemas.search_hits import SearchHit
from schemas.search_responses import SearchResponse
from udfs.providers import api_key, query_partitions, response_hits
from udfs.search import PROVIDER_LOCAL, local_hits

FINAL = ("ok", "empty", "skipped")
# A better answer replaces a failed one; a final answer is never replaced.
UPDATE_WHEN = "t.status = 'failed'"


def response_id() -> F.Column:
    return stable_id_col("seed_id", "provider", F.col("round").cast("string"))


class SearchSeeds(Stage):
    name = "search"
    inputs = ("seeds", "search_index", "search_responses")
    output = SearchHit

    def source(self, ctx: Context) -> DataFrame:
        seeds = ctx.tables.read("seeds").where(F.col("status") == "ok")
        providers = ctx.spark.createDataFrame([(p,) for p in ctx.config.search.providers], "provider string")
        return seeds.select("seed_id", "round", "phash", "image_url", "content").crossJoin(providers).withColumn(
            "input_key", F.concat_ws(":", "seed_id", "provider", F.col("round").cast("string"))
        )

    def transform(self, ctx: Context, batch: DataFrame) -> DataFrame:
        search = ctx.config.search
        hits = []
        if PROVIDER_LOCAL in search.providers:
            hits.append(self.local(ctx, batch.where(F.col("provider") == PROVIDER_LOCAL)))
        remote = [p for p in search.providers if p != PROVIDER_LOCAL]
        if remote:
            responses = self.resolve(ctx, batch.where(F.col("provider").isin(*remote)))
            hits.append(responses.where("status = 'ok'").select("seed_id", "provider", "round", "response").mapInPandas(
                response_hits(search), SearchHit.transform_schema()))
        out = hits[0]
        for more in hits[1:]:
            out = out.unionByName(more)
        return out

    def local(self, ctx: Context, seeds: DataFrame) -> DataFrame:
        """The local index's hits, fixed on disk, and a response row per seed that counts them."""
        index = ctx.tables.read("search_index")
        hits = ctx.tables.stage_input(f"{self.name}.local", local_hits(seeds, index, ctx.config.search))
        counts = hits.groupBy("seed_id").agg(F.count("*").alias("results"))
        responses = seeds.select("seed_id", "provider", "round").join(counts, "seed_id", "left").select(
            response_id().alias("response_id"), "seed_id", "provider", F.col("round").cast("long").alias("round"),
            F.when(F.col("results").isNull(), "empty").otherwise("ok").alias("status"),
            F.when(F.col("results").isNull(), f"no indexed image within {ctx.config.search.max_distance} bits").alias("reason"),
            F.lit(None).cast("long").alias("http_status"), F.lit(0).cast("long").alias("attempts"), F.lit(0).cast("long").alias("latency_ms"),
            F.coalesce("results", F.lit(0)).cast("long").alias("results"), F.lit(None).cast("string").alias("response"),
        )
        self._merge(ctx, responses, "local")
        return hits

    def resolve(self, ctx: Context, wanted: DataFrame) -> DataFrame:
        """Responses for every (seed, remote provider) of the batch, asking only those without a final one."""
        wanted = wanted.withColumn("response_id", response_id())
        final = ctx.tables.read("search_responses").where(F.col("status").isin(*FINAL)).select("response_id")
        pending = wanted.join(final, "response_id", "left_anti")
        if pending.limit(1).count():
            search = ctx.config.search
            for provider in {r["provider"] for r in pending.select("provider").distinct().collect()}:
                api_key(search.remote(provider), provider)  # fail here, naming the variable, rather than in every task
            partitions = max(search.remote(p).partitions for p in search.providers if p != PROVIDER_LOCAL)
            answered = pending.select("seed_id", "provider", "round", "image_url", "content").repartition(partitions, "seed_id").mapInPandas(
                query_partitions(search, ctx.config.network), SearchResponse.transform_schema()
            )
            self._merge(ctx, answered, "remote")
        return ctx.tables.read("search_responses").join(wanted.select("response_id"), "response_id")

    def _merge(self, ctx: Context, responses: DataFrame, part: str) -> None:
        staged = ctx.tables.stage_rows(f"{self.name}.{part}.responses", responses.withColumn("run_id", F.lit(ctx.run_id)), SearchResponse)
        ctx.tables.merge("search_responses", staged, {n: f"s.{n}" for n in staged.columns}, UPDATE_WHEN)

    def completed(self, ctx: Context, batch: DataFrame) -> DataFrame | None:
        """Local keys, and remote keys whose response is final: a failed query is asked again later."""
        final = ctx.tables.read("search_responses").where(F.col("status").isin(*FINAL)).select("response_id")
        remote_done = batch.where(F.col("provider") != PROVIDER_LOCAL).withColumn("response_id", response_id()).join(final, "response_id")
        return batch.where(F.col("provider") == PROVIDER_LOCAL).select("input_key").unionByName(remote_done.select("input_key"))


STAGES = (SearchSeeds(),)

if __name__ == "__main__":
    sys.exit(main("search", STAGES))
