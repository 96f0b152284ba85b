from typing import ClassVar

from schemas.base import TableModel


class LlmBatch(TableModel):
    """A Batch API job: submitted by one run, its results collected into the ledger by a later one."""

    table: ClassVar[str] = "llm_batches"
    key: ClassVar[str] = "batch_id"

    batch_id: str
    task: str
    prompt_version: str
    endpoint: str
    input_file_id: str
    request_ids: list[str]
    status: str  # submitted | collected | failed
    reason: str | None = None
