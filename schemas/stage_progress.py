from typing import ClassVar

from schemas.base import TableModel


class StageProgress(TableModel):
    """Input keys a stage has processed, including those that produced no output row."""

    table: ClassVar[str] = "stage_progress"
    key: ClassVar[str] = "progress_id"

    progress_id: str  # stage:input_key
    stage: str
    input_key: str
