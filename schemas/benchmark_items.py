from typing import ClassVar, Literal

from schemas.base import TableModel


class BenchmarkItem(TableModel):
    """An evaluation benchmark's item, indexed for decontamination: its question's n-gram hashes
    and its images' perceptual hashes."""

    table: ClassVar[str] = "benchmark_items"
    key: ClassVar[str] = "item_id"

    item_id: str  # <benchmark>/<id as the file gives it>
    benchmark: str
    source: str  # the file it was read from
    status: Literal["ok", "unreadable"]  # unreadable: an image that does not decode, a line without a question
    reason: str | None = None
    question: str
    ngram_hashes: list[int] = []
    image_phashes: list[str] = []
