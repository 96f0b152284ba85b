"""Search hits -> normalised, de-duplicated, filtered URLs in `urls`.

    python -m jobs.normalize_urls --conf conf/local.yaml
"""
from __future__ import annotations

import sys

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from runtime.cli import main
from runtime.context import Context
from runtime.keys import stable_id
from runtime.stage import Stage
from schemas.urls import UrlRecord
from udfs.urls import InvalidUrl, blocked_by, normalize

VERDICT = T.StructType([
    T.StructField("url_id", T.StringType()), T.StructField("url", T.StringType()), T.StructField("host", T.StringType()),
    T.StructField("status", T.StringType()), T.StructField("reason", T.StringType()),
])


def verdicts(tracking_params: list[str], blocklist: list[str]):
    @F.pandas_udf(VERDICT)
    def judge(raw: pd.Series) -> pd.DataFrame:
        out = []
        for url in raw:
            try:
                norm = normalize(url, tracking_params)
            except InvalidUrl as exc:
                out.append((stable_id("invalid", url), url, None, "invalid", str(exc)))
                continue
            host = norm.split("/")[2].split(":")[0]
            entry = blocked_by(host, blocklist)
            out.append((stable_id(norm), norm, host, "blocked" if entry else "ok", f"domain {entry} is on the block list" if entry else None))
        return pd.DataFrame(out, columns=VERDICT.fieldNames())

    return judge


class NormalizeUrls(Stage):
    name = "urls"
    inputs = ("search_hits",)
    output = UrlRecord
    # A URL found again later gains the new hits and seeds.
    update = {"hit_ids": "array_sort(array_union(t.hit_ids, s.hit_ids))", "seed_ids": "array_sort(array_union(t.seed_ids, s.seed_ids))"}
    update_when = "size(array_except(s.hit_ids, t.hit_ids)) > 0"

    def source(self, ctx: Context) -> DataFrame:
        hits = ctx.tables.read("search_hits")
        return hits.select("hit_id", "seed_id", "url", F.col("hit_id").alias("input_key"))

    def transform(self, ctx: Context, batch: DataFrame) -> DataFrame:
        judge = verdicts(ctx.config.urls.tracking_params, ctx.config.blocked_hosts())
        judged = batch.withColumn("v", judge("url")).select("hit_id", "seed_id", "v.*")
        return judged.groupBy("url_id").agg(
            F.first("url").alias("url"), F.first("host").alias("host"), F.first("status").alias("status"),
            F.first("reason").alias("reason"), F.array_sort(F.collect_set("hit_id")).alias("hit_ids"),
            F.array_sort(F.collect_set("seed_id")).alias("seed_ids"),
        )


STAGES = (NormalizeUrls(),)

if __name__ == "__main__":
    sys.exit(main("normalize_urls", STAGES))
