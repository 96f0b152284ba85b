"""Image work: decode with Pillow's guards, hash, and download as a Spark map function."""
from __future__ import annotations

import hashlib
import io
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Iterator

import imagehash
import pandas as pd
from PIL import Image, UnidentifiedImageError

from runtime.config import ImagesConfig, NetworkConfig
from runtime.network import Blocked, FetchError, NetworkPolicy, fetch
from schemas.images import ImageRecord

# Pillow's decompression-bomb guard: refuse images over this many pixels outright.
MAX_PIXELS = 40_000_000
Image.MAX_IMAGE_PIXELS = MAX_PIXELS


@dataclass
class Decoded:
    """What a decode found: status ok with the facts, or another status with a reason."""

    status: str
    reason: str | None = None
    sha256: str | None = None
    width: int | None = None
    height: int | None = None
    format: str | None = None
    phash: str | None = None


def decode(data: bytes, min_side: int, max_side: int = 1 << 16) -> Decoded:
    sha = hashlib.sha256(data).hexdigest()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                fmt = image.format
                width, height = image.size
                if width * height > MAX_PIXELS or max(width, height) > max_side:
                    return Decoded("too_large", f"{width}x{height} exceeds the pixel limit", sha, width, height, fmt)
                image.load()
                if min(width, height) < min_side:
                    return Decoded("too_small", f"{width}x{height} is under {min_side} px", sha, width, height, fmt)
                phash = str(imagehash.phash(image.convert("RGB")))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        return Decoded("too_large", f"decompression bomb: {exc}", sha)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        return Decoded("unreadable", f"{type(exc).__name__}: {exc}", sha)
    return Decoded("ok", None, sha, width, height, fmt, phash)


def hamming(a: str, b: str) -> int:
    return bin(int(a, 16) ^ int(b, 16)).count("1")


def fetch_partitions(images: ImagesConfig, network: NetworkConfig):
    """A mapInPandas function: (image_id, url, page_id) in, images rows out."""
    policy = NetworkPolicy(tuple(network.allow_private), network.user_agent)

    def one(image_id: str, url: str, page_id: str) -> dict:
        base = {"image_id": image_id, "url": url, "page_id": page_id}
        try:
            result = fetch(url, policy, timeout_s=images.timeout_s, max_bytes=images.max_bytes)
        except Blocked as exc:
            return ImageRecord.row(**base, status="blocked", reason=str(exc))
        except FetchError as exc:
            status, _, detail = str(exc).partition(" ")
            return ImageRecord.row(**base, status=status if status in ("timeout", "too_large") else "error", reason=str(exc))
        if result.status >= 400:
            return ImageRecord.row(**base, status="http_error", reason=f"HTTP {result.status}")
        decoded = decode(result.body, images.min_side)
        return ImageRecord.row(
            **base, **decoded.__dict__, size_bytes=len(result.body), content=result.body if decoded.status == "ok" else None
        )

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        with ThreadPoolExecutor(max_workers=images.concurrency) as pool:
            for batch in batches:
                rows = list(pool.map(one, batch["image_id"], batch["url"], batch["page_id"]))
                yield pd.DataFrame(rows, columns=ImageRecord.transform_schema().fieldNames())

    return run
