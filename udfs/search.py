"""The self-hosted reverse-image index: built from saved pages or WARC files, queried in Spark.

A build reads each source file in its own Spark task (a WARC file record by record, from any
fsspec URI) into records: the images each page shows, and the hashes of each readable image.
Pages and images meet in a Spark join on the image URL, so a page and its images may lie in
different files of a crawl. Every build adds a generation to the index.

Each image a page shows is indexed by two perceptual hashes: the pHash of the whole image and
the pHash of its centre (`search.index.crop_fraction` cut off each side), so that a copy that was
cropped a little still lies close to one of them. A query is a banding join of the seeds' pHashes
against both (runtime/near_duplicates.phash_pairs), so it scales to millions of images; the
pages whose images lie within `search.max_distance` bits are the hits, best first.
"""
from __future__ import annotations

import functools
import glob
import io
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Iterator
from urllib.parse import urljoin, urlsplit

import fsspec
import imagehash
import pandas as pd
from fsspec.implementations.local import LocalFileSystem
from PIL import Image
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from runtime.config import IndexConfig, SearchConfig
from runtime.keys import stable_id_col
from runtime.near_duplicates import phash_pairs
from schemas.search_hits import SearchHit
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


# What a source file holds: a page's image references (kind "ref": page_url, image_url) and
# readable images (kind "image": image_url and its hashes). The index is their join on image_url.
RECORD_SCHEMA = T.StructType([T.StructField(name, T.StringType()) for name in ("kind", "page_url", "image_url", "phash", "crop_phash")])


def image_record(image_url: str, data: bytes, min_side: int, crop_fraction: float) -> dict | None:
    decoded = decode(data, min_side)
    if decoded.status != "ok":
        return None
    return {"kind": "image", "page_url": None, "image_url": image_url, "phash": decoded.phash, "crop_phash": crop_phash(data, crop_fraction)}


def ref_records(page: str, html: str) -> list[dict]:
    return [{"kind": "ref", "page_url": page, "image_url": url, "phash": None, "crop_phash": None} for url in image_urls(html, page)]


def page_records(site: Path, html_file: Path, url: str, min_side: int, crop_fraction: float = 0.05) -> list[dict]:
    """Records of a page saved as site/<host>/<path>, its images saved beside it the same way."""
    refs = ref_records(url, html_file.read_text(errors="replace"))
    images = []
    for ref in refs:
        parts = urlsplit(ref["image_url"])
        local = site / (parts.hostname or "") / parts.path.lstrip("/")
        if local.is_file():
            images.append(image_record(ref["image_url"], local.read_bytes(), min_side, crop_fraction))
    return refs + [image for image in images if image]


def warc_records(uri: str, min_side: int, crop_fraction: float, max_record_bytes: int) -> Iterator[dict]:
    """Records of a WARC file at any fsspec URI, read as a stream: one response record at a time
    (a record over max_record_bytes is passed over), never the whole file."""
    from warcio.archiveiterator import ArchiveIterator

    with fsspec.open(uri, "rb") as stream:
        for record in ArchiveIterator(stream):
            if record.rec_type != "response" or record.http_headers is None:
                continue
            if not record.http_headers.get_statuscode().startswith("2"):
                continue
            url = record.rec_headers.get_header("WARC-Target-URI")
            content_type = (record.http_headers.get_header("Content-Type") or "").lower()
            if "html" not in content_type and not content_type.startswith("image/"):
                continue
            body = record.content_stream().read(max_record_bytes + 1)
            if len(body) > max_record_bytes:
                continue
            if "html" in content_type:
                yield from ref_records(url, body.decode("utf-8", errors="replace"))
            elif (image := image_record(url, body, min_side, crop_fraction)) is not None:
                yield image


def saved_sources(source: str, port: int | None = None) -> list[tuple[str, str, str]]:
    """(input key, kind, path or URI) for each page of a local saved-pages folder, or each WARC file
    that source names: a file, a folder or a glob, local or any fsspec URI."""
    fs, path = fsspec.core.url_to_fs(source)
    local = isinstance(fs, LocalFileSystem)

    def uri(found: str) -> str:
        return found if local else fs.unstrip_protocol(found)

    if glob.has_magic(path):
        found = sorted(fs.glob(path))
    elif fs.isdir(path):
        found = sorted(fs.find(path))
    elif fs.isfile(path):
        if not path.endswith(WARC_SUFFIXES):
            raise ValueError(f"search.index.source: {source} is not a WARC file (.warc, .warc.gz) or a folder")
        found = [path]
    else:
        raise FileNotFoundError(f"search.index.source not found: {source}")
    warcs = [uri(f) for f in found if f.endswith(WARC_SUFFIXES)]
    if warcs:
        return [(w, "warc", w) for w in warcs]
    if not local or not fs.isdir(path):
        raise ValueError(f"search.index.source: no WARC files (.warc, .warc.gz) at {source}; saved pages are read from a local folder")
    site = Path(path)
    return [(page_url(site, f, port), "page", str(f.resolve())) for f in sorted(site.rglob("*.html"))]


def record_partitions(site: Path | None, config: IndexConfig):
    """A mapInPandas function: sources (input_key, kind, path) in, records (RECORD_SCHEMA) out."""

    def records_of(key: str, kind: str, path: str) -> Iterator[dict]:
        if kind == "warc":
            return warc_records(path, config.min_side, config.crop_fraction, config.max_record_bytes)
        return iter(page_records(site, Path(path), key, config.min_side, config.crop_fraction))

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        columns = RECORD_SCHEMA.fieldNames()
        for batch in batches:
            for key, kind, path in zip(batch["input_key"], batch["kind"], batch["path"]):
                rows: list[dict] = []
                try:
                    for row in records_of(key, kind, path):
                        rows.append(row)
                        if len(rows) >= 5000:  # a large WARC file goes out in chunks
                            yield pd.DataFrame(rows, columns=columns)
                            rows = []
                except Exception as exc:  # a truncated or corrupt file: what was read before stays
                    print(f"[index] {key}: unreadable past this point: {type(exc).__name__}: {str(exc)[:200]}", file=sys.stderr, flush=True)
                yield pd.DataFrame(rows, columns=columns)

    return run


def one_task_each(sources: DataFrame, most: int | None = None) -> DataFrame:
    """Sources spread so that each Spark task reads one (or, past `most` tasks, a share of them)."""
    n = sources.count()
    tasks = max(1, min(n, most) if most else n)
    # An exact placement: partition i holds the sources numbered i modulo tasks.
    placed = sources.rdd.zipWithIndex().map(lambda pair: (pair[1] % tasks, pair[0])).partitionBy(tasks, lambda k: k).values()
    return sources.sparkSession.createDataFrame(placed, sources.schema)


def index_from_records(records: DataFrame, indexed: DataFrame) -> DataFrame:
    """Index rows (less generation and added_at): each page's references joined on image_url with the
    images of every file read, and with the images already in the index (an earlier file of the crawl)."""
    images = records.where(F.col("kind") == "image").select("image_url", "phash", "crop_phash").unionByName(
        indexed.select("image_url", "phash", "crop_phash")
    ).dropDuplicates(["image_url"])
    refs = records.where(F.col("kind") == "ref").select("page_url", "image_url").dropDuplicates()
    return refs.join(images, "image_url").select(
        stable_id_col("image_url", "page_url").alias("index_id"), "image_url", "page_url", "phash", "crop_phash"
    )


def index_generation(index: DataFrame) -> int:
    """The index's newest generation; 0 when it is empty."""
    return int(index.agg(F.max("generation")).first()[0] or 0)


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


def local_hits_since(seeds: DataFrame, index: DataFrame, search: SearchConfig) -> DataFrame:
    """Search hits for seeds (seed_id, round, phash, searched) against the index entries of generations
    after each seed's `searched`: a seed searched before is not searched again against old entries."""
    parts = [
        local_hits(seeds.where(F.col("searched") == searched), index.where(F.col("generation") > searched), search)
        for searched in sorted(r[0] for r in seeds.select("searched").distinct().collect())
    ]
    if not parts:
        return seeds.sparkSession.createDataFrame([], SearchHit.transform_schema())
    return functools.reduce(DataFrame.unionByName, parts)


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
