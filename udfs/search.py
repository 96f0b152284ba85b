"""Reverse-image search: the local perceptual-hash index (the offline default provider)."""
from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path
from typing import Iterator
from urllib.parse import urljoin, urlsplit

import numpy as np
import pandas as pd

from runtime.keys import stable_id
from schemas.search_hits import SearchHit
from schemas.search_index import IndexedImage
from udfs.images import decode

PROVIDER_LOCAL = "local_phash"


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


def page_url(site: Path, html_file: Path, port: int) -> str:
    """The URL a page saved as site/<host>/<path> was served at."""
    rel = html_file.relative_to(site)
    host, path = rel.parts[0], "/".join(rel.parts[1:])
    if path.endswith("index.html"):
        path = path[: -len("index.html")].rstrip("/")
    return f"http://{host}:{port}/{path}"


def index_page(site: Path, html_file: Path, url: str, min_side: int) -> list[dict]:
    """Index rows for every readable image that a saved page shows."""
    parser = _ImageRefs()
    parser.feed(html_file.read_text(errors="replace"))
    rows = []
    for ref in dict.fromkeys(parser.refs):
        image_url = urljoin(urljoin(url, parser.base or ""), ref)
        parts = urlsplit(image_url)
        local = site / (parts.hostname or "") / parts.path.lstrip("/")
        if not local.is_file():
            continue
        decoded = decode(local.read_bytes(), min_side)
        if decoded.status == "ok":
            rows.append(IndexedImage.row(index_id=stable_id(image_url, url), image_url=image_url, page_url=url, phash=decoded.phash))
    return rows


def index_partitions(site: Path, min_side: int):
    """A mapInPandas function: saved pages (url, path) in, index rows out."""

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            rows = [row for url, path in zip(batch["url"], batch["path"]) for row in index_page(site, Path(path), url, min_side)]
            yield pd.DataFrame(rows, columns=IndexedImage.transform_schema().fieldNames())

    return run


def local_search(index: pd.DataFrame, top_k: int, max_distance: int, round_: int):
    """A mapInPandas function: seeds (seed_id, phash) in, search hits out.

    The index travels with the function (it is small for the local provider); the
    hits are the top_k pages whose images lie within max_distance bits of the seed.
    """
    hashes = np.array([int(h, 16) for h in index["phash"]], dtype=np.uint64)
    pages = index["page_url"].to_numpy()
    images = index["image_url"].to_numpy()

    def popcount(values: np.ndarray) -> np.ndarray:
        return np.unpackbits(values.view(np.uint8).reshape(-1, 8), axis=1).sum(axis=1)

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            rows = []
            for seed_id, phash in zip(batch["seed_id"], batch["phash"]):
                distances = popcount(hashes ^ np.uint64(int(phash, 16))) if len(hashes) else np.array([], dtype=int)
                best: dict[str, tuple[int, str]] = {}
                for i in np.flatnonzero(distances <= max_distance):
                    candidate = (int(distances[i]), images[i])
                    if pages[i] not in best or candidate < best[pages[i]]:
                        best[pages[i]] = candidate
                ranked = sorted(best.items(), key=lambda item: (item[1][0], item[0]))[:top_k]
                for rank, (page_url, (distance, image_url)) in enumerate(ranked, 1):
                    rows.append(SearchHit.row(
                        hit_id=stable_id(seed_id, PROVIDER_LOCAL, round_, page_url), seed_id=seed_id, provider=PROVIDER_LOCAL,
                        round=round_, rank=rank, url=page_url, distance=distance, matched_image_url=image_url,
                    ))
            yield pd.DataFrame(rows, columns=SearchHit.transform_schema().fieldNames())

    return run
