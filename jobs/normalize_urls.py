"""Search hits -> normalised, de-duplicated, filtered URLs in `urls`.

    python -m jobs.normalize_urls --conf conf/local.yaml

A URL is dropped, with its reason, when it does not parse (`invalid`), when its host is on the
block list (`blocked`: video platforms, image hosts, social networks, shops), when it is the host
of an evaluation benchmark (`benchmark`), or, with `urls.skip_top_domains: K`, when its host is
one of the K with the most search hits (`frequent_domain`). Every URL keeps the hits and seeds
that found it and the first round that did.
"""
from __future__ import annotations

import sys
from urllib.parse import urlsplit

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from runtime.cli import main
from runtime.context import Context
from runtime.keys import stable_id
from runtime.stage import Stage
from schemas.urls import UrlRecord
from udfs.urls import HostSet, InvalidUrl, normalize

VERDICT = T.StructType([
    T.StructField("url_id", T.StringType()), T.StructField("url", T.StringType()), T.StructField("host", T.StringType()),
    T.StructField("status", T.StringType()), T.StructField("reason", T.StringType()),
])


def verdict(url: str, tracking_params: list[str], blocked: HostSet, benchmark: HostSet, top: frozenset[str]) -> tuple:
    """One raw URL -> (url_id, url, host, status, reason), the fields of VERDICT."""
    try:
        norm = normalize(url, tracking_params)
    except InvalidUrl as exc:
        return stable_id("invalid", url), url, None, "invalid", str(exc)
    host = urlsplit(norm).hostname
    if entry := blocked.covering(host):
        return stable_id(norm), norm, host, "blocked", f"domain {entry} is on the block list"
    if entry := benchmark.covering(host):
        return stable_id(norm), norm, host, "benchmark", f"domain {entry} hosts an evaluation benchmark"
    if host in top:
        reason = f"host {host} is among the {len(top)} with the most search hits"
        return stable_id(norm), norm, host, "frequent_domain", reason
    return stable_id(norm), norm, host, "ok", None


def verdicts(tracking_params: list[str], blocklist: list[str], benchmarks: list[str], frequent: list[str]):
    blocked, benchmark, top = HostSet(blocklist), HostSet(benchmarks), frozenset(frequent)

    @F.pandas_udf(VERDICT)
    def judge(raw: pd.Series) -> pd.DataFrame:
        rows = [verdict(url, tracking_params, blocked, benchmark, top) for url in raw]
        return pd.DataFrame(rows, columns=VERDICT.fieldNames())

    return judge


def frequent_hosts(hits: DataFrame, k: int) -> list[str]:
    """The k hosts with the most search hits (ties broken by name)."""
    if k == 0:
        return []
    host = F.lower(F.expr("parse_url(url, 'HOST')"))
    rows = hits.select(host.alias("host")).where(F.col("host").isNotNull()).groupBy("host").count().orderBy(
        F.desc("count"), "host").limit(k).collect()
    return [r["host"] for r in rows]


def judge_hits(hits: DataFrame, judge) -> DataFrame:
    """Hits (hit_id, seed_id, round, url) -> one row per normalised URL with its verdict and lineage."""
    judged = hits.withColumn("v", judge("url")).select("hit_id", "seed_id", "round", "v.*")
    return judged.groupBy("url_id").agg(
        F.first("url").alias("url"), F.first("host").alias("host"), F.first("status").alias("status"),
        F.first("reason").alias("reason"), F.array_sort(F.collect_set("hit_id")).alias("hit_ids"),
        F.array_sort(F.collect_set("seed_id")).alias("seed_ids"), F.min("round").cast("long").alias("round"),
    )


class NormalizeUrls(Stage):
    name = "urls"
    inputs = ("search_hits",)
    output = UrlRecord
    # A URL found again later gains the new hits and seeds.
    update = {"hit_ids": "array_sort(array_union(t.hit_ids, s.hit_ids))", "seed_ids": "array_sort(array_union(t.seed_ids, s.seed_ids))",
              "round": "least(t.round, s.round)"}
    update_when = "size(array_except(s.hit_ids, t.hit_ids)) > 0"

    def source(self, ctx: Context) -> DataFrame:
        hits = ctx.tables.read("search_hits")
        return hits.select("hit_id", "seed_id", "round", "url", F.col("hit_id").alias("input_key"))

    def transform(self, ctx: Context, batch: DataFrame) -> DataFrame:
        urls = ctx.config.urls
        frequent = frequent_hosts(ctx.tables.read("search_hits"), urls.skip_top_domains)
        judge = verdicts(urls.tracking_params, ctx.config.blocked_hosts(), ctx.config.benchmark_hosts(), frequent)
        return judge_hits(batch, judge)


STAGES = (NormalizeUrls(),)

if __name__ == "__main__":
    sys.exit(main("normalize_urls", STAGES))
