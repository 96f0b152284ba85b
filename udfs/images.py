"""Image work: decode with Pillow's guards, normalise, hash, and download as a Spark map function."""
from __future__ import annotations

import base64
import binascii
import hashlib
import io
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Iterator
from urllib.parse import unquote_to_bytes

import imagehash
import pandas as pd
from PIL import Image, UnidentifiedImageError

from runtime.config import ImagesConfig, NetworkConfig
from runtime.network import Blocked, FetchError, NetworkPolicy, fetch
from runtime.robots import Robots
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
    content: bytes | None = None  # the normalised image (only when asked for)


def _rgb(image: Image.Image) -> Image.Image:
    """RGB, transparency flattened onto white (diagrams are drawn for a white page)."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return image.convert("RGB")


def decode(data: bytes, min_side: int, max_side: int = 1 << 16, normalize: ImagesConfig | None = None) -> Decoded:
    """Decode under the bomb guard and check the size. With `normalize`, the image is
    also converted to RGB and re-encoded as conf says (an animation to its first frame,
    or refused), and sha256 is that of the re-encoded bytes, so that the same picture
    in two files or formats has one hash; without it, sha256 is that of `data`."""
    sha = hashlib.sha256(data).hexdigest()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                fmt = image.format
                width, height = image.size
                if width * height > MAX_PIXELS or max(width, height) > max_side:
                    return Decoded("too_large", f"{width}x{height} exceeds the pixel limit", sha, width, height, fmt)
                frames = getattr(image, "n_frames", 1)
                if normalize is not None and frames > 1 and normalize.animated == "drop":
                    return Decoded("animated", f"animated {fmt} with {frames} frames", sha, width, height, fmt)
                image.load()  # the first frame
                if min(width, height) < min_side:
                    return Decoded("too_small", f"{width}x{height} is under {min_side} px", sha, width, height, fmt)
                rgb = _rgb(image)
                phash = str(imagehash.phash(rgb))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        return Decoded("too_large", f"decompression bomb: {exc}", sha)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        return Decoded("unreadable", f"{type(exc).__name__}: {exc}", sha)
    if normalize is None:
        return Decoded("ok", None, sha, width, height, fmt, phash)
    out = io.BytesIO()
    if normalize.output_format == "jpeg":
        rgb.save(out, format="JPEG", quality=normalize.jpeg_quality)
    else:
        rgb.save(out, format="PNG")
    content = out.getvalue()
    return Decoded("ok", None, hashlib.sha256(content).hexdigest(), width, height, fmt, phash, content)


def read_data_url(url: str, max_bytes: int) -> bytes:
    """The bytes of a data: URL (an inline image or a rasterised SVG), size-capped."""
    header, comma, payload = url[len("data:"):].partition(",")
    if not comma:
        raise ValueError("data: URL without a comma")
    if len(payload) * 3 // 4 > max_bytes:
        raise FetchError(f"too_large data: URL over {max_bytes} bytes")
    if header.lower().endswith(";base64"):
        try:
            return base64.b64decode(payload)
        except binascii.Error as exc:
            raise ValueError(f"data: URL is not base64: {exc}") from None
    return unquote_to_bytes(payload)


def hamming(a: str, b: str) -> int:
    return bin(int(a, 16) ^ int(b, 16)).count("1")


def fetch_partitions(images: ImagesConfig, network: NetworkConfig):
    """A mapInPandas function: (image_id, url, page_id) in, images rows out."""
    policy = NetworkPolicy.from_config(network)

    def one(robots: Robots | None, image_id: str, url: str, page_id: str) -> dict:
        base = {"image_id": image_id, "url": url, "page_id": page_id}
        try:
            if url.startswith("data:"):
                body = read_data_url(url, images.max_bytes)
            else:
                policy.check(url)  # a refused address is `blocked`, before its robots.txt is asked for
                refusal = robots.refusal(url) if robots is not None else None
                if refusal:
                    return ImageRecord.row(**base, status="robots", reason=refusal)
                result = fetch(url, policy, timeout_s=images.timeout_s, max_bytes=images.max_bytes)
                if result.status >= 400:
                    return ImageRecord.row(**base, status="http_error", reason=f"HTTP {result.status}", http_status=result.status)
                body = result.body
        except Blocked as exc:
            return ImageRecord.row(**base, status="blocked", reason=str(exc))
        except FetchError as exc:
            status = str(exc).split(" ", 1)[0]
            return ImageRecord.row(**base, status=status if status in ("timeout", "too_large") else "error", reason=str(exc))
        except ValueError as exc:
            return ImageRecord.row(**base, status="unreadable", reason=str(exc))
        decoded = decode(body, images.min_side, normalize=images)
        return ImageRecord.row(**base, **decoded.__dict__, size_bytes=len(body))

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        robots = Robots(policy, timeout_s=images.timeout_s) if images.obey_robots else None  # read once per site and task
        with ThreadPoolExecutor(max_workers=images.concurrency) as pool:
            for batch in batches:
                rows = list(pool.map(partial(one, robots), batch["image_id"], batch["url"], batch["page_id"]))
                yield pd.DataFrame(rows, columns=ImageRecord.transform_schema().fieldNames())

    return run
