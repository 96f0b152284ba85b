"""Search at the reference's scale, in local mode.

1. URLs: 1,750,000 search hits generated in Spark (30,000 seeds; about 57 % of the hits repeat a
   page, as the reference's 1,747,634 hits held 758,490 unique URLs; hosts drawn with a Zipf-like
   skew, the head being video, image, social and shop hosts and a benchmark host; a share of the
   hits spelled with tracking parameters, fragments or an upper-case host) go through the
   `normalize_urls` stage's own code: normalisation, the block list, benchmark hosts, the top-K
   host filter, de-duplication. Rows per second, written to Delta. With --stage, also the whole
   stage (staging, MERGE into `urls`, progress) over a `search_hits` Delta table.
2. The local index: 1,000,000 indexed images (random 64-bit pHashes, two per image as the index
   keeps them) in a Delta table, queried by seeds of which some are planted near copies (a few
   bits flipped from an indexed hash). Queries per second and recall on the planted copies, for
   the exact banding join (probe radius 3 with 4 bands at 12 bits) and a faster one (radius 1).

    PYTHONPATH=$PWD .venv/bin/python -m benchmarks.search_scale [--hits 1750000] [--index 1000000]
"""
from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pyspark.sql import functions as F  # noqa: E402

from jobs.normalize_urls import NormalizeUrls, frequent_hosts, judge_hits, verdicts  # noqa: E402
from runtime.config import SparkConfig, load_config  # noqa: E402
from runtime.context import Context  # noqa: E402
from runtime.session import build_session  # noqa: E402
from runtime.stage import run_stage  # noqa: E402
from runtime.tables import Tables  # noqa: E402
from runtime.tracking import Tracker  # noqa: E402
from udfs.search import local_hits  # noqa: E402

SEEDS = 30_000
DOMAINS = 50_000
# The most frequent hosts of reverse-image results: video, image, social and shop hosts, Q&A
# sites that do hold problems, and a benchmark's host.
HEAD_HOSTS = ["www.youtube.com", "www.pinterest.com", "www.amazon.com", "brainly.com", "www.facebook.com", "math.stackexchange.com",
              "www.chegg.com", "www.instagram.com", "www.etsy.com", "www.quora.com", "www.shutterstock.com", "www.reddit.com",
              "en.wikipedia.org", "www.tiktok.com", "mathvista.github.io", "www.coursehero.com"]


def pool_size(hits: int, unique_share: float) -> int:
    """Pages to draw uniformly from so that `hits` draws hold about unique_share * hits distinct pages."""
    low, high = 1, hits * 50
    target = unique_share * hits
    while low < high:
        mid = (low + high) // 2
        if mid * (1 - math.exp(-hits / mid)) < target:
            low = mid + 1
        else:
            high = mid
    return low


def generated_hits(spark, n: int, partitions: int):
    pages = pool_size(n, 758_490 / 1_747_634)
    page = F.floor(F.rand(11) * pages).cast("long")
    # A page's host rank r is log-uniform in [1, DOMAINS]: P(r) ~ 1/r, a Zipf-like skew.
    unit = F.pmod(F.xxhash64("page"), F.lit(1_000_003)) / F.lit(1_000_003.0)
    rank = F.floor(F.exp(unit * F.lit(math.log(DOMAINS)))).cast("int")
    head = F.array(*[F.lit(h) for h in HEAD_HOSTS])
    host = F.when(F.col("rank") <= len(HEAD_HOSTS), F.element_at(head, F.col("rank"))).otherwise(F.concat(F.lit("site"), "rank", F.lit(".example")))
    # One draw per row, as a column: each F.rand() in a CASE advances only where it is evaluated.
    spelled = F.col("spelled")
    path = F.concat(F.lit("/q/"), "page", F.lit("/problem-"), F.pmod("page", F.lit(97)))
    url = (
        F.when(spelled < 0.15, F.concat(F.lit("https://"), "host", path, F.lit("?utm_source=lens&utm_medium=image")))
        .when(spelled < 0.25, F.concat(F.lit("https://"), "host", path, F.lit("#answer-2")))
        .when(spelled < 0.30, F.concat(F.lit("HTTPS://"), F.upper("host"), F.lit(":443"), path))
        .when(spelled < 0.305, F.concat(F.lit("ftp://"), "host", path))
        .otherwise(F.concat(F.lit("https://"), "host", path))
    )
    return (
        spark.range(0, n, numPartitions=partitions)
        .select("id", page.alias("page"), F.rand(12).alias("spelled"))
        .withColumn("rank", rank).withColumn("host", host)
        .select(F.concat(F.lit("h"), "id").alias("hit_id"), F.concat(F.lit("s"), F.pmod("id", F.lit(SEEDS))).alias("seed_id"),
                F.lit(1).cast("long").alias("round"), url.alias("url"))
    ), pages


def bench_urls(spark, config, work: Path, n: int, skip_top: int, partitions: int, whole_stage: bool) -> dict:
    hits, pages = generated_hits(spark, n, partitions)
    started = time.monotonic()
    frequent = frequent_hosts(hits, skip_top)
    judge = verdicts(config.urls.tracking_params, config.blocked_hosts(), config.benchmark_hosts(), frequent)
    out = work / "urls"
    judge_hits(hits, judge).write.format("delta").mode("overwrite").save(str(out))
    seconds = time.monotonic() - started
    urls = spark.read.format("delta").load(str(out))
    statuses = {r["status"]: r["count"] for r in urls.groupBy("status").count().collect()}
    result = {
        "hits": n, "page_pool": pages, "unique_urls": urls.count(), "statuses": statuses, "skip_top_domains": skip_top,
        "frequent_hosts": frequent, "seconds": round(seconds, 1), "rows_per_s": round(n / seconds),
    }
    print(f"urls: {n} hits -> {result['unique_urls']} unique URLs ({result['unique_urls'] / n:.1%}) in {seconds:.1f} s, "
          f"{result['rows_per_s']} hits/s; by status {statuses}", flush=True)
    if whole_stage:
        result["stage"] = bench_stage(spark, config, work, hits, n)
    return result


def bench_stage(spark, config, work: Path, hits, n: int) -> dict:
    """The whole normalize_urls stage: staging, the transform, MERGE into urls, stage_progress."""
    config = config.model_copy(update={"stages": config.stages.model_copy(update={"batch_rows": n})})
    tables = Tables(spark, config.tables, work / "_staging")
    started = time.monotonic()
    hits.write.format("delta").mode("overwrite").save(tables.location("search_hits"))
    written = time.monotonic() - started
    ctx = Context(config, spark, tables, "bench-urls", Tracker(config.tracking))
    tables.set_run_id("bench-urls")
    stats = run_stage(ctx, NormalizeUrls())
    print(f"urls stage: {n} hits (written to search_hits in {written:.1f} s) -> {stats.rows_inserted} urls rows in {stats.seconds:.1f} s, "
          f"{n / stats.seconds:.0f} hits/s", flush=True)
    return {"search_hits_write_s": round(written, 1), "seconds": round(stats.seconds, 1), "rows_per_s": round(n / stats.seconds),
            "urls_rows": stats.rows_inserted}


def flip(phash: str, bits: list[int]) -> str:
    value = int(phash, 16)
    for bit in bits:
        value ^= 1 << bit
    return f"{value:016x}"


def bench_index(spark, config, work: Path, size: int, queries: int, planted: int, radius: int | None, partitions: int) -> dict:
    where = work / "search_index"
    if not (where / "_delta_log").is_dir() or spark.read.format("delta").load(str(where)).count() != size:
        started = time.monotonic()
        hex_of = lambda col: F.lower(F.format_string("%016x", col))  # noqa: E731
        spark.range(0, size, numPartitions=partitions).select(
            F.concat(F.lit("i"), "id").alias("index_id"),
            F.concat(F.lit("https://site"), F.pmod("id", F.lit(DOMAINS)), F.lit(".example/img/"), "id", F.lit(".png")).alias("image_url"),
            F.concat(F.lit("https://site"), F.pmod("id", F.lit(DOMAINS)), F.lit(".example/p/"), "id").alias("page_url"),
            hex_of(F.xxhash64("id")).alias("phash"), hex_of(F.xxhash64("id", F.lit(1))).alias("crop_phash"),
        ).write.format("delta").mode("overwrite").save(str(where))
        print(f"index: {size} images written to Delta in {time.monotonic() - started:.1f} s", flush=True)
    index = spark.read.format("delta").load(str(where))
    rng = random.Random(5)
    chosen = [f"i{rng.randrange(size)}" for _ in range(planted)]
    originals = {r["index_id"]: (r["phash"], r["page_url"]) for r in index.where(F.col("index_id").isin(chosen)).collect()}
    seeds, expected = [], {}
    for n, (index_id, (phash, page)) in enumerate(sorted(originals.items())):
        distance = n % (config.search.max_distance + 1)  # 0..12 bits, evenly
        seeds.append((f"planted{n}", 1, flip(phash, rng.sample(range(64), distance))))
        expected[f"planted{n}"] = (page, distance)
    seeds += [(f"random{n}", 1, f"{rng.getrandbits(64):016x}") for n in range(queries - len(seeds))]
    search = config.search.model_copy(update={"index": config.search.index.model_copy(update={"probe_radius": radius})})
    seeds_df = spark.createDataFrame(seeds, "seed_id string, round long, phash string").repartition(partitions)
    out = work / f"hits_radius_{radius}"
    started = time.monotonic()
    local_hits(seeds_df, index, search).write.format("parquet").mode("overwrite").save(str(out))
    seconds = time.monotonic() - started
    found = {(r["seed_id"], r["url"]) for r in spark.read.parquet(str(out)).where(F.col("seed_id").startswith("planted")).collect()}
    by_distance: dict[int, list[int]] = {}
    for seed, (page, distance) in expected.items():
        by_distance.setdefault(distance, []).append((seed, page) in found)
    recall = sum(sum(v) for v in by_distance.values()) / len(expected)
    effective = radius if radius is not None else config.search.max_distance // config.search.index.bands
    result = {
        "indexed_images": size, "queries": queries, "planted": len(expected), "probe_radius": effective,
        "bands": config.search.index.bands, "max_distance": config.search.max_distance, "seconds": round(seconds, 1),
        "queries_per_s": round(queries / seconds, 1), "planted_recall": round(recall, 3),
        "recall_by_distance": {d: round(sum(v) / len(v), 2) for d, v in sorted(by_distance.items())},
    }
    print(f"index: {queries} queries against {size} images (bands {result['bands']}, radius {effective}) in {seconds:.1f} s, "
          f"{result['queries_per_s']} queries/s; planted recall {recall:.3f} {result['recall_by_distance']}", flush=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hits", type=int, default=1_750_000)
    parser.add_argument("--skip-top-domains", type=int, default=0)
    parser.add_argument("--stage", action="store_true", help="also run the whole normalize_urls stage over a search_hits table")
    parser.add_argument("--index", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--exact-queries", type=int, default=1_000, help="queries for the exact join (radius 3), which probes more")
    parser.add_argument("--planted", type=int, default=500)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--work", type=Path, default=REPO / "work" / "bench" / "search_scale")
    args = parser.parse_args()

    config = load_config(REPO / "conf" / "local.yaml", [f"tables.root={args.work / 'tables'}", "tracking.enabled=false"])
    spark = build_session(SparkConfig(master="local[*]", shuffle_partitions=args.partitions, driver_memory="6g"))
    if args.work.exists():
        shutil.rmtree(args.work / "tables", ignore_errors=True)
    args.work.mkdir(parents=True, exist_ok=True)
    results = {"machine": f"{__import__('os').cpu_count()} cores, Spark local mode"}
    results["urls"] = bench_urls(spark, config, args.work, args.hits, args.skip_top_domains, args.partitions, args.stage)
    results["index_fast"] = bench_index(spark, config, args.work, args.index, args.queries, args.planted, 1, args.partitions)
    results["index_exact"] = bench_index(spark, config, args.work, args.index, args.exact_queries, min(args.planted, args.exact_queries // 2),
                                         None, args.partitions)
    out = REPO / "work" / "bench" / "search_scale.json"
    out.write_text(json.dumps(results, indent=1))
    print(f"written {out}", flush=True)
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
