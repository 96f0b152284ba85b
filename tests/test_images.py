import base64
import functools
import io

import pandas as pd
from PIL import Image

from jobs.fetch_images import FetchImages, images_with_content
from runtime.config import ImagesConfig, NetworkConfig
from runtime.context import Context
from runtime.stage import run_stage
from runtime.tables import Tables
from runtime.tracking import Tracker
from schemas.pages import Page
from tests.conftest import make_config
from udfs.images import decode, fetch_partitions, hamming


def encoded(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def png(size=(200, 150), color=(200, 30, 30)) -> bytes:
    return encoded(Image.new("RGB", size, color))


def animated_gif() -> bytes:
    frames = [Image.new("RGB", (120, 120), color) for color in ((0, 0, 255), (255, 0, 0), (0, 255, 0))]
    return encoded(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


@functools.lru_cache(maxsize=1)
def bomb() -> bytes:
    # A tiny file that claims 50,000 x 50,000 pixels.
    return encoded(Image.new("1", (50_000, 50_000)))


def test_decode_ok_and_hash():
    found = decode(png(), min_side=100)
    assert found.status == "ok" and (found.width, found.height, found.format) == (200, 150, "PNG")
    assert len(found.sha256) == 64 and len(found.phash) == 16 and found.content is None


def test_decode_rejects_with_reasons():
    assert decode(png((50, 50)), min_side=100).status == "too_small"
    truncated = decode(png()[:60], min_side=10)
    assert truncated.status == "unreadable" and truncated.reason
    assert decode(b"not an image", min_side=10).status == "unreadable"
    found = decode(bomb(), min_side=10)
    assert found.status == "too_large"
    assert "exceeds the pixel limit" in found.reason or "decompression bomb" in found.reason


def test_normalised_images_are_rgb_and_hash_by_picture():
    transparent = Image.new("RGBA", (120, 100), (0, 0, 0, 0))
    transparent.paste((10, 20, 30, 255), (0, 0, 60, 100))
    found = decode(encoded(transparent), min_side=100, normalize=ImagesConfig())
    stored = Image.open(io.BytesIO(found.content))
    assert (found.status, found.format, stored.format, stored.mode) == ("ok", "PNG", "PNG", "RGB")
    assert stored.getpixel((10, 10)) == (10, 20, 30) and stored.getpixel((100, 10)) == (255, 255, 255)
    # The same picture as PNG and as BMP: one hash, that of the stored bytes.
    picture = Image.new("RGB", (150, 150), (90, 140, 10))
    as_png = decode(encoded(picture), 100, normalize=ImagesConfig())
    as_bmp = decode(encoded(picture, "BMP"), 100, normalize=ImagesConfig())
    assert as_bmp.format == "BMP" and as_png.sha256 == as_bmp.sha256 == __import__("hashlib").sha256(as_png.content).hexdigest()
    jpeg = decode(encoded(picture), 100, normalize=ImagesConfig(output_format="jpeg"))
    assert Image.open(io.BytesIO(jpeg.content)).format == "JPEG"


def test_animated_gifs_keep_their_first_frame_or_are_dropped():
    first = decode(animated_gif(), 100, normalize=ImagesConfig(animated="first_frame"))
    assert first.status == "ok" and Image.open(io.BytesIO(first.content)).getpixel((5, 5)) == (0, 0, 255)
    dropped = decode(animated_gif(), 100, normalize=ImagesConfig(animated="drop"))
    assert (dropped.status, dropped.reason, dropped.content) == ("animated", "animated GIF with 3 frames", None)


def test_hamming():
    assert hamming("ff00", "ff00") == 0
    assert hamming("ff00", "00ff") == 16


def test_fetch_partitions_rows_for_every_outcome(http_server):
    ok = http_server.add("/ok.png", png(), content_type="image/png")
    small = http_server.add("/small.png", png((20, 20)), content_type="image/png")
    broken = http_server.add("/broken.png", png()[:80], content_type="image/png")
    huge = http_server.add("/bomb.png", bomb(), content_type="image/png")
    big = http_server.add("/big.png", b"\0" * 500_000, content_type="image/png")
    missing = http_server.url("/missing.png")
    inline = "data:image/png;base64," + base64.b64encode(png((150, 150))).decode()
    bad_inline = "data:image/png;base64,@@@"
    denied = "http://127.0.0.1:1/denied.png"
    run = fetch_partitions(ImagesConfig(min_side=100, max_bytes=400_000), NetworkConfig(allow_private=[f"127.0.0.1:{http_server.port}"]))
    urls = [ok, small, broken, huge, big, missing, inline, bad_inline, denied]
    batch = pd.DataFrame({"image_id": [str(i) for i in range(len(urls))], "url": urls, "page_id": ["p"] * len(urls)})
    out = pd.concat(list(run(iter([batch])))).set_index("url")
    assert out.loc[ok, "status"] == "ok" and Image.open(io.BytesIO(out.loc[ok, "content"])).size == (200, 150)
    assert out.loc[small, "status"] == "too_small"
    assert out.loc[broken, "status"] == "unreadable" and "truncated" in out.loc[broken, "reason"]
    assert out.loc[huge, "status"] == "too_large" and "pixel" in out.loc[huge, "reason"]
    assert out.loc[big, "status"] == "too_large" and "400000" in out.loc[big, "reason"]
    assert out.loc[missing, "status"] == "http_error" and out.loc[missing, "reason"] == "HTTP 404"
    assert out.loc[inline, "status"] == "ok" and out.loc[inline, "width"] == 150
    assert out.loc[bad_inline, "status"] == "unreadable"
    assert out.loc[denied, "status"] == "blocked"
    assert all(out.loc[u, "content"] is None for u in urls if u not in (ok, inline))


def test_stage_stores_each_picture_once(spark, tmp_path, http_server):
    same, other = png(color=(1, 2, 3)), png(color=(4, 5, 6))

    def bmp(data: bytes) -> bytes:
        return encoded(Image.open(io.BytesIO(data)), "BMP")

    a = http_server.add("/a.png", same, content_type="image/png")  # stored by an earlier run
    b = http_server.add("/b.bmp", bmp(same), content_type="image/bmp")
    c = http_server.add("/c.png", other, content_type="image/png")
    d = http_server.add("/d.bmp", bmp(other), content_type="image/bmp")
    config = make_config(tmp_path, **{"network.allow_private": f"['127.0.0.1:{http_server.port}']"})
    tables = Tables(spark, config.tables, tmp_path / "_staging")
    ctx = Context(config, spark, tables, "run-2", Tracker(config.tracking))
    earlier = next(fetch_partitions(config.images, config.network)(iter([pd.DataFrame({"image_id": ["a"], "url": [a], "page_id": ["p0"]})])))
    schema = tables.read("images").schema
    tables.merge("images", spark.createDataFrame(earlier.assign(run_id="run-1")[schema.fieldNames()], schema))
    tree = [{"kind": "image", "src": u, "alt": "", "text": "", "level": 0, "collapsed": False, "block": 0} for u in (a, b, c, d)]
    page = {**Page.row(url_id="p1", url="http://x/p1", status="ok", tree=tree), "run_id": "run-1"}
    tables.merge("pages", spark.createDataFrame([page], tables.read("pages").schema))
    run_stage(ctx, FetchImages())
    rows = {r["url"]: r for r in tables.read("images").collect()}
    assert len(rows) == 4 and {r["status"] for r in rows.values()} == {"ok"}
    assert rows[a]["sha256"] == rows[b]["sha256"] != rows[c]["sha256"] == rows[d]["sha256"]
    assert rows[b]["duplicate_of"] == "a" and rows[b]["content"] is None  # against earlier runs
    keeper, copy = sorted((rows[c], rows[d]), key=lambda r: r["image_id"])  # within the batch
    assert keeper["content"] is not None and keeper["duplicate_of"] is None
    assert copy["content"] is None and copy["duplicate_of"] == keeper["image_id"]
    # Readers of image bytes see every ok row's picture, the repeats' through their keeper.
    resolved = {r["url"]: r["content"] for r in images_with_content(tables).collect()}
    assert resolved[b] == resolved[a] == rows[a]["content"] and resolved[copy["url"]] == keeper["content"]
