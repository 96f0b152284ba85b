from typing import ClassVar, Literal

from schemas.base import TableModel


class AlignedQA(TableModel):
    """A valid QA with its chosen answer, where that answer came from, and lineage."""

    table: ClassVar[str] = "aligned_qas"
    key: ClassVar[str] = "final_id"

    final_id: str
    qa_id: str  # the candidate QA this row was made from
    source_qa_ids: list[str]  # every candidate that merged into this row
    status: Literal["ok", "rejected"]
    reason: str | None = None
    question: str
    solution: str | None = None
    answer: str | None = None
    # page:<pattern> (rules engine), synthesized:aligned, web:misaligned, synthesized:no_web_answer
    answer_source: str
    web_answer: str | None = None
    decided_by: str | None = None  # symbolic | llm_judge: how consistency and alignment were settled
    answer_ids: list[str] = []  # the agreeing synthesized answers
    image_ids: list[str] = []
    image_sha256: list[str] = []
    has_images: bool = False
    subject: str | None = None
    page_id: str
    url: str
    hit_ids: list[str] = []
    seed_ids: list[str] = []
    round: int = 1  # the search round that found its page
