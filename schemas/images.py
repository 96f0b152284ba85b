from typing import ClassVar

from schemas.base import TableModel


class ImageRecord(TableModel):
    """An image referenced by a page, downloaded and decoded, keyed by its URL."""

    table: ClassVar[str] = "images"
    key: ClassVar[str] = "image_id"

    image_id: str
    url: str
    page_id: str  # the first page that referenced it
    status: str  # ok | http_error | blocked | too_large | too_small | unreadable | timeout | error
    reason: str | None = None
    sha256: str | None = None
    width: int | None = None
    height: int | None = None
    format: str | None = None
    size_bytes: int | None = None
    phash: str | None = None
    content: bytes | None = None
