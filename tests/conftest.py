"""Shared fixtures: one Spark session for the whole test session, a loopback HTTP
server with scripted routes, and configurations that write under a temporary folder."""
from __future__ import annotations

import gc
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from runtime.config import PipelineConfig, SparkConfig, load_config
from runtime.session import build_session

REPO = Path(__file__).resolve().parent.parent
# The key the loopback LLM server is called with. It is set before the Spark session starts,
# as a user's key is, so that Spark's Python workers inherit it; tests check it leaks nowhere.
LLM_KEY_ENV = "WEBMINE_TEST_LLM_KEY"
LLM_TEST_KEY = "sk-live-7f3a9c-never-written-anywhere"
# For whole-pipeline runs over the sample web: its hanging page times out soon, yet on 2 cores a
# page rendered among 15 others by a browser that has just started can take 4 s. One attempt per
# page and image: these runs compare a rerun with the first run, which a retry of the sample web's
# failing pages would change (retries: tests/test_retries.py).
SAMPLE_WEB_RENDER = {"render.page_timeout_s": 8, "render.settle_timeout_s": 2, "render.max_attempts": 1, "images.max_attempts": 1}
os.environ[LLM_KEY_ENV] = LLM_TEST_KEY


@pytest.fixture(scope="session")
def spark():
    session = build_session(SparkConfig(master="local[2]", shuffle_partitions=2, driver_memory="4g"))
    yield session
    session.stop()


@pytest.fixture(autouse=True, scope="module")
def _free_spark_memory_after_module():
    """One session serves the whole suite: what a module's frames cached or checkpointed is
    freed when the module ends, not at the JVM's next periodic collection."""
    yield
    from pyspark.sql import SparkSession

    session = SparkSession.getActiveSession()
    if session is not None:
        session.catalog.clearCache()
        gc.collect()
        session.sparkContext._jvm.System.gc()


# What a pages row says of the page: the same on the static and the browser path.
RENDERED_FIELDS = ("status", "title", "tree", "posts", "structured_data", "content_hash")


def same_render(a: dict, b: dict) -> bool:
    return all(a[name] == b[name] for name in RENDERED_FIELDS)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    delay_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    failures: int = 0  # the first this many requests are answered 503


class LoopbackServer:
    """A real HTTP server on 127.0.0.1 answering scripted routes and counting requests."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.hits: dict[str, int] = {}
        self.spans: dict[str, tuple[float, float]] = {}  # path -> when its (last) request came and was answered
        self._lock = threading.Lock()
        self._stop = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                with server._lock:
                    server.hits[self.path] = server.hits.get(self.path, 0) + 1
                started = time.monotonic()
                try:
                    self.answer()
                finally:
                    server.spans[self.path] = (started, time.monotonic())

            def answer(self) -> None:
                route = server.routes.get(self.path)
                if route is None:
                    self.send_error(404)
                    return
                if route.delay_s:
                    server._stop.wait(route.delay_s)
                if server.hits[self.path] <= route.failures:
                    self.send_error(503, "try again later")
                    return
                self.send_response(route.status)
                self.send_header("Content-Type", route.content_type)
                self.send_header("Content-Length", str(len(route.body)))
                for key, value in route.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                try:
                    self.wfile.write(route.body)
                except OSError:
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def add(self, path: str, body: bytes | str = b"", **kwargs) -> str:
        self.routes[path] = Route(body.encode() if isinstance(body, str) else body, **kwargs)
        return self.url(path)

    def close(self) -> None:
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def http_server():
    server = LoopbackServer()
    yield server
    server.close()


def snapshot(tables) -> dict[str, tuple[int, list[str]]]:
    """Every data table's version and rows. `stage_runs`, the runner's own note of what each stage
    last looked at, is left out: a stage whose input a later stage wrote (next_round reads
    valid_qas) looks once more on a rerun and notes it."""
    from runtime.tables import MODELS

    return {name: (tables.version(name), sorted(map(repr, tables.read(name).collect())))
            for name in MODELS if name != "stage_runs" and tables.exists(name)}


def settings_for(tmp: Path, **overrides) -> dict[str, str]:
    """Overrides of conf/local.yaml for tests: everything under tmp, tracking off, small parallelism."""
    settings = {
        "run.work_dir": str(tmp),
        "tables.root": str(tmp / "tables"),
        "tracking.enabled": "false",
        "tracking.uri": f"sqlite:///{tmp / 'mlflow.db'}",
        "tracking.artifact_root": str(tmp / "mlartifacts"),
        "sample_web.enabled": "false",
        "sample_web.dir": str(tmp / "sample_web"),
        "spark.master": "local[2]",
        "spark.shuffle_partitions": "2",
        "render.partitions": "1",
        "images.partitions": "1",
        "urls.blocklist_file": str(REPO / "conf" / "url_blocklist.txt"),
        "urls.benchmark_hosts_file": str(REPO / "conf" / "benchmark_hosts.txt"),
    }
    settings.update({k: str(v) for k, v in overrides.items()})
    return settings


def make_config(tmp: Path, **overrides) -> PipelineConfig:
    settings = settings_for(tmp, **overrides)
    return load_config(REPO / "conf" / "local.yaml", [f"{k}={v}" for k, v in settings.items()])


@pytest.fixture
def wait_until():
    def wait(predicate, timeout_s: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.05)
        return False

    return wait


@dataclass
class AuditedRuns:
    """Two pipeline runs over one sample web, with a hand review between them."""

    config: PipelineConfig
    settings: dict[str, str]  # the overrides of conf/local.yaml that the second run used
    tables: object
    reviewed: list[str]  # final_ids the review rejected
    versions: dict[str, dict[str, int]]  # "first" / "review" / "second" -> table -> version after it
    final_qas: dict[str, dict[str, dict]]  # the same moments -> final_id -> row
    urls: dict[str, dict[str, dict]]


@pytest.fixture(scope="session")
def audited_runs(spark, tmp_path_factory):
    """A first run on a few seeds; a review that rejects two final QAs by hand (an UPDATE
    stamped as run `audit-review`); a second run with more seeds (a config change)."""
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    from jobs.run_pipeline import before, pipeline
    from runtime.cli import main
    from runtime.tables import MODELS, Tables

    tmp = tmp_path_factory.mktemp("audited")
    port = free_port()
    common = {
        "sample_web.enabled": "true",
        "sample_web.port": port,
        "sample_web.content_pages": 15,
        "network.allow_private": f"['*.localhost:{port}']",
        **SAMPLE_WEB_RENDER,
        "stages.batch_rows": 200,
    }
    config = make_config(tmp, **common)
    tables = Tables(spark, config.tables, tmp / "_staging")
    versions, final_qas, urls = {}, {}, {}

    def run(run_id: str, seed_fraction: float) -> dict[str, str]:
        settings = settings_for(tmp, **common, **{"sample_web.seed_fraction": seed_fraction})
        argv = ["--conf", str(REPO / "conf" / "local.yaml"), "--run-id", run_id] + [f"--set={k}={v}" for k, v in settings.items()]
        assert main("run_pipeline", pipeline, argv, before=before) == 0
        return settings

    def snapshot(moment: str) -> None:
        versions[moment] = {name: tables.version(name) for name in MODELS if tables.exists(name)}
        final_qas[moment] = {r["final_id"]: r.asDict(recursive=True) for r in tables.read("final_qas").collect()}
        urls[moment] = {r["url_id"]: r.asDict(recursive=True) for r in tables.read("urls").collect()}

    run("audit-first", 0.1)
    snapshot("first")
    reviewed = sorted(k for k, row in final_qas["first"].items() if row["status"] == "ok")[:2]
    with tables.stamped("audit-review"):
        DeltaTable.forPath(spark, tables.location("final_qas")).update(
            F.col("final_id").isin(reviewed),
            {"status": F.lit("rejected"), "reason": F.lit("manual review: figure does not match"), "run_id": F.lit("audit-review")},
        )
    snapshot("review")
    settings = run("audit-second", 0.8)
    snapshot("second")
    return AuditedRuns(config, settings, tables, reviewed, versions, final_qas, urls)
