import datetime as dt
from typing import ClassVar, Literal

from schemas.base import TableModel


class Seed(TableModel):
    """A seed image, keyed by the SHA-256 of its bytes; unreadable ones keep a reason. Round 1 comes from
    seeds.source, round k+1 from the images of QAs validated in round k."""

    table: ClassVar[str] = "seeds"
    key: ClassVar[str] = "seed_id"

    seed_id: str
    source: str
    subject: str | None = None
    round: int = 1
    status: Literal["ok", "unreadable", "too_small", "too_large", "missing", "near_duplicate", "over_cap"]
    reason: str | None = None
    width: int | None = None
    height: int | None = None
    format: str | None = None
    phash: str | None = None
    content: bytes | None = None
    image_url: str | None = None  # where the image is on the web (SerpAPI searches by URL)
    # Set by seeds.publish: the copy in object storage, when the signed image_url stops working,
    # and why the last upload failed (null once one succeeds).
    published_uri: str | None = None
    image_url_expires_at: dt.datetime | None = None
    publish_error: str | None = None
