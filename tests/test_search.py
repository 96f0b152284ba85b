"""The self-hosted reverse-image index: built from saved pages or WARC files, queried by a banding join."""
import io
import random

from PIL import Image
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from jobs.build_index import BuildIndex
from runtime.context import Context
from runtime.stage import run_stage
from runtime.tables import Tables
from runtime.tracking import Tracker
from sampleweb.problems import make_problem, render_diagram
from tests.conftest import make_config
from udfs.images import decode
from udfs.search import index_page, index_warc, local_hits, page_url


def figure(seed: int, subject: str = "geometry") -> bytes:
    rng = random.Random(seed)
    buffer = io.BytesIO()
    render_diagram(make_problem(subject, rng, True), rng).save(buffer, format="PNG")
    return buffer.getvalue()


def copy_of(png: bytes, crop: tuple[float, float, float, float], scale: float, quality: int) -> bytes:
    """A copy as found elsewhere: cropped (fractions cut off left, top, right, bottom), resized, re-encoded as JPEG."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    w, h = image.size
    left, top, right, bottom = crop
    image = image.crop((int(w * left), int(h * top), w - int(w * right), h - int(h * bottom)))
    image = image.resize((int(image.width * scale), int(image.height * scale)))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality)
    return out.getvalue()


PAGES = {"forum.localhost/t/1/index.html": ("/img/a.png", 1), "textbook.localhost/ch1/ex.html": ("../fig/b.png", 2)}


def build_site(tmp_path):
    site = tmp_path / "site"
    for path, (ref, seed) in PAGES.items():
        page = site / path
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text(f'<html><body><img src="/static/placeholder.gif" data-src="{ref}"></body></html>')
        image = (page.parent / ref).resolve() if not ref.startswith("/") else site / path.split("/")[0] / ref.lstrip("/")
        image.parent.mkdir(parents=True, exist_ok=True)
        image.write_bytes(figure(seed))
    return site


def test_index_resolves_lazy_and_relative_images_and_keeps_two_hashes(tmp_path):
    site = build_site(tmp_path)
    rows = [row for html in sorted(site.rglob("*.html")) for row in index_page(site, html, page_url(site, html, 18080), 32)]
    assert sorted(r["page_url"] for r in rows) == ["http://forum.localhost:18080/t/1", "http://textbook.localhost:18080/ch1/ex.html"]
    assert {r["image_url"] for r in rows} == {"http://forum.localhost:18080/img/a.png", "http://textbook.localhost:18080/fig/b.png"}
    assert all(r["crop_phash"] and r["crop_phash"] != r["phash"] for r in rows)


def context(spark, tmp_path, **overrides) -> Context:
    config = make_config(tmp_path, **overrides)
    tables = Tables(spark, config.tables, tmp_path / "_staging")
    tables.set_run_id("index-test")
    return Context(config, spark, tables, "index-test", Tracker(config.tracking))


def query(spark, ctx, images: dict[str, bytes]):
    seeds = spark.createDataFrame([(name, 1, decode(data, 10).phash) for name, data in images.items()], "seed_id string, round long, phash string")
    return {(r["seed_id"], r["url"]): r for r in local_hits(seeds, ctx.tables.read("search_index"), ctx.config.search).collect()}


def test_index_built_from_saved_pages_finds_cropped_copies_and_not_unrelated_figures(spark, tmp_path):
    site = build_site(tmp_path)
    ctx = context(spark, tmp_path, **{"search.index.source": str(site)})
    assert run_stage(ctx, BuildIndex()).rows_inserted == 2
    assert run_stage(ctx, BuildIndex()).rows_in == 0  # pages already indexed are not read again
    original = figure(2)
    copies = {
        "crop5": copy_of(original, (0.05, 0.05, 0.05, 0.05), 0.8, 75),
        "crop8_left_top": copy_of(original, (0.08, 0.08, 0.0, 0.0), 1.2, 85),
        "crop_uneven": copy_of(original, (0.04, 0.06, 0.05, 0.03), 1.3, 60),
        "unrelated": figure(11, "physics"),
        "noise": noise_png(),
    }
    hits = query(spark, ctx, copies)
    page = "http://textbook.localhost/ch1/ex.html"
    for name in ("crop5", "crop8_left_top", "crop_uneven"):
        assert (name, page) in hits, name
        assert hits[(name, page)]["rank"] == 1 and hits[(name, page)]["distance"] <= 12
    assert not [key for key in hits if key[0] in ("unrelated", "noise")]
    assert all(key[1] == page for key in hits)


def noise_png() -> bytes:
    out = io.BytesIO()
    Image.effect_noise((300, 200), 80).convert("RGB").save(out, format="PNG")
    return out.getvalue()


def write_warc(path, records):
    with open(path, "wb") as stream:
        writer = WARCWriter(stream, gzip=str(path).endswith(".gz"))
        for url, status, content_type, body in records:
            headers = StatusAndHeaders(f"{status} OK" if status == 200 else f"{status} Not Found", [("Content-Type", content_type)], protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=headers))


def test_index_built_from_warc_files(spark, tmp_path):
    warcs = tmp_path / "warcs"
    warcs.mkdir()
    write_warc(warcs / "crawl-1.warc.gz", [
        ("https://notes.example/ch2/", 200, "text/html; charset=utf-8",
         b'<html><head><base href="https://notes.example/static/"></head><body><img src="fig.png"><img src="missing.png"></body></html>'),
        ("https://notes.example/static/fig.png", 200, "image/png", figure(5)),
        ("https://notes.example/gone", 404, "text/html", b"<img src='/static/fig.png'>"),
    ])
    write_warc(warcs / "crawl-2.warc", [
        ("https://other.example/p", 200, "text/html", b"<img src='https://other.example/i.png'>"),
        ("https://other.example/i.png", 200, "image/png", figure(6)),
    ])
    rows = index_warc(warcs / "crawl-1.warc.gz", 32, 0.05)
    assert [(r["page_url"], r["image_url"]) for r in rows] == [("https://notes.example/ch2/", "https://notes.example/static/fig.png")]
    ctx = context(spark, tmp_path, **{"search.index.source": str(warcs)})
    assert run_stage(ctx, BuildIndex()).rows_inserted == 2
    hits = query(spark, ctx, {"copy": copy_of(figure(6), (0.03, 0.0, 0.03, 0.0), 0.9, 80)})
    assert list(hits) == [("copy", "https://other.example/p")]
