"""Remote search providers against loopback servers that answer in each provider's JSON shape."""
import base64
import hashlib
import io
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest
from PIL import Image
from pyspark.sql import functions as F

from jobs.estimate_cost import estimate_search
from jobs.search import SearchSeeds
from runtime.context import Context
from runtime.report import search_spend, summary
from runtime.stage import run_stage
from runtime.tables import Tables
from runtime.tracking import Tracker
from schemas.seeds import Seed
from tests.conftest import make_config
from udfs.images import decode
from udfs.providers import query_partitions

KEY_ENV = "WEBMINE_TEST_SEARCH_KEY"
KEY = "serp-live-91c2e0-never-kept"
os.environ[KEY_ENV] = KEY


class ProviderServer:
    """SerpAPI's /search.json and Cloud Vision's /v1/images:annotate on 127.0.0.1, scripted per image.

    `answers[image]` is a list of (HTTP status, JSON body) served in turn, the last one repeated;
    the image is the `url` parameter for SerpAPI and the SHA-256 of the sent bytes for Vision."""

    def __init__(self):
        self.answers: dict[str, list[tuple[int, dict]]] = {}
        self.asked: dict[str, int] = {}
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def reply(self, image: str, key: str | None):
                if key != KEY:
                    status, body = 401, {"error": f"Invalid API key {key}. Your API key should be here: https://serpapi.com/manage-api-key"}
                else:
                    with server.lock:
                        n = server.asked.get(image, 0)
                        server.asked[image] = n + 1
                    script = server.answers.get(image, [(200, {"error": "Google Lens hasn't returned any results for this query."})])
                    status, body = script[min(n, len(script) - 1)]
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if status == 429:
                    self.send_header("Retry-After", "0")
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                assert parts.path == "/search.json" and query["engine"] == ["google_lens"]
                self.reply(query["url"][0], query.get("api_key", [None])[0])

            def do_POST(self):
                parts = urlsplit(self.path)
                assert parts.path == "/v1/images:annotate"
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                [item] = request["requests"]
                assert item["features"] == [{"type": "WEB_DETECTION", "maxResults": 60}]
                image = hashlib.sha256(base64.b64decode(item["image"]["content"])).hexdigest()
                self.reply(image, parse_qs(parts.query).get("key", [None])[0])

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def providers():
    server = ProviderServer()
    yield server
    server.close()


def settings(tmp_path, server, **more):
    base = f"http://127.0.0.1:{server.port}"
    return {
        "network.allow_private": f"['127.0.0.1:{server.port}']",
        "search.providers": "[serpapi, cloud_vision]",
        "search.serpapi.base_url": f"{base}/search.json", "search.serpapi.api_key_env": KEY_ENV,
        "search.serpapi.backoff_base_s": 0.01, "search.serpapi.max_retries": 2,
        "search.cloud_vision.base_url": f"{base}/v1/images:annotate", "search.cloud_vision.api_key_env": KEY_ENV,
        "search.cloud_vision.backoff_base_s": 0.01, "search.cloud_vision.max_retries": 2,
        **more,
    }


def png(color) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), color).save(out, format="PNG")
    return out.getvalue()


def lens(*links):
    return {"search_metadata": {"status": "Success"}, "visual_matches": [
        {"position": i, "title": f"match {i}", "link": link, "source": "example", "thumbnail": f"https://thumb.example/{i}.jpg"}
        for i, link in enumerate(links, 1)
    ]}


def vision(full=(), partial=()):
    pages = [{"url": u, "pageTitle": "full", "fullMatchingImages": [{"url": f"{u}/img.png"}]} for u in full]
    pages += [{"url": u, "pageTitle": "partial", "partialMatchingImages": [{"url": f"{u}/crop.png"}]} for u in partial]
    return {"responses": [{"webDetection": {"pagesWithMatchingImages": pages, "visuallySimilarImages": [{"url": "https://x.example/s.png"}]}}]}


def ask(config, rows):
    frame = pd.DataFrame(rows, columns=["seed_id", "provider", "round", "image_url", "content"])
    return pd.concat(list(query_partitions(config.search, config.network)(iter([frame])))).set_index("seed_id")


def test_serpapi_answers_errors_and_empty_results_become_rows(tmp_path, providers):
    providers.answers = {
        "https://img.example/a.png": [(200, lens("https://p.example/1", "https://p.example/2"))],
        "https://img.example/busy.png": [(429, {"error": "Your account has run out of searches."}), (200, lens("https://p.example/3"))],
        "https://img.example/down.png": [(500, {"error": "Internal error"})],
        "https://img.example/bad.png": [(400, {"error": "Invalid image URL"})],
        "https://img.example/none.png": [(200, {"search_metadata": {"status": "Success"}})],
    }
    config = make_config(tmp_path, **settings(tmp_path, providers))
    rows = [(name, "serpapi", 1, f"https://img.example/{name}.png", None) for name in ("a", "busy", "down", "bad", "none", "unknown")]
    rows.append(("no_url", "serpapi", 1, None, png("red")))
    got = ask(config, rows)
    assert got.loc["a", "status"] == "ok" and got.loc["a", "results"] == 2
    assert got.loc["busy", "status"] == "ok" and got.loc["busy", "attempts"] == 2  # the 429 was retried
    assert got.loc["down", "status"] == "failed" and got.loc["down", "attempts"] == 3 and "HTTP 500" in got.loc["down", "reason"]
    assert got.loc["bad", "status"] == "failed" and "Invalid image URL" in got.loc["bad", "reason"]
    assert got.loc["none", "status"] == "empty"
    assert got.loc["unknown", "status"] == "empty" and "hasn't returned any results" in got.loc["unknown", "reason"]
    assert got.loc["no_url", "status"] == "skipped" and "image URL" in got.loc["no_url", "reason"]
    assert providers.asked["https://img.example/down.png"] == 3 and "no_url" not in providers.asked


def test_a_wrong_key_fails_and_the_key_is_kept_nowhere(tmp_path, providers):
    os.environ["WEBMINE_TEST_WRONG_KEY"] = "wrong-key-123"
    config = make_config(tmp_path, **settings(tmp_path, providers, **{"search.serpapi.api_key_env": "WEBMINE_TEST_WRONG_KEY"}))
    got = ask(config, [("s", "serpapi", 1, "https://img.example/a.png", None)])
    assert got.loc["s", "status"] == "failed" and got.loc["s", "http_status"] == 401
    assert "wrong-key-123" not in got.loc["s", "response"] + got.loc["s", "reason"] and "[redacted]" in got.loc["s", "response"]


def test_cloud_vision_takes_full_then_partial_matches_and_reports_errors(tmp_path, providers):
    images = {name: png(color) for name, color in (("a", "red"), ("err", "green"), ("none", "blue"))}
    sha = {name: hashlib.sha256(data).hexdigest() for name, data in images.items()}
    providers.answers = {
        sha["a"]: [(503, {"error": {"code": 503, "message": "unavailable"}}), (200, vision(full=["https://f.example/1"], partial=["https://q.example/2"]))],
        sha["err"]: [(200, {"responses": [{"error": {"code": 3, "message": "Bad image data."}}]})],
        sha["none"]: [(200, {"responses": [{}]})],
    }
    config = make_config(tmp_path, **settings(tmp_path, providers))
    got = ask(config, [(name, "cloud_vision", 1, None, data) for name, data in images.items()] + [("nothing", "cloud_vision", 1, None, None)])
    assert got.loc["a", "status"] == "ok" and got.loc["a", "results"] == 2 and got.loc["a", "attempts"] == 2
    assert got.loc["err", "status"] == "failed" and "Bad image data" in got.loc["err", "reason"]
    assert got.loc["none", "status"] == "empty"
    assert got.loc["nothing", "status"] == "skipped"


def seeds_table(spark, tables, images: dict[str, tuple[bytes, str | None]]):
    rows = []
    for name, (data, url) in images.items():
        found = decode(data, 10)
        rows.append({**Seed.row(seed_id=found.sha256, source=name, status="ok", width=found.width, height=found.height, format=found.format,
                                phash=found.phash, content=data, image_url=url), "run_id": "setup"})
    from schemas.base import spark_schema

    tables.merge("seeds", spark.createDataFrame(rows, spark_schema(Seed)))


def test_the_stage_asks_each_seed_once_and_retries_failures_on_a_later_run(spark, tmp_path, providers):
    a, b = png("red"), png("blue")
    providers.answers = {
        "https://img.example/a.png": [(200, lens("https://p.example/1", "https://p.example/1", "https://p.example/2"))],
        "https://img.example/b.png": [(500, {"error": "down"})],
        hashlib.sha256(a).hexdigest(): [(200, vision(full=["https://p.example/1", "https://v.example/9"]))],
        hashlib.sha256(b).hexdigest(): [(200, vision())],
    }
    config = make_config(tmp_path, **settings(tmp_path, providers))
    tables = Tables(spark, config.tables, tmp_path / "_staging")
    ctx = Context(config, spark, tables, "search-1", Tracker(config.tracking))
    seeds_table(spark, tables, {"a": (a, "https://img.example/a.png"), "b": (b, "https://img.example/b.png")})

    stats = run_stage(ctx, SearchSeeds())
    assert stats.rows_in == 4
    hits = {(r["provider"], r["url"]): r for r in tables.read("search_hits").collect()}
    assert set(hits) == {("serpapi", "https://p.example/1"), ("serpapi", "https://p.example/2"), ("cloud_vision", "https://p.example/1"),
                         ("cloud_vision", "https://v.example/9")}
    assert hits[("serpapi", "https://p.example/2")]["rank"] == 2 and hits[("cloud_vision", "https://v.example/9")]["matched_image_url"]
    statuses = {(r["provider"], r["seed_id"][:6]): r["status"] for r in tables.read("search_responses").collect()}
    assert sorted(statuses.values()) == ["empty", "failed", "ok", "ok"]
    asked = dict(providers.asked)

    # A rerun asks again only the query that failed; once the provider answers, its hits arrive.
    providers.answers["https://img.example/b.png"] = [(200, lens("https://p.example/7"))]
    ctx.run_id = "search-2"
    tables.set_run_id("search-2")
    stats = run_stage(ctx, SearchSeeds())
    assert stats.rows_in == 1
    assert providers.asked["https://img.example/b.png"] == asked["https://img.example/b.png"] + 1
    assert {k: v for k, v in providers.asked.items() if k != "https://img.example/b.png"} == {
        k: v for k, v in asked.items() if k != "https://img.example/b.png"}
    assert tables.read("search_hits").where("url = 'https://p.example/7'").count() == 1
    assert tables.read("search_responses").where("status = 'failed'").count() == 0

    ctx.run_id = "search-3"
    assert run_stage(ctx, SearchSeeds()).rows_in == 0
    for row in tables.read("search_responses").collect():
        assert KEY not in (row["response"] or "") + (row["reason"] or "")


def test_spend_is_kept_per_answer_and_stops_at_the_budget(spark, tmp_path, providers):
    images = {name: png(color) for name, color in (("a", "red"), ("b", "green"), ("c", "blue"))}
    url = {name: f"https://img.example/{name}.png" for name in images}
    providers.answers = {url["a"]: [(200, lens("https://p.example/a"))], url["b"]: [(200, {"search_metadata": {"status": "Success"}})],
                         url["c"]: [(500, {"error": "down"})]}
    providers.answers.update({hashlib.sha256(data).hexdigest(): [(200, vision(full=[f"https://v.example/{n}"]))] for n, data in images.items()})
    prices = {"search.serpapi.price_per_request_usd": 0.01, "search.cloud_vision.price_per_request_usd": 0.004}

    def run(run_id: str, budget: float):
        config = make_config(tmp_path, **settings(tmp_path, providers, **prices, **{"search.max_spend_usd": budget}))
        tables = Tables(spark, config.tables, tmp_path / "_staging")
        tables.set_run_id(run_id)
        ctx = Context(config, spark, tables, run_id, Tracker(config.tracking))
        return ctx, run_stage(ctx, SearchSeeds())

    config = make_config(tmp_path, **settings(tmp_path, providers, **prices, **{"search.max_spend_usd": 0.035}))
    tables = Tables(spark, config.tables, tmp_path / "_staging")
    seeds_table(spark, tables, {name: (data, url[name]) for name, data in images.items()})
    estimate = {r["provider"]: r for r in estimate_search(Context(config, spark, tables, "estimate", Tracker(config.tracking)))}
    assert (estimate["serpapi"]["requests"], estimate["cloud_vision"]["requests"]) == (3, 3)
    assert estimate["serpapi"]["cost_usd"] == pytest.approx(0.03) and estimate["cloud_vision"]["cost_usd"] == pytest.approx(0.012)
    assert estimate["cloud_vision"]["within_budget_usd"] == pytest.approx(0.005)  # what 0.035 leaves after SerpAPI
    assert not providers.asked  # a dry run asks nothing

    # $0.035 pays for the three Lens queries (the failed one is not billed but was reserved) and one Vision query.
    ctx, stats = run("spend-1", 0.035)
    rows = {(r["provider"], r["seed_id"]): r for r in ctx.tables.read("search_responses").collect()}
    skipped = [r for r in rows.values() if r["status"] == "skipped"]
    assert len(skipped) == 2 and {r["provider"] for r in skipped} == {"cloud_vision"}
    assert all(r["reason"].startswith("budget: search.max_spend_usd $0.035 reached") for r in skipped)
    assert sum(providers.asked.values()) == 1 + 1 + 3 + 1  # the failing Lens query is tried three times
    spend = {s["provider"]: s for s in search_spend(ctx.tables, "spend-1")}
    assert spend["serpapi"]["billed"] == 2 and spend["serpapi"]["cost_usd"] == pytest.approx(0.02)  # ok and empty are billed, 500 is not
    assert spend["cloud_vision"]["billed"] == 1 and spend["cloud_vision"]["cost_usd"] == pytest.approx(0.004)
    assert "search spend" in summary("spend-1", [stats], ctx.tables, {"final_qas": 0}, [], "disabled", spend=list(spend.values()))

    # The same budget: the failed query is asked again and answered; nothing is left for Vision.
    providers.answers[url["c"]] = [(200, lens("https://p.example/c"))]
    asked = sum(providers.asked.values())
    ctx, _ = run("spend-2", 0.035)
    assert sum(providers.asked.values()) == asked + 1
    costs = [r["cost_usd"] for r in ctx.tables.read("search_responses").collect()]
    assert sum(costs) == pytest.approx(0.034) and sum(costs) <= 0.035
    assert ctx.tables.read("search_responses").where("status = 'skipped'").count() == 2

    # A larger budget asks the skipped queries; the answered ones are never asked again.
    ctx, _ = run("spend-3", 1.0)
    assert sum(providers.asked.values()) == asked + 3
    assert ctx.tables.read("search_responses").where("status = 'skipped'").count() == 0
    assert ctx.tables.read("search_responses").agg(F.sum("cost_usd")).first()[0] == pytest.approx(0.042)
    assert run("spend-4", 1.0)[1].rows_in == 0
