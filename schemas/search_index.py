import datetime as dt
from typing import ClassVar

from schemas.base import TableModel


class IndexedImage(TableModel):
    """One image seen on one page, with its perceptual hash: the local reverse-image index. The index
    grows: each build adds a generation, and a seed is searched again against the generations added
    since its last search only."""

    table: ClassVar[str] = "search_index"
    key: ClassVar[str] = "index_id"

    index_id: str
    image_url: str
    page_url: str
    phash: str
    crop_phash: str | None = None  # of the image's centre (search.index.crop_fraction off each side)
    generation: int  # the index's Delta version this entry was added in
    added_at: dt.datetime
