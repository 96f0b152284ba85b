from typing import ClassVar

from schemas.base import TableModel


class SearchHit(TableModel):
    """A page URL that a search provider returned for a seed, as returned."""

    table: ClassVar[str] = "search_hits"
    key: ClassVar[str] = "hit_id"

    hit_id: str
    seed_id: str
    provider: str
    round: int
    rank: int
    url: str
    distance: int | None = None
    matched_image_url: str | None = None
    title: str | None = None
