from typing import ClassVar, Literal

from schemas.aligned_qas import AlignedQA


class FinalQA(AlignedQA):
    """The dataset: every aligned QA after de-duplication and benchmark decontamination. Only rows
    with status ok are kept; a dropped row stays here with its status and what it matched."""

    table: ClassVar[str] = "final_qas"
    key: ClassVar[str] = "final_id"

    status: Literal["ok", "rejected", "duplicate", "contaminated"]  # rejected: by an earlier stage
    verified: bool = False  # the final answer is equivalent to the web page's answer
    duplicate_of: str | None = None  # status duplicate: the final_id of the kept row
    benchmark_item: str | None = None  # status contaminated: the item_id it matched
    # question_exact | question_near (duplicates); benchmark_text | benchmark_image (contamination)
    match_kind: str | None = None
    match_score: float | None = None  # Jaccard of the questions, shared n-grams, or pHash bits apart
