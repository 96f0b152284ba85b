from typing import ClassVar, Literal

from schemas.base import TableModel


class UrlRecord(TableModel):
    """A normalised, de-duplicated URL; a dropped one keeps its reason and its hits."""

    table: ClassVar[str] = "urls"
    key: ClassVar[str] = "url_id"

    url_id: str
    url: str
    host: str | None = None
    status: Literal["ok", "blocked", "benchmark", "frequent_domain", "invalid"]
    reason: str | None = None
    hit_ids: list[str]
    seed_ids: list[str]
    round: int = 1  # the first search round that found it
