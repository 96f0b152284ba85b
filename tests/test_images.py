import functools
import io

import pandas as pd
from PIL import Image

from runtime.config import ImagesConfig, NetworkConfig
from udfs.images import decode, fetch_partitions, hamming


def png(size=(200, 150), color=(200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


@functools.lru_cache(maxsize=1)
def bomb() -> bytes:
    # A tiny file that claims 50,000 x 50,000 pixels.
    buffer = io.BytesIO()
    Image.new("1", (50_000, 50_000)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_decode_ok_and_hash():
    found = decode(png(), min_side=100)
    assert found.status == "ok" and (found.width, found.height, found.format) == (200, 150, "PNG")
    assert len(found.sha256) == 64 and len(found.phash) == 16


def test_decode_rejects_with_reasons():
    assert decode(png((50, 50)), min_side=100).status == "too_small"
    truncated = decode(png()[:60], min_side=10)
    assert truncated.status == "unreadable" and truncated.reason
    assert decode(b"not an image", min_side=10).status == "unreadable"
    found = decode(bomb(), min_side=10)
    assert found.status == "too_large"
    assert "exceeds the pixel limit" in found.reason or "decompression bomb" in found.reason


def test_hamming():
    assert hamming("ff00", "ff00") == 0
    assert hamming("ff00", "00ff") == 16


def test_fetch_partitions_rows_for_every_outcome(http_server):
    ok = http_server.add("/ok.png", png(), content_type="image/png")
    small = http_server.add("/small.png", png((20, 20)), content_type="image/png")
    broken = http_server.add("/broken.png", png()[:80], content_type="image/png")
    huge = http_server.add("/bomb.png", bomb(), content_type="image/png")
    missing = http_server.url("/missing.png")
    run = fetch_partitions(ImagesConfig(min_side=100), NetworkConfig(allow_private=[f"127.0.0.1:{http_server.port}"]))
    urls = [ok, small, broken, huge, missing, "http://127.0.0.1:1/denied.png"]
    batch = pd.DataFrame({"image_id": [str(i) for i in range(len(urls))], "url": urls, "page_id": ["p"] * len(urls)})
    out = pd.concat(list(run(iter([batch])))).set_index("url")
    assert out.loc[ok, "status"] == "ok" and out.loc[ok, "content"] is not None
    assert out.loc[small, "status"] == "too_small"
    assert out.loc[broken, "status"] == "unreadable"
    assert out.loc[huge, "status"] == "too_large"
    assert out.loc[missing, "status"] == "http_error" and out.loc[missing, "reason"] == "HTTP 404"
    assert out.loc["http://127.0.0.1:1/denied.png", "status"] == "blocked"
    assert all(out.loc[u, "content"] is None for u in urls if u != ok)
