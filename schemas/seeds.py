from typing import ClassVar

from schemas.base import TableModel


class Seed(TableModel):
    """A seed image, keyed by the SHA-256 of its bytes; unreadable ones keep a reason."""

    table: ClassVar[str] = "seeds"
    key: ClassVar[str] = "seed_id"

    seed_id: str
    source: str
    subject: str | None = None
    round: int = 1
    status: str  # ok | unreadable | too_small | too_large | missing
    reason: str | None = None
    width: int | None = None
    height: int | None = None
    format: str | None = None
    phash: str | None = None
    content: bytes | None = None
