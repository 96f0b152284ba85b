"""A real HTTP server on loopback that serves the sample web by Host header.

`forum.localhost:18080/t/1/x` is read from `site/forum.localhost/t/1/x/index.html`.
Names under `.localhost` resolve to loopback (RFC 6761), in Chromium and in the
project's own resolver, so one port serves every host of the sample web.
"""
from __future__ import annotations

import json
import mimetypes
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator
from urllib.parse import unquote, urlsplit


def _handler(root: Path, stopping: threading.Event) -> type[BaseHTTPRequestHandler]:
    site = root / "site"
    faults_file = root / "faults.json"

    class Handler(BaseHTTPRequestHandler):
        server_version = "SampleWeb/1.0"

        def log_message(self, format: str, *args: object) -> None:  # quiet: the pipeline reports outcomes
            pass

        def do_GET(self) -> None:
            host = (self.headers.get("Host") or "").split(":")[0].lower()
            path = unquote(urlsplit(self.path).path)
            # Read per request: the corpus may be (re)generated while the server runs.
            faults = json.loads(faults_file.read_text()) if faults_file.is_file() else {}
            fault = faults.get(f"{host}{path}")
            if fault and "delay_s" in fault:
                # Never answers within any sane limit; ends early when the server stops.
                stopping.wait(fault["delay_s"])
                return
            if fault and "status" in fault:
                self.send_error(fault["status"], "injected fault")
                return
            if fault and "redirect" in fault:
                self.send_response(302)
                self.send_header("Location", fault["redirect"])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if fault and "drip_s" in fault:
                self._drip(fault["drip_s"])
                return
            target = (site / host / path.lstrip("/")).resolve()
            if target.is_dir():
                target = target / "index.html"
            if not str(target).startswith(str(site.resolve())) or not target.is_file():
                self.send_error(404)
                return
            body = target.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", mimetypes.guess_type(target.name)[0] or "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _drip(self, every_s: float) -> None:
            """Headers at once, then a byte of body every `every_s` for as long as the client listens."""
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            try:
                self.wfile.write(b"<html><body><p>")
                while not stopping.wait(every_s):
                    self.wfile.write(b"x")
                    self.wfile.flush()
            except OSError:
                pass  # the client gave up, as it should

    return Handler


@contextmanager
def serve(root: Path, bind: str = "127.0.0.1", port: int = 0) -> Iterator[int]:
    """Serve the sample web under root; yield the bound port; stop on exit."""
    stopping = threading.Event()
    try:
        server = ThreadingHTTPServer((bind, port), _handler(root, stopping))
    except OSError as exc:
        raise RuntimeError(f"sample web: cannot listen on {bind}:{port}: {exc.strerror}") from None
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="sample-web", daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


if __name__ == "__main__":
    import sys

    with serve(Path(sys.argv[1]), port=int(sys.argv[2])) as bound:
        print(f"serving {sys.argv[1]} on 127.0.0.1:{bound}; Ctrl-C stops")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
