from typing import ClassVar

from schemas.base import TableModel


class CandidateQA(TableModel):
    """A question / solution pair found on a page, with the images each refers to."""

    table: ClassVar[str] = "candidate_qas"
    key: ClassVar[str] = "qa_id"

    qa_id: str
    page_id: str
    url: str
    question: str
    solution: str | None = None
    answer: str | None = None  # the short final answer, where the page states one
    question_images: list[str] = []
    solution_images: list[str] = []
    pattern: str  # which page structure the pair was read from
    engine: str
