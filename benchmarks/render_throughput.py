"""Rendering throughput on the generated sample web, every way in one run, on this machine.

    PYTHONPATH=$PWD .venv/bin/python -m benchmarks.render_throughput [--content-pages 200] [--naive-pages 20]

(a) naive: a loop that launches a browser for every page;
(b) plain: one Playwright script, one browser, the same number of pages at once as
    ours in total (render.partitions x render.concurrency), no Spark, no guard, with the
    same technique as ours (one context, tabs reused), which makes it the limit here;
(b0) plain, as such scripts are usually written: a new page (a new context) per URL;
(c) ours: the render_pages transform through Spark (one browser per Python worker,
    every request through the network policy), rows written once;
(c') the whole render_pages stage: the same plus Delta staging and MERGE (browsers
    already warm from (c));
(d) ours and the whole stage again with `render.mode: auto` (pages whose scripts cannot
    change them rendered with scripts off and read at load), how many went static, whether
    their trees equal (c)'s, and the static pages alone with `render.mode: static`;
static: plain HTTP GET and BeautifulSoup text, the same number of fetches at once.
(a) to (c') render every page in the browser (`render.mode: browser`).

Every way waits for load plus the bounded network idle of conf, blocks the same
resource types and reads the tree with the same tree.js. The figures are printed and
written as JSON (--out). The sample web's two faulty pages are left out: they only
measure the time limit.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# Spark's Python workers must import this checkout's modules too.
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)

from runtime.config import PipelineConfig, load_config  # noqa: E402
from runtime.keys import stable_id  # noqa: E402
from runtime.network import NetworkPolicy, fetch  # noqa: E402
from sampleweb.corpus import generate  # noqa: E402
from sampleweb.evaluate import tokens  # noqa: E402
from sampleweb.server import serve  # noqa: E402
from udfs.browser import CHROMIUM_FLAGS, TREE_JS  # noqa: E402

# The plain ways let Chromium fetch by itself: no dead proxy.
PLAIN_FLAGS = [flag for flag in CHROMIUM_FLAGS if not flag.startswith("--proxy")]


def tree_text(nodes: list[dict]) -> str:
    return "\n".join(node.get("text") or "" for node in nodes)


def plain_page_steps(config: PipelineConfig):
    blocked = set(config.render.block_resource_types)
    timeout_ms = config.render.page_timeout_s * 1000
    idle_ms = config.render.settle_timeout_s * 1000
    return blocked, timeout_ms, idle_ms


def run_naive(urls: list[str], config: PipelineConfig) -> tuple[float, dict[str, str]]:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    blocked, timeout_ms, idle_ms = plain_page_steps(config)
    texts = {}
    with sync_playwright() as playwright:
        started = time.monotonic()
        for url in urls:
            browser = playwright.chromium.launch(executable_path=str(config.render.chromium_path), args=PLAIN_FLAGS)
            page = browser.new_page(user_agent=config.network.user_agent)
            page.route("**/*", lambda route: route.abort() if route.request.resource_type in blocked else route.continue_())
            page.goto(url, wait_until="load", timeout=timeout_ms)
            try:
                page.wait_for_load_state("networkidle", timeout=idle_ms)
            except PlaywrightTimeout:
                pass
            texts[url] = tree_text(page.evaluate(TREE_JS, {})["nodes"])
            browser.close()
        return time.monotonic() - started, texts


async def _plain(urls: list[str], config: PipelineConfig, at_once: int, reuse_tabs: bool) -> tuple[float, dict[str, str]]:
    from playwright.async_api import TimeoutError as PlaywrightTimeout
    from playwright.async_api import async_playwright

    blocked, timeout_ms, idle_ms = plain_page_steps(config)
    texts = {}
    async with async_playwright() as playwright:
        started = time.monotonic()
        browser = await playwright.chromium.launch(executable_path=str(config.render.chromium_path), args=PLAIN_FLAGS)
        context = await browser.new_context(user_agent=config.network.user_agent)
        waiting = list(reversed(urls))

        async def block(route):
            if route.request.resource_type in blocked:
                await route.abort()
            else:
                await route.continue_()

        async def render(page, url: str) -> None:
            await page.goto(url, wait_until="load", timeout=timeout_ms)
            try:
                await page.wait_for_load_state("networkidle", timeout=idle_ms)
            except PlaywrightTimeout:
                pass
            texts[url] = tree_text((await page.evaluate(TREE_JS, {}))["nodes"])

        async def tab_worker() -> None:
            tab = await context.new_page()
            await tab.route("**/*", block)
            while waiting:
                await render(tab, waiting.pop())

        async def page_worker() -> None:
            while waiting:
                url = waiting.pop()
                page = await browser.new_page(user_agent=config.network.user_agent)
                await page.route("**/*", block)
                await render(page, url)
                await page.close()

        await asyncio.gather(*((tab_worker if reuse_tabs else page_worker)() for _ in range(at_once)))
        await browser.close()
        return time.monotonic() - started, texts


def run_static(urls: list[str], config: PipelineConfig, at_once: int) -> tuple[float, dict[str, str]]:
    from bs4 import BeautifulSoup

    policy = NetworkPolicy.from_config(config.network)

    def one(url: str) -> str:
        body = fetch(url, policy, timeout_s=config.render.page_timeout_s, max_bytes=config.render.max_page_bytes).body
        soup = BeautifulSoup(body, "html.parser")
        for tag in soup(["script", "style", "noscript"]):
            tag.decompose()
        return soup.get_text("\n")

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=at_once) as pool:
        texts = dict(zip(urls, pool.map(one, urls)))
    return time.monotonic() - started, texts


def run_ours(spark, urls: list[str], config: PipelineConfig, out_dir: Path) -> tuple[float, dict[str, str], dict[str, int], dict[str, str]]:
    """Seconds, tree text by URL, statuses, and rendered_by by URL."""
    from pyspark.sql import functions as F

    from schemas.pages import Page
    from udfs.browser import render_partitions

    rows = spark.createDataFrame([(stable_id(url), url) for url in urls], "url_id string, url string")
    started = time.monotonic()
    rendered = rows.repartition(config.render.partitions, "url_id").mapInPandas(
        render_partitions(config.render, config.network), Page.transform_schema()
    )
    rendered.write.mode("overwrite").parquet(str(out_dir / "pages.parquet"))
    seconds = time.monotonic() - started
    written = spark.read.parquet(str(out_dir / "pages.parquet"))
    statuses = {r["status"]: r["n"] for r in written.groupBy("status").agg(F.count("*").alias("n")).collect()}
    collected = written.select("url", "tree", "rendered_by").collect()
    texts = {r["url"]: tree_text([n.asDict() for n in r["tree"]]) for r in collected}
    return seconds, texts, statuses, {r["url"]: r["rendered_by"] for r in collected}


def run_stage_whole(spark, urls: list[str], config: PipelineConfig) -> tuple[float, dict[str, int]]:
    from jobs.render_pages import RenderPages
    from runtime.context import Context
    from runtime.stage import run_stage
    from runtime.tables import Tables
    from runtime.tracking import Tracker
    from schemas.urls import UrlRecord

    tables = Tables(spark, config.tables, config.run.work_dir / "_staging")
    url_rows = [{**UrlRecord.row(url_id=stable_id(u), url=u, status="ok", hit_ids=[], seed_ids=[]), "run_id": "bench"} for u in urls]
    tables.merge("urls", spark.createDataFrame(url_rows, tables.read("urls").schema))
    ctx = Context(config, spark, tables, "bench", Tracker(config.tracking))
    started = time.monotonic()
    stats = run_stage(ctx, RenderPages())
    return time.monotonic() - started, dict(stats.statuses)


def recall(truth: str, text: str) -> float:
    wanted = set(tokens(truth))
    return len(wanted & set(tokens(text))) / len(wanted) if wanted else 1.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conf", default=str(REPO / "conf" / "local.yaml"))
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--content-pages", type=int, default=200)
    parser.add_argument("--naive-pages", type=int, default=20, help="pages for the naive loop (it is slow)")
    parser.add_argument("--work", default=str(REPO / "work" / "bench"))
    parser.add_argument("--out", default=None, help="JSON file (default: <work>/render_throughput.json)")
    args = parser.parse_args(argv)

    work = Path(args.work).resolve()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = {
        "run.work_dir": str(work), "tables.root": str(work / "tables"), "tracking.enabled": "false",
        "sample_web.dir": str(work / "sample_web"), "sample_web.port": str(port),
        "sample_web.content_pages": str(args.content_pages), "network.allow_private": f"['*.localhost:{port}']", "network.allow_public": "false",
    }
    def configured(mode: str, tables: str) -> PipelineConfig:
        # Each mode's stage writes tables of its own: a second run on the same ones would have nothing to do.
        chosen = {**settings, "render.mode": mode, "tables.root": str(work / tables)}
        return load_config(args.conf, [f"{k}={v}" for k, v in chosen.items()] + args.set)

    config, auto_config, static_config = configured("browser", "tables"), configured("auto", "tables_auto"), configured("static", "tables")
    for folder in ("tables", "tables_auto", "_staging"):
        shutil.rmtree(work / folder, ignore_errors=True)
    manifest = generate(config.sample_web.dir, port, args.content_pages, config.sample_web.seed, config.sample_web.seed_fraction)
    pages = [p for p in manifest["pages"] if not p["fault"]]
    urls = [p["url"] for p in pages]
    at_once = config.render.partitions * config.render.concurrency
    result: dict = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "chromium": subprocess.run([str(config.render.chromium_path), "--version"], capture_output=True, text=True).stdout.strip()},
        "settings": {"pages": len(urls), "naive_pages": min(args.naive_pages, len(urls)), "pages_at_once": at_once,
                     "render": json.loads(config.render.model_dump_json()), "spark_master": config.spark.master},
    }
    seconds: dict[str, float] = {}
    with serve(config.sample_web.dir, config.sample_web.bind, port):
        print(f"sample web: {len(urls)} pages on 127.0.0.1:{port}; {at_once} pages at once", flush=True)
        seconds["static"], static_texts = run_static(urls, config, at_once)
        print(f"static   {len(urls) / seconds['static']:7.1f} pages/s", flush=True)
        naive_urls = urls[: args.naive_pages]
        seconds["naive"], _ = run_naive(naive_urls, config)
        print(f"naive    {len(naive_urls) / seconds['naive']:7.1f} pages/s", flush=True)
        seconds["plain"], plain_texts = asyncio.run(_plain(urls, config, at_once, reuse_tabs=True))
        print(f"plain    {len(urls) / seconds['plain']:7.1f} pages/s", flush=True)
        seconds["plain_page_per_url"], _ = asyncio.run(_plain(urls, config, at_once, reuse_tabs=False))
        print(f"plain0   {len(urls) / seconds['plain_page_per_url']:7.1f} pages/s", flush=True)

        from runtime.session import build_session

        spark = build_session(config.spark)
        try:
            # Start the Python workers first: their start is Spark's, not the renderer's.
            spark.range(0, 4, numPartitions=config.render.partitions).mapInPandas(lambda b: b, "id long").count()
            seconds["ours"], our_texts, statuses, _ = run_ours(spark, urls, config, work)
            print(f"ours     {len(urls) / seconds['ours']:7.1f} pages/s  {statuses}", flush=True)
            seconds["ours_stage"], stage_statuses = run_stage_whole(spark, urls, config)
            print(f"stage    {len(urls) / seconds['ours_stage']:7.1f} pages/s  {stage_statuses}", flush=True)
            seconds["ours_auto"], auto_texts, auto_statuses, rendered_by = run_ours(spark, urls, auto_config, work)
            static_urls = [u for u in urls if rendered_by.get(u) == "static"]
            print(f"auto     {len(urls) / seconds['ours_auto']:7.1f} pages/s  {auto_statuses}, {len(static_urls)} static", flush=True)
            seconds["ours_auto_stage"], auto_stage_statuses = run_stage_whole(spark, urls, auto_config)
            print(f"stage a. {len(urls) / seconds['ours_auto_stage']:7.1f} pages/s  {auto_stage_statuses}", flush=True)
            run_ours(spark, urls[:1], static_config, work / "warm")  # the worker's browser for these settings starts untimed
            seconds["ours_static_pages"], _, _, _ = run_ours(spark, static_urls, static_config, work)
            print(f"static p.{len(static_urls) / seconds['ours_static_pages']:7.1f} pages/s  (the pages auto sent static)", flush=True)
        finally:
            spark.stop()

    rates = {
        "naive": len(naive_urls) / seconds["naive"],
        **{name: len(urls) / seconds[name] for name in ("plain", "plain_page_per_url", "ours", "ours_stage", "static",
                                                         "ours_auto", "ours_auto_stage")},
        "ours_static_pages": len(static_urls) / seconds["ours_static_pages"],
    }
    js_pages = [p for p in pages if p["layout"] == "tutor"]
    js_truth = {p["url"]: " ".join(qa["solution"] + " " + qa["answer"] for qa in p["qas"]) for p in js_pages}

    def mean_recall(texts: dict[str, str]) -> float:
        return sum(recall(truth, texts.get(url, "")) for url, truth in js_truth.items()) / len(js_truth)

    agree = [len(set(tokens(plain_texts[u])) & set(tokens(our_texts.get(u, "")))) / max(1, len(set(tokens(plain_texts[u])) | set(tokens(our_texts.get(u, "")))))
             for u in urls]
    result.update({
        "seconds": {k: round(v, 2) for k, v in seconds.items()},
        "pages_per_second": {k: round(v, 2) for k, v in rates.items()},
        "ratios": {"ours_over_naive": round(rates["ours"] / rates["naive"], 2), "ours_over_plain": round(rates["ours"] / rates["plain"], 3),
                   "stage_over_plain": round(rates["ours_stage"] / rates["plain"], 3),
                   "auto_stage_over_browser_stage": round(rates["ours_auto_stage"] / rates["ours_stage"], 2)},
        "targets_met": {"ours_at_least_10x_naive": rates["ours"] >= 10 * rates["naive"], "ours_at_least_75pct_plain": rates["ours"] >= 0.75 * rates["plain"],
                        "auto_stage_at_least_5x_browser_stage": rates["ours_auto_stage"] >= 5 * rates["ours_stage"],
                        "static_pages_at_least_100_per_s": rates["ours_static_pages"] >= 100,
                        "browser_stage_at_least_90pct_plain": rates["ours_stage"] >= 0.9 * rates["plain"]},
        "auto": {"static_pages": len(static_urls), "pages": len(urls), "static_share": round(len(static_urls) / len(urls), 3),
                 "same_text_as_browser": sum(auto_texts.get(u) == our_texts.get(u) for u in urls)},
        "javascript_pages": {
            "pages": len(js_pages),
            "solution_word_recall": {"static": round(mean_recall(static_texts), 3), "plain": round(mean_recall(plain_texts), 3),
                                     "ours": round(mean_recall(our_texts), 3), "ours_auto": round(mean_recall(auto_texts), 3)},
            "static_misses_share": round(1 - mean_recall(static_texts), 3),
        },
        "ours_vs_plain_mean_word_jaccard": round(sum(agree) / len(agree), 3),
        "ours_statuses": statuses,
    })
    out = Path(args.out) if args.out else work / "render_throughput.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps({k: result[k] for k in ("pages_per_second", "ratios", "targets_met", "auto", "javascript_pages")}, indent=2))
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
