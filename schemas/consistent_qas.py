from typing import ClassVar, Literal

from schemas.base import TableModel


class ConsistentQA(TableModel):
    """The consistency verdict on a valid QA's candidate answers."""

    table: ClassVar[str] = "consistent_qas"
    key: ClassVar[str] = "final_id"

    final_id: str
    status: Literal["ok", "rejected"]  # ok: a majority agrees
    reason: str | None = None
    majority_answer: str | None = None
    majority_text: str | None = None  # one agreeing solution, kept as the synthesized solution
    agreeing_answer_ids: list[str] = []
    votes: int = 0
    candidates: int = 0
    decided_by: str  # symbolic | llm_judge
    request_id: str | None = None
