from typing import ClassVar

from schemas.base import TableModel


class FinalQA(TableModel):
    """A validated QA with its lineage. Keyed by content, so a copy on a second URL merges in."""

    table: ClassVar[str] = "final_qas"
    key: ClassVar[str] = "final_id"

    final_id: str
    qa_id: str  # the candidate this row was made from
    source_qa_ids: list[str]  # every candidate that merged into this row
    status: str  # ok | rejected
    reason: str | None = None
    question: str
    solution: str | None = None
    answer: str | None = None
    answer_source: str  # where the answer came from, e.g. page:numbered-solutions
    image_ids: list[str] = []
    image_sha256: list[str] = []
    has_images: bool = False
    subject: str | None = None
    page_id: str
    url: str
    hit_ids: list[str] = []
    seed_ids: list[str] = []
