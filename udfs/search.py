"""The self-hosted reverse-image index: built from saved pages or WARC files, queried in Spark.

Each image a page shows is indexed by two perceptual hashes: the pHash of the whole image and
the pHash of its centre (`search.index.crop_fraction` cut off each side), so that a copy that was
cropped a little still lies close to one of them. A query is a banding join of the seeds' pHashes
against both (runtime/near_duplicates.phash_pairs), so it scales to millions of images; the
pages whose images lie within `search.max_distance` bits are the hits, best first.
"""
from __future__ import annotations

import io
from html.parser import HTMLParser
from pathlib import Path
from typing import Iterator
from urllib.parse import urljoin, urlsplit

import imagehash
import pandas as pd
from PIL import Image
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from runtime.config import SearchConfig
from runtime.keys import stable_id, stable_id_col
from runtime.near_duplicates import phash_pairs
from schemas.search_index import IndexedImage
from udfs.images import _rgb, decode

PROVIDER_LOCAL = "local"
WARC_SUFFIXES = (".warc", ".warc.gz")


class _ImageRefs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.base: str | None = None
        self.refs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v for k, v in attrs if v}
        if tag == "base" and "href" in values and self.base is None:
            self.base = values["href"]
        if tag == "img":
            for attr in ("data-src", "src"):
                if attr in values and not values[attr].startswith("data:"):
                    self.refs.append(values[attr])
                    break


def image_urls(html: str, page: str) -> list[str]:
    """The absolute URLs of the images a page shows, in order, each once."""
    parser = _ImageRefs()
    parser.feed(html)
    base = urljoin(page, parser.base or "")
    return list(dict.fromkeys(urljoin(base, ref) for ref in parser.refs))


def page_url(site: Path, html_file: Path, port: int | None = None) -> str:
    """The URL a page saved as site/<host>/<path> was served at."""
    rel = html_file.relative_to(site)
    host, path = rel.parts[0], "/".join(rel.parts[1:])
    if path.endswith("index.html"):
        path = path[: -len("index.html")].rstrip("/")
    return f"http://{host}{f':{port}' if port else ''}/{path}"


def crop_phash(data: bytes, fraction: float) -> str | None:
    """The pHash of the image's centre, `fraction` of each side cut off."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            rgb = _rgb(image)
    except Exception:  # decode() has already judged the image readable; be safe all the same
        return None
    w, h = rgb.size
    dx, dy = int(w * fraction), int(h * fraction)
    return str(imagehash.phash(rgb.crop((dx, dy, w - dx, h - dy))))


def index_rows(page: str, html: str, image_bytes, min_side: int, crop_fraction: float) -> list[dict]:
    """Index rows for every readable image a page shows; image_bytes(url) gives its bytes or None."""
    rows = []
    for image_url in image_urls(html, page):
        data = image_bytes(image_url)
        if data is None:
            continue
        decoded = decode(data, min_side)
        if decoded.status == "ok":
            rows.append(IndexedImage.row(
                index_id=stable_id(image_url, page), image_url=image_url, page_url=page, phash=decoded.phash,
                crop_phash=crop_phash(data, crop_fraction),
            ))
    return rows


def index_page(site: Path, html_file: Path, url: str, min_side: int, crop_fraction: float = 0.05) -> list[dict]:
    """Index rows for a page saved as site/<host>/<path>, its images saved beside it the same way."""

    def saved(image_url: str) -> bytes | None:
        parts = urlsplit(image_url)
        local = site / (parts.hostname or "") / parts.path.lstrip("/")
        return local.read_bytes() if local.is_file() else None

    return index_rows(url, html_file.read_text(errors="replace"), saved, min_side, crop_fraction)


def index_warc(path: Path, min_side: int, crop_fraction: float) -> list[dict]:
    """Index rows for every HTML page of a WARC file whose images the same file holds."""
    from warcio.archiveiterator import ArchiveIterator

    pages: list[tuple[str, str]] = []
    bodies: dict[str, bytes] = {}
    with open(path, "rb") as stream:
        for record in ArchiveIterator(stream):
            if record.rec_type != "response" or record.http_headers is None:
                continue
            if not record.http_headers.get_statuscode().startswith("2"):
                continue
            url = record.rec_headers.get_header("WARC-Target-URI")
            content_type = (record.http_headers.get_header("Content-Type") or "").lower()
            body = record.content_stream().read()
            if "html" in content_type:
                pages.append((url, body.decode("utf-8", errors="replace")))
            elif content_type.startswith("image/"):
                bodies[url] = body
    return [row for url, html in pages for row in index_rows(url, html, bodies.get, min_side, crop_fraction)]


def saved_sources(source: Path, port: int | None = None) -> list[tuple[str, str, str]]:
    """(input key, kind, path) for each page of a saved-pages folder and each WARC file under source."""
    if source.is_file():
        if not source.name.endswith(WARC_SUFFIXES):
            raise ValueError(f"search.index.source: {source} is not a WARC file (.warc, .warc.gz) or a folder")
        return [(str(source.resolve()), "warc", str(source.resolve()))]
    if not source.is_dir():
        raise FileNotFoundError(f"search.index.source not found: {source}")
    warcs = sorted(p for p in source.rglob("*") if p.name.endswith(WARC_SUFFIXES))
    if warcs:
        return [(str(p.resolve()), "warc", str(p.resolve())) for p in warcs]
    return [(page_url(source, f, port), "page", str(f.resolve())) for f in sorted(source.rglob("*.html"))]


def index_partitions(site: Path | None, min_side: int, crop_fraction: float):
    """A mapInPandas function: sources (input_key, kind, path) in, index rows out."""

    def rows_of(key: str, kind: str, path: str) -> list[dict]:
        if kind == "warc":
            return index_warc(Path(path), min_side, crop_fraction)
        return index_page(site, Path(path), key, min_side, crop_fraction)

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            rows = [row for key, kind, path in zip(batch["input_key"], batch["kind"], batch["path"]) for row in rows_of(key, kind, path)]
            yield pd.DataFrame(rows, columns=IndexedImage.transform_schema().fieldNames())

    return run


def index_matches(seeds: DataFrame, index: DataFrame, search: SearchConfig) -> DataFrame:
    """(seed_id, index_id, distance): index images within max_distance bits of a seed's pHash,
    by the whole image's hash or its centre's, whichever is closer."""
    targets = index.select(F.concat("index_id", F.lit(":full")).alias("target"), "phash").unionByName(
        index.where(F.col("crop_phash").isNotNull()).select(F.concat("index_id", F.lit(":crop")).alias("target"), F.col("crop_phash").alias("phash"))
    )
    pairs = phash_pairs(seeds.select("seed_id", "phash"), "seed_id", targets, "target", search.max_distance,
                        bands=search.index.bands, radius=search.index.probe_radius)
    return (
        pairs.withColumn("index_id", F.substring_index("target", ":", 1))
        .groupBy("seed_id", "index_id").agg(F.min("distance").alias("distance"))
    )


def local_hits(seeds: DataFrame, index: DataFrame, search: SearchConfig) -> DataFrame:
    """Search hits for seeds (seed_id, round, phash): per seed, the top_k pages by their closest image."""
    matches = index_matches(seeds, index, search).join(index.select("index_id", "page_url", "image_url"), "index_id")
    per_page = Window.partitionBy("seed_id", "page_url").orderBy("distance", "image_url")
    per_seed = Window.partitionBy("seed_id").orderBy("distance", "page_url")
    best = (
        matches.withColumn("_n", F.row_number().over(per_page)).where("_n = 1")
        .withColumn("rank", F.row_number().over(per_seed)).where(F.col("rank") <= search.top_k)
        .join(seeds.select("seed_id", "round"), "seed_id")
    )
    return best.select(
        stable_id_col("seed_id", F.lit(PROVIDER_LOCAL), F.col("round").cast("string"), "page_url").alias("hit_id"),
        "seed_id", F.lit(PROVIDER_LOCAL).alias("provider"), F.col("round").cast("long").alias("round"), F.col("rank").cast("long").alias("rank"),
        F.col("page_url").alias("url"), F.col("distance").cast("long").alias("distance"), F.col("image_url").alias("matched_image_url"),
        F.lit(None).cast("string").alias("title"),
    )
