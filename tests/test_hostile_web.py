"""The hostile host of the sample web, crawled by the real stages: every URL a row with a status
within its time limit, nothing reaches the canary, and the renderer goes on afterwards."""
import socket
import threading

import pytest

from jobs.fetch_images import FetchImages
from jobs.render_pages import RenderPages
from runtime.context import Context
from runtime.stage import run_stage
from runtime.tables import Tables
from runtime.tracking import Tracker
from sampleweb import hostile
from sampleweb.server import serve
from schemas.urls import UrlRecord
from tests.conftest import free_port, make_config

PAGE_TIMEOUT_S = 6
MAX_PAGE_BYTES = 200_000


class Canary:
    """A loopback port nobody allow-lists, counting every TCP connection and UDP datagram."""

    def __init__(self) -> None:
        self.tcp = socket.create_server(("127.0.0.1", 0))
        self.port = self.tcp.getsockname()[1]
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", self.port))
        self.connections = self.datagrams = 0
        self._stop = threading.Event()
        for target in (self._accept, self._receive):
            threading.Thread(target=target, daemon=True).start()

    def _accept(self) -> None:
        self.tcp.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self.tcp.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def _receive(self) -> None:
        self.udp.settimeout(0.2)
        while not self._stop.is_set():
            try:
                self.udp.recv(2048)
            except OSError:
                continue
            self.datagrams += 1

    def close(self) -> None:
        self._stop.set()
        self.tcp.close()
        self.udp.close()


@pytest.fixture(scope="module")
def crawled(spark, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile")
    canary = Canary()
    port = free_port()
    cases = hostile.write(tmp / "web", port, canary.port, MAX_PAGE_BYTES)
    config = make_config(tmp, **{
        "network.allow_private": f"['*.localhost:{port}']", "render.page_timeout_s": PAGE_TIMEOUT_S,
        "render.settle_timeout_s": 2, "render.max_page_bytes": MAX_PAGE_BYTES, "render.max_attempts": 1,
        "render.per_host_concurrency": 16, "render.per_host_delay_s": 0,
    })
    tables = Tables(spark, config.tables, tmp / "_staging")
    ctx = Context(config, spark, tables, "hostile", Tracker(config.tracking))
    urls = {f"http://{hostile.HOST}:{port}{case.path}": case for case in cases}
    rows = [UrlRecord.row(url_id=f"u{i}", url=url, status="ok", hit_ids=[], seed_ids=[]) | {"run_id": "hostile"}
            for i, url in enumerate(urls)]
    with serve(tmp / "web", port=port):
        tables.merge("urls", spark.createDataFrame(rows, UrlRecord.transform_schema().add("run_id", "string")))
        run_stage(ctx, RenderPages())
        run_stage(ctx, FetchImages())
        pages = {r["url"]: r.asDict() for r in tables.read("pages").drop("tree", "posts").collect()}
        images = {r["url"].rsplit("/", 1)[-1]: r.asDict() for r in tables.read("images").drop("content").collect()}
        # The same browser then renders an ordinary page.
        after = f"http://{hostile.HOST}:{port}/after.html"
        (tmp / "web" / "site" / hostile.HOST / "after.html").write_text("<html><body><main><p>An ordinary page.</p></main></body></html>")
        tables.merge("urls", spark.createDataFrame(
            [UrlRecord.row(url_id="after", url=after, status="ok", hit_ids=[], seed_ids=[]) | {"run_id": "hostile"}],
            UrlRecord.transform_schema().add("run_id", "string")))
        run_stage(ctx, RenderPages())
        after_row = tables.read("pages").where(f"url = '{after}'").first()
    canary.close()
    return urls, pages, images, canary, after_row


def test_every_hostile_url_ends_as_a_row_with_an_expected_status_and_reason(crawled):
    urls, pages, _, _, _ = crawled
    assert set(pages) == set(urls)
    wrong = {case.what: (pages[url]["status"], pages[url]["reason"]) for url, case in urls.items()
             if pages[url]["status"] not in case.outcomes}
    assert wrong == {}
    assert all(row["reason"] for row in pages.values() if row["status"] != "ok")


def test_no_hostile_page_outlives_its_time_limit(crawled):
    _, pages, _, _, _ = crawled
    slowest = max(pages.values(), key=lambda row: row["render_ms"])
    assert slowest["render_ms"] <= PAGE_TIMEOUT_S * 1000 + 3000, slowest["url"]  # closing a hung page takes a moment


def test_nothing_reaches_the_unlisted_loopback_port(crawled):
    _, _, _, canary, _ = crawled
    assert (canary.connections, canary.datagrams) == (0, 0)


def test_hostile_images_become_rows_with_reasons(crawled):
    _, _, images, _, _ = crawled
    status = {name: row["status"] for name, row in images.items()}
    assert status["bomb.png"] in ("unreadable", "too_large")
    assert status["truncated.jpg"] == "unreadable"
    assert (status["animated.gif"], images["animated.gif"]["format"]) == ("ok", "GIF")  # its first frame
    assert "pixel.png" not in status  # a tracking pixel is no figure: the tree leaves it out
    assert status["figure.png"] == "ok"
    assert (status["missing.png"], images["missing.png"]["http_status"]) == ("http_error", 404)
    # The SVG is drawn by the renderer (a data: URL) without its external entity, or, when drawing it
    # ran out of time on a busy machine, fetched as a file: a row either way.
    svg = [row for name, row in images.items() if row["url"].startswith("data:") or name == "entity.svg"]
    assert len(svg) == 1 and (svg[0]["status"] == "ok") == svg[0]["url"].startswith("data:")
    assert all(row["reason"] for row in images.values() if row["status"] != "ok")


def test_the_renderer_goes_on_after_the_hostile_host(crawled):
    *_, after = crawled
    assert after["status"] == "ok" and [n["text"] for n in after["tree"]] == ["An ordinary page."]
