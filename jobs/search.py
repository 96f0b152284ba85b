"""Reverse-image search for every readable seed and every configured provider, into `search_hits`.

    python -m jobs.search --conf conf/local.yaml [--set search.providers=[local,serpapi]]

Each (seed, provider, round) is asked once: every answer is kept in `search_responses` (the
local index's too, as a count), hits are read from there, and a failed query (429 after its
retries, 5xx, timeout) leaves its seed pending for a later run. The local index grows: when it
holds generations a seed has not been searched against, the seed is searched again against
those only. Remote queries cost `search.<provider>.price_per_request_usd`; once
`search.max_spend_usd` is spent, the rest are `skipped` rows that a run with a larger budget asks.
"""
from __future__ import annotations

import sys

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from runtime.cli import main
from runtime.context import Context
from runtime.keys import stable_id_col
from runtime.stage import Stage
from schemas.search_hits import SearchHit
from schemas.search_responses import SearchResponse
from udfs.providers import PROVIDERS, api_key, query_partitions, response_hits
from udfs.search import PROVIDER_LOCAL, index_generation, local_hits_since

ANSWERED = ("ok", "empty")
BUDGET_REASON = "budget:"  # the start of the reason of a query skipped for search.max_spend_usd
# An answer replaces a failed or skipped row; an answer is never replaced.
UPDATE_WHEN = "t.status NOT IN ('ok', 'empty')"
LOCAL_GENERATION = r":g(\d+)$"  # the index generation a local input key names


def response_id() -> F.Column:
    return stable_id_col("seed_id", "provider", F.col("round").cast("string"))


def response_rows(df: DataFrame, status: F.Column, reason: F.Column, results: F.Column | None = None,
                  generation: F.Column | None = None) -> DataFrame:
    """search_responses rows, less run_id, for (seed_id, provider, round) rows answered without a call."""
    return df.select(
        response_id().alias("response_id"), "seed_id", "provider", F.col("round").cast("long").alias("round"), status.alias("status"),
        reason.cast("string").alias("reason"), F.lit(None).cast("long").alias("http_status"), F.lit(0).cast("long").alias("attempts"),
        F.lit(0).cast("long").alias("latency_ms"), (results if results is not None else F.lit(0)).cast("long").alias("results"),
        F.lit(None).cast("string").alias("response"), F.lit(0.0).alias("cost_usd"),
        (generation if generation is not None else F.lit(None)).cast("long").alias("index_generation"),
    )


def spent_usd(ctx: Context) -> float:
    return float(ctx.tables.read("search_responses").agg(F.sum("cost_usd")).first()[0] or 0.0)


def askable(provider: F.Column) -> F.Column:
    """Whether the seed has what the provider's request is made from."""
    out = F.lit(False)
    for name, cls in PROVIDERS.items():
        out = F.when(provider == name, F.col(cls.needs).isNotNull()).otherwise(out)
    return out


def price(ctx: Context, provider: F.Column) -> F.Column:
    out = F.lit(0.0)
    for name in PROVIDERS:
        out = F.when(provider == name, F.lit(ctx.config.search.remote(name).price_per_request_usd)).otherwise(out)
    return out


class SearchSeeds(Stage):
    name = "search"
    inputs = ("seeds", "search_index", "search_responses")
    output = SearchHit

    def source(self, ctx: Context) -> DataFrame:
        seeds = ctx.tables.read("seeds").where(F.col("status") == "ok")
        providers = ctx.spark.createDataFrame([(p,) for p in ctx.config.search.providers], "provider string")
        # The local key names the index generation, so a grown index makes it new; a remote key
        # changes when the seed gains what the provider needs (a published URL).
        local = F.col("provider") == PROVIDER_LOCAL
        generation = index_generation(ctx.tables.read("search_index"))
        return seeds.select("seed_id", "round", "phash", "image_url", "content").crossJoin(providers).withColumn(
            "input_key", F.concat_ws(
                ":", "seed_id", "provider", F.col("round").cast("string"),
                F.when(local, F.lit(f"g{generation}")).when(~askable(F.col("provider")), F.lit("unaskable")),
            )
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
        """The local index's new hits, fixed on disk: each seed is searched against the index
        generations added since its last search only (its response row says which, see completed)."""
        upto = F.regexp_extract("input_key", LOCAL_GENERATION, 1).cast("long")
        before = ctx.tables.read("search_responses").where(F.col("provider") == PROVIDER_LOCAL).select(
            "response_id", F.coalesce("index_generation", F.lit(0)).alias("searched"), F.col("results").alias("found_before"))
        seeds = seeds.withColumn("response_id", response_id()).join(before, "response_id", "left").fillna(0, ["searched", "found_before"])
        seeds = ctx.tables.stage_input(f"{self.name}.local.seeds", seeds.select("seed_id", "round", "phash", "searched", "found_before",
                                                                                upto.alias("upto")))
        # What the key names, whatever is added meanwhile (one generation for the whole run).
        index = ctx.tables.read("search_index").where(F.col("generation") <= seeds.agg(F.max("upto")).first()[0])
        known = ctx.tables.read("search_hits").select("hit_id")
        found = local_hits_since(seeds, index, ctx.config.search).join(known, "hit_id", "left_anti")
        # New pages rank after those found before.
        ranked = found.join(seeds.select("seed_id", "found_before"), "seed_id").withColumn("rank", F.col("rank") + F.col("found_before"))
        return ctx.tables.stage_input(f"{self.name}.local", ranked.select(*SearchHit.transform_schema().fieldNames()))

    def local_responses(self, ctx: Context, batch: DataFrame) -> None:
        """A response row per local key of the batch, counted from search_hits once the hits are in:
        a run killed in between searches the same part again and finds the same hits."""
        local = batch.where(F.col("provider") == PROVIDER_LOCAL)
        counts = ctx.tables.read("search_hits").where(F.col("provider") == PROVIDER_LOCAL).groupBy("seed_id", "round").agg(
            F.count("*").alias("total"))
        found = local.join(counts, ["seed_id", "round"], "left").fillna(0, ["total"])
        responses = response_rows(
            found, F.when(F.col("total") == 0, "empty").otherwise("ok"),
            F.when(F.col("total") == 0, F.lit(f"no indexed image within {ctx.config.search.max_distance} bits")),
            F.col("total"), F.regexp_extract("input_key", LOCAL_GENERATION, 1),
        )
        self._merge(ctx, responses, "local", None)

    def resolve(self, ctx: Context, wanted: DataFrame) -> DataFrame:
        """Responses for every (seed, remote provider) of the batch, asking only those without an
        answer, as far as the budget goes."""
        wanted = wanted.withColumn("response_id", response_id())
        answered = ctx.tables.read("search_responses").where(F.col("status").isin(*ANSWERED)).select("response_id")
        pending = wanted.join(answered, "response_id", "left_anti")
        if pending.limit(1).count():
            search = ctx.config.search
            for provider in {r["provider"] for r in pending.select("provider").distinct().collect()}:
                api_key(search.remote(provider), provider)  # fail here, naming the variable, rather than in every task
            pending = self.within_budget(ctx, pending)
            asked = pending.where("affordable")
            partitions = max(search.remote(p).partitions for p in search.providers if p != PROVIDER_LOCAL)
            answers = asked.select("seed_id", "provider", "round", "image_url", "content").repartition(partitions, "seed_id").mapInPandas(
                query_partitions(search, ctx.config.network), SearchResponse.transform_schema()
            )
            self._merge(ctx, answers, "remote", UPDATE_WHEN)
        return ctx.tables.read("search_responses").join(wanted.select("response_id"), "response_id")

    def within_budget(self, ctx: Context, pending: DataFrame) -> DataFrame:
        """Pending queries fixed on disk with `affordable`: those the rest of search.max_spend_usd pays
        for, each counted at one billed request, in provider then seed order. The others become
        `skipped` rows with the reason; a run with a larger budget asks them."""
        budget = ctx.config.search.max_spend_usd
        if budget is None:
            return pending.withColumn("affordable", F.lit(True))
        spent = spent_usd(ctx)
        order = F.array_position(F.array(*[F.lit(p) for p in ctx.config.search.providers]), F.col("provider"))
        cost = F.when(askable(F.col("provider")), price(ctx, F.col("provider"))).otherwise(F.lit(0.0))
        running = F.sum(cost).over(Window.orderBy(order, "round", "seed_id").rowsBetween(Window.unboundedPreceding, 0))
        pending = ctx.tables.stage_input(f"{self.name}.budget", pending.withColumn("affordable", spent + running <= budget + 1e-9))
        over = pending.where(~F.col("affordable"))
        if over.limit(1).count():
            reason = f"{BUDGET_REASON} search.max_spend_usd ${budget:g} reached (${spent:.4f} spent before this batch)"
            self._merge(ctx, response_rows(over, F.lit("skipped"), F.lit(reason)), "budget", UPDATE_WHEN)
        return pending

    def _merge(self, ctx: Context, responses: DataFrame, part: str, update_when: str | None) -> None:
        staged = ctx.tables.stage_rows(f"{self.name}.{part}.responses", responses.withColumn("run_id", F.lit(ctx.run_id)), SearchResponse)
        ctx.tables.merge("search_responses", staged, {n: f"s.{n}" for n in staged.columns}, update_when)

    def completed(self, ctx: Context, batch: DataFrame) -> DataFrame | None:
        """Local keys, and remote keys whose response settles them: an answer, or a seed the
        provider cannot be asked about. A failed query, or one skipped for the budget, is asked later."""
        if PROVIDER_LOCAL in ctx.config.search.providers:
            self.local_responses(ctx, batch)
        responses = ctx.tables.read("search_responses")
        settled = responses.where(
            F.col("status").isin(*ANSWERED) | ((F.col("status") == "skipped") & ~F.col("reason").startswith(BUDGET_REASON))
        ).select("response_id")
        remote_done = batch.where(F.col("provider") != PROVIDER_LOCAL).withColumn("response_id", response_id()).join(settled, "response_id")
        return batch.where(F.col("provider") == PROVIDER_LOCAL).select("input_key").unionByName(remote_done.select("input_key"))


STAGES = (SearchSeeds(),)

if __name__ == "__main__":
    sys.exit(main("search", STAGES))
