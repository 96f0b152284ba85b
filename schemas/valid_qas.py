from typing import ClassVar, Literal

from schemas.base import TableModel


class ValidQA(TableModel):
    """A candidate QA after validation, with its images and lineage. Keyed by content (question
    and image bytes), so a copy on a second URL merges into one row."""

    table: ClassVar[str] = "valid_qas"
    key: ClassVar[str] = "final_id"

    final_id: str
    qa_id: str  # the candidate this row was made from
    source_qa_ids: list[str]  # every candidate that merged into this row
    status: Literal["ok", "rejected"]
    reason: str | None = None
    question: str
    solution: str | None = None
    answer: str | None = None  # the page's short final answer, if it states one
    pattern: str  # the page structure or engine the pair was read with
    validated_by: str  # rules@1 or llm:<model>
    image_ids: list[str] = []
    image_sha256: list[str] = []
    has_images: bool = False
    subject: str | None = None
    page_id: str
    url: str
    hit_ids: list[str] = []
    seed_ids: list[str] = []
    round: int = 1  # the search round that found its page
