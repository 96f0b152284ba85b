"""hostile.localhost: pages and images built to hang, flood, trick or escape a crawler.

Each case is a URL and the outcomes a careful crawler may give it. Anything a page aims at
`canary_port` (a loopback port nobody allow-lists) must never arrive there: redirects, meta
refresh, script navigation, sub-resources, fetch, WebSocket, WebRTC, popups, XML entities.
Behaviours a static file cannot show (dripping bodies, redirects, hangs) are written to
`faults.json`, which `sampleweb.server` reads per request.
"""
from __future__ import annotations

import io
import json
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

HOST = "hostile.localhost"


@dataclass(frozen=True)
class Case:
    path: str
    outcomes: frozenset[str]  # the statuses a careful crawler may give it
    what: str


def _png(size: tuple[int, int], color=(20, 90, 160)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def _bomb_png(side: int = 30_000) -> bytes:
    """A PNG that declares side x side pixels (2.7 GB decoded) in a few kilobytes."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + b"\x00" * side
    rows = zlib.compress(row * 200, 9)  # only the first rows: the header is what a decoder trusts
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def _gif(frames: int = 3) -> bytes:
    images = [Image.new("P", (160, 160), i * 40) for i in range(frames)]
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], duration=100, loop=0)
    return buffer.getvalue()


def _truncated_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (400, 300), (200, 30, 30)).save(buffer, format="JPEG")
    return buffer.getvalue()[:600]


def _page(title: str, body: str, head: str = "") -> str:
    return f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>{head}</head><body><main><h1>{title}</h1>{body}</main></body></html>"


def write(root: Path, port: int, canary_port: int, max_page_bytes: int) -> list[Case]:
    """Write the hostile host under root/site (faults into root/faults.json); return its page cases
    and, last, the page that shows its hostile images (`images.html`)."""
    site = root / "site" / HOST
    site.mkdir(parents=True, exist_ok=True)
    canary = f"127.0.0.1:{canary_port}"
    here = f"http://{HOST}:{port}"
    faults_file = root / "faults.json"
    faults = json.loads(faults_file.read_text()) if faults_file.is_file() else {}
    cases: list[Case] = []

    def page(path: str, html: str | bytes, outcomes: set[str], what: str, fault: dict | None = None) -> None:
        target = site / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(html.encode() if isinstance(html, str) else html)
        if fault:
            faults[f"{HOST}{path}"] = fault
        cases.append(Case(path, frozenset(outcomes), what))

    def fault_only(path: str, fault: dict, outcomes: set[str], what: str) -> None:
        faults[f"{HOST}{path}"] = fault
        cases.append(Case(path, frozenset(outcomes), what))

    text = "<p>Compute the area of a triangle with base 6 and height 4.</p>"
    page("/never-loads.html", _page("Never loads", text + '<script src="/hang.js"></script>'), {"partial"},
         "a script that never arrives: load never ends")
    faults[f"{HOST}/hang.js"] = {"delay_s": 3600}
    fault_only("/drip.html", {"drip_s": 0.5}, {"timeout"}, "a body that drips one byte every half second")
    page("/huge.html", _page("Huge", "<p>filler</p>" * (max_page_bytes // 12 + 1000)), {"too_large"}, "over the size limit")
    fault_only("/loop-a", {"redirect": "/loop-b"}, {"too_many_redirects"}, "a redirect loop")
    faults[f"{HOST}/loop-b"] = {"redirect": "/loop-a"}
    fault_only("/to-canary", {"redirect": f"http://{canary}/redirected"}, {"blocked"}, "a redirect to an unlisted loopback port")
    page("/meta-refresh.html", _page("Meta refresh", text, f'<meta http-equiv="refresh" content="0; url=http://{canary}/meta">'),
         {"ok", "partial"}, "meta refresh to the canary")
    page("/js-navigation.html", _page("Script navigation", text + f"<script>location.href = 'http://{canary}/js';</script>"),
         {"ok", "partial"}, "script navigation to the canary")
    page("/sub-resources.html", _page("Sub-resources", text + f"""
<img src="http://{canary}/img.png" alt="x"><script src="http://{canary}/x.js"></script>
<link rel="stylesheet" href="http://{canary}/x.css"><iframe src="http://{canary}/frame"></iframe>
<video src="http://{canary}/v.mp4"></video><link rel="prefetch" href="http://{canary}/prefetch">"""), {"ok", "partial"},
         "images, scripts, styles, frames, media and prefetches from the canary")
    page("/escape.html", _page("Escapes", text + f"""<script>
fetch('http://{canary}/fetch').catch(() => null);
const xhr = new XMLHttpRequest(); xhr.open('GET', 'http://{canary}/xhr'); xhr.send();
try {{ new WebSocket('ws://{canary}/socket'); }} catch (e) {{}}
navigator.sendBeacon && navigator.sendBeacon('http://{canary}/beacon', 'x');
try {{ const pc = new RTCPeerConnection({{iceServers: [{{urls: 'stun:{canary}'}}]}});
  pc.createDataChannel('x'); pc.createOffer().then(o => pc.setLocalDescription(o)); }} catch (e) {{}}
window.open('http://{canary}/popup');
</script>"""), {"ok", "partial"}, "fetch, XHR, WebSocket, beacon, WebRTC and a popup aimed at the canary")
    page("/binary.html", bytes(range(256)) * 64, {"ok", "partial", "error"}, "binary served as HTML")
    page("/bad-encoding.html", _page("Bad encoding", "<p>caf\xe9 na\xefve</p>").encode("latin-1") + b"\xff\xfe\xc3",
         {"ok"}, "bytes that are not the UTF-8 the page declares")
    page("/busy-loop.html", _page("Busy loop", text + "<script>while (true) {}</script>"), {"timeout"}, "a script that never returns")
    page("/dialogs.html", _page("Dialogs", text + "<script>alert('hi'); confirm('sure?'); prompt('name?');</script>"), {"ok"},
         "alert, confirm and prompt")
    page("/deep.html", _page("Deep", "<div>" * 5000 + "<p>Deep inside.</p>" + "</div>" * 5000), {"ok", "error"},
         "5,000 nested elements")
    page("/wide.html", _page("Wide", "<span>w</span>" * 100_000), {"ok", "partial", "too_large"}, "100,000 siblings")
    page("/paper.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n", {"not_html"}, "a PDF")
    fault_only("/gone.html", {"status": 410}, {"http_error"}, "410 Gone")
    fault_only("/broken.html", {"status": 503}, {"http_error"}, "503")
    page("/private/secret.html", _page("Disallowed", text), {"robots"}, "a path robots.txt disallows")
    (site / "robots.txt").write_text("User-agent: *\nDisallow: /private/\n")

    images = site / "img"
    images.mkdir(exist_ok=True)
    (images / "bomb.png").write_bytes(_bomb_png())
    (images / "truncated.jpg").write_bytes(_truncated_jpeg())
    (images / "animated.gif").write_bytes(_gif())
    (images / "pixel.png").write_bytes(_png((1, 1)))
    (images / "figure.png").write_bytes(_png((240, 180)))
    (images / "entity.svg").write_text(
        f'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY ext SYSTEM "http://{canary}/entity">]>'
        '<svg xmlns="http://www.w3.org/2000/svg" width="200" height="120"><rect width="200" height="120" fill="#3a6"/>'
        '<text x="10" y="60">&ext;</text></svg>'
    )
    figures = "".join(f'<img src="/img/{name}" alt="{name}">' for name in
                      ("bomb.png", "truncated.jpg", "animated.gif", "pixel.png", "figure.png", "entity.svg"))
    page("/images.html", _page("Hostile images", text + figures + f'<img src="{here}/img/missing.png" alt="missing">'),
         {"ok"}, "a decompression bomb, a truncated JPEG, an animated GIF, a tracking pixel, SVG with an external entity")
    faults_file.write_text(json.dumps(faults, indent=1))
    return cases
