"""The self-hosted reverse-image index: built from saved pages or WARC files (a crawl's pages and
images in any of its files), queried by a banding join; a grown index is searched for its new part only."""
import io
import random

from PIL import Image
from pyspark.sql import functions as F
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
from jobs.normalize_urls import NormalizeUrls
from jobs.search import SearchSeeds
from udfs.search import local_hits, local_hits_since, one_task_each, page_records, page_url, warc_records


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
    rows = [row for html in sorted(site.rglob("*.html")) for row in page_records(site, html, page_url(site, html, 18080), 32)]
    refs = [r for r in rows if r["kind"] == "ref"]
    images = [r for r in rows if r["kind"] == "image"]
    assert sorted(r["page_url"] for r in refs) == ["http://forum.localhost:18080/t/1", "http://textbook.localhost:18080/ch1/ex.html"]
    assert {r["image_url"] for r in refs} == {r["image_url"] for r in images} == {
        "http://forum.localhost:18080/img/a.png", "http://textbook.localhost:18080/fig/b.png"}
    assert all(r["crop_phash"] and r["crop_phash"] != r["phash"] for r in images)


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
    rows = list(warc_records(str(warcs / "crawl-1.warc.gz"), 32, 0.05, 10_000_000))
    assert [(r["kind"], r["page_url"], r["image_url"]) for r in rows] == [
        ("ref", "https://notes.example/ch2/", "https://notes.example/static/fig.png"),
        ("ref", "https://notes.example/ch2/", "https://notes.example/static/missing.png"),
        ("image", None, "https://notes.example/static/fig.png"),
    ]
    ctx = context(spark, tmp_path, **{"search.index.source": str(warcs)})
    assert run_stage(ctx, BuildIndex()).rows_inserted == 2
    hits = query(spark, ctx, {"copy": copy_of(figure(6), (0.03, 0.0, 0.03, 0.0), 0.9, 80)})
    assert list(hits) == [("copy", "https://other.example/p")]


def test_each_source_file_is_read_in_its_own_task(spark):
    sources = spark.createDataFrame([(f"s3://crawl/{n}.warc.gz", "warc", f"s3://crawl/{n}.warc.gz") for n in range(5)],
                                    "input_key string, kind string, path string")
    assert sorted(len(part) for part in one_task_each(sources).rdd.glom().collect()) == [1, 1, 1, 1, 1]
    assert sorted(len(part) for part in one_task_each(sources, 2).rdd.glom().collect()) == [2, 3]


def test_a_crawl_split_over_files_is_indexed_and_a_grown_index_is_searched_for_its_new_part(spark, tmp_path):
    crawl = tmp_path / "crawl"
    crawl.mkdir()
    # Pages and images split between two files: each page shows an image of the other file.
    write_warc(crawl / "part-0.warc.gz", [
        ("https://a.example/p1", 200, "text/html", b"<img src='/f1.png'><img src='https://b.example/f2.png'>"),
        ("https://a.example/f1.png", 200, "image/png", figure(21)),
    ])
    write_warc(crawl / "part-1.warc.gz", [
        ("https://b.example/f2.png", 200, "image/png", figure(22)),
        ("https://b.example/p2", 200, "text/html", b"<img src='https://a.example/f1.png'>"),
    ])
    ctx = context(spark, tmp_path, **{"search.index.source": f"file://{crawl}/*.warc.gz"})
    assert run_stage(ctx, BuildIndex()).rows_inserted == 3
    first = {(r["page_url"], r["image_url"]): r["generation"] for r in ctx.tables.read("search_index").collect()}
    assert set(first) == {("https://a.example/p1", "https://a.example/f1.png"), ("https://a.example/p1", "https://b.example/f2.png"),
                          ("https://b.example/p2", "https://a.example/f1.png")}
    assert len(set(first.values())) == 1

    from tests.test_search_providers import seeds_table
    seeds_table(spark, ctx.tables, {"copy_f1": (copy_of(figure(21), (0.03, 0.03, 0.0, 0.0), 0.9, 85), None)})
    assert run_stage(ctx, SearchSeeds()).rows_in == 1
    assert {r["url"] for r in ctx.tables.read("search_hits").collect()} == {"https://a.example/p1", "https://b.example/p2"}
    run_stage(ctx, NormalizeUrls())

    # A later crawl file: a new page showing an image indexed from the first files.
    write_warc(crawl / "part-2.warc.gz", [("https://c.example/p3", 200, "text/html", b"<img src='https://a.example/f1.png'>")])
    ctx.run_id = "index-test-2"
    ctx.tables.set_run_id("index-test-2")
    assert run_stage(ctx, BuildIndex()).rows_in == 1  # only the new file is read
    grown = {(r["page_url"], r["image_url"]): r["generation"] for r in ctx.tables.read("search_index").collect()}
    assert grown[("https://c.example/p3", "https://a.example/f1.png")] > max(first.values())

    index = ctx.tables.read("search_index")
    seeds = ctx.tables.read("seeds").select("seed_id", "round", "phash")
    searched = max(first.values())
    assert {r["url"] for r in local_hits_since(seeds.withColumn("searched", F.lit(searched)), index, ctx.config.search).collect()} == {
        "https://c.example/p3"}
    assert len(local_hits_since(seeds.withColumn("searched", F.lit(0)), index, ctx.config.search).collect()) == 3

    stats = run_stage(ctx, SearchSeeds())
    assert stats.rows_in == 1 and stats.rows_inserted == 1  # the new page only, nothing old sent again
    hits = {r["url"]: r for r in ctx.tables.read("search_hits").collect()}
    assert hits["https://c.example/p3"]["run_id"] == "index-test-2" and hits["https://c.example/p3"]["rank"] == 3
    assert {hits[u]["run_id"] for u in ("https://a.example/p1", "https://b.example/p2")} == {"index-test"}
    [response] = ctx.tables.read("search_responses").collect()
    assert response["results"] == 3 and response["index_generation"] == max(grown.values()) and response["run_id"] == "index-test-2"
    assert run_stage(ctx, NormalizeUrls()).rows_inserted == 1
    assert ctx.tables.read("urls").where("url = 'https://c.example/p3'").count() == 1
    assert run_stage(ctx, SearchSeeds()).rows_in == 0
