from typing import ClassVar, Literal

from schemas.base import TableModel


class Answer(TableModel):
    """One synthesized candidate answer to a valid QA."""

    table: ClassVar[str] = "answers"
    key: ClassVar[str] = "answer_id"

    answer_id: str  # final_id:k
    final_id: str
    k: int
    status: Literal["ok", "failed"]
    reason: str | None = None
    text: str | None = None
    short_answer: str | None = None
    request_id: str | None = None  # the llm_calls row that produced it
