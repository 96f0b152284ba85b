"""Shared fixtures: one Spark session for the whole test session, a loopback HTTP
server with scripted routes, and configurations that write under a temporary folder."""
from __future__ import annotations

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


@pytest.fixture(scope="session")
def spark():
    session = build_session(SparkConfig(master="local[2]", shuffle_partitions=2, driver_memory="2g"))
    yield session
    session.stop()


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
