"""Failures in passing are tried again by later runs, and pages are grouped by host across tasks."""
import io

import pytest
from PIL import Image
from pyspark.sql import functions as F

from jobs.fetch_images import FetchImages
from jobs.render_pages import RenderPages
from runtime.context import Context
from runtime.stage import run_stage
from runtime.tables import Tables
from runtime.tracking import Tracker
from schemas.urls import UrlRecord
from udfs.urls import host_of
from tests.conftest import LoopbackServer, make_config


def png(side: int = 140) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (side, side), (200, 40, 40)).save(buffer, format="PNG")
    return buffer.getvalue()


def page(text: str, image: str | None = None) -> str:
    img = f'<img src="{image}" alt="figure">' if image else ""
    return f"<html><body><main><h1>{text}</h1><p>{text} has a statement long enough to read.</p>{img}</main></body></html>"


def context(spark, tmp_path, run_id: str, hosts: list[str], **overrides) -> Context:
    config = make_config(tmp_path, **{
        "network.allow_private": "[" + ", ".join(hosts) + "]", "render.page_timeout_s": 8, "render.settle_timeout_s": 2,
        "render.per_host_delay_s": 0, **overrides,
    })
    tables = Tables(spark, config.tables, tmp_path / "_staging")
    tables.set_run_id(run_id)
    return Context(config, spark, tables, run_id, Tracker(config.tracking))


def add_urls(ctx: Context, urls: list[str]) -> None:
    rows = [UrlRecord.row(url_id=f"u{i}", url=url, status="ok", hit_ids=[], seed_ids=[]) | {"run_id": "test"} for i, url in enumerate(urls)]
    ctx.tables.merge("urls", ctx.spark.createDataFrame(rows, UrlRecord.transform_schema().add("run_id", "string")))


def rows_by_url(ctx: Context, table: str) -> dict[str, dict]:
    return {r["url"]: r.asDict() for r in ctx.tables.read(table).drop("tree", "content", "posts").collect()}


@pytest.fixture
def site():
    server = LoopbackServer()
    yield server
    server.close()


def test_pages_and_images_that_failed_in_passing_are_tried_again_up_to_max_attempts(spark, tmp_path, site):
    flaky = site.add("/flaky.html", page("Flaky page", "/img/flaky.png"), failures=1)
    steady = site.add("/steady.html", page("Steady page"))
    down = site.add("/down.html", page("Down page"), failures=99)
    missing = site.url("/missing.html")  # 404: final at once
    site.add("/img/flaky.png", png(), content_type="image/png", failures=1)
    settings = {"render.max_attempts": 2, "images.max_attempts": 2}
    hosts = [f"127.0.0.1:{site.port}"]

    first = context(spark, tmp_path, "run-1", hosts, **settings)
    add_urls(first, [flaky, steady, down, missing])
    run_stage(first, RenderPages())
    pages = rows_by_url(first, "pages")
    assert {u: (r["status"], r["http_status"], r["attempts"]) for u, r in pages.items()} == {
        flaky: ("http_error", 503, 1), steady: ("ok", 200, 1), down: ("http_error", 503, 1), missing: ("http_error", 404, 1),
    }

    # A later round of the same run does not try them again, nor does it settle them for good.
    assert run_stage(first, RenderPages()).rows_in == 0
    second = context(spark, tmp_path, "run-2", hosts, **settings)
    assert run_stage(second, RenderPages()).rows_in == 2  # the two 503s; neither the 404 nor the ok page
    pages = rows_by_url(second, "pages")
    assert (pages[flaky]["status"], pages[flaky]["attempts"], pages[flaky]["run_id"]) == ("ok", 2, "run-2")
    assert (pages[down]["status"], pages[down]["attempts"]) == ("http_error", 2)
    assert (pages[missing]["attempts"], pages[steady]["attempts"]) == (1, 1)
    assert second.tables.read("pages").count() == 4  # replaced, not added

    third = context(spark, tmp_path, "run-3", hosts, **settings)
    assert run_stage(third, RenderPages()).rows_in == 0  # attempts spent
    assert (site.hits["/down.html"], site.hits["/missing.html"], site.hits["/steady.html"]) == (2, 1, 1)

    # The flaky page's figure answers 503 once: the images stage, too, tries it again on a later run.
    run_stage(third, FetchImages())
    image_url = site.url("/img/flaky.png")
    assert (rows_by_url(third, "images")[image_url]["status"], rows_by_url(third, "images")[image_url]["http_status"]) == ("http_error", 503)
    fourth = context(spark, tmp_path, "run-4", hosts, **settings)
    assert run_stage(fourth, FetchImages()).rows_in == 1
    image = rows_by_url(fourth, "images")[image_url]
    assert (image["status"], image["attempts"], image["width"]) == ("ok", 2, 140)
    assert run_stage(context(spark, tmp_path, "run-5", hosts, **settings), FetchImages()).rows_in == 0
    assert site.hits["/img/flaky.png"] == 2


def test_a_hosts_pages_are_rendered_in_one_task_so_its_limits_hold_across_tasks(spark, tmp_path, site):
    """Two tasks render at once, each with its own browser; one host's pages never overlap."""
    for n in range(6):
        site.add(f"/a{n}.html", page(f"Page a{n}"), delay_s=0.4)
        site.add(f"/b{n}.html", page(f"Page b{n}"), delay_s=0.4)
    hosts = [f"127.0.0.1:{site.port}", f"localhost:{site.port}"]
    ctx = context(spark, tmp_path, "run-1", hosts, **{
        "render.partitions": 2, "render.per_host_concurrency": 1, "render.obey_robots": "false",
    })
    urls = [site.url(f"/a{n}.html") for n in range(6)] + [site.url(f"/b{n}.html", host="localhost") for n in range(6)]
    add_urls(ctx, urls)
    run_stage(ctx, RenderPages())
    assert ctx.tables.read("pages").where("status = 'ok'").count() == 12
    # Both hosts are served by one server, which records when each path was asked for.
    for prefix in ("/a", "/b"):
        spans = sorted(span for path, span in site.spans.items() if path.startswith(prefix) and path.endswith(".html"))
        assert len(spans) == 6
        assert all(later[0] >= earlier[1] - 0.01 for earlier, later in zip(spans, spans[1:])), spans
    tasks = (
        spark.createDataFrame([(u,) for u in urls], "url string").repartition(2, host_of("url"))
        .withColumn("task", F.spark_partition_id()).groupBy(host_of("url")).agg(F.countDistinct("task").alias("tasks")).collect()
    )
    assert [row["tasks"] for row in tasks] == [1, 1]
