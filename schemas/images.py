from typing import ClassVar, Literal

from schemas.base import TableModel


class ImageRecord(TableModel):
    """An image referenced by a page, downloaded, decoded and normalised, keyed by its URL."""

    table: ClassVar[str] = "images"
    key: ClassVar[str] = "image_id"

    image_id: str
    url: str  # http(s), or a data: URL (inline images, SVG rasterised by the renderer)
    page_id: str  # the first page that referenced it
    status: Literal["ok", "http_error", "blocked", "robots", "too_large", "too_small", "animated", "unreadable", "timeout", "error"]
    reason: str | None = None
    http_status: int | None = None
    sha256: str | None = None  # of `content`: the same picture under two URLs has one hash
    width: int | None = None
    height: int | None = None
    format: str | None = None  # as downloaded (PNG, GIF, ...); `content` is RGB in images.output_format
    size_bytes: int | None = None  # as downloaded
    phash: str | None = None
    content: bytes | None = None  # only on the first row with this sha256
    duplicate_of: str | None = None  # the image_id holding the content, when this row repeats it
    attempts: int = 1  # downloads so far: a transient failure is tried again by later runs (images.max_attempts)


# Failures in passing: a later run downloads the image again.
TRANSIENT = "status IN ('timeout', 'error') OR (status = 'http_error' AND (http_status >= 500 OR http_status = 429))"
