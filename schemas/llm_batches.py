from typing import ClassVar, Literal

from schemas.base import TableModel


class LlmBatch(TableModel):
    """A Batch API job: recorded before it is submitted, its results collected into the ledger by a
    later run. The submission id goes into the job's metadata, so a run killed between
    `batches.create` and recording the job finds it again instead of submitting it twice."""

    table: ClassVar[str] = "llm_batches"
    key: ClassVar[str] = "submission_id"

    submission_id: str
    batch_id: str | None = None  # null until the endpoint has accepted the job
    task: str
    prompt_version: str
    endpoint: str
    input_file_id: str | None = None
    request_ids: list[str]
    request_bytes: int = 0  # of the uploaded JSONL: a job holds at most llm.batch_max_bytes
    # submitting: recorded, maybe not accepted yet | submitted: accepted, not finished |
    # collected: its answers (and its errors, if any) are in the ledger | failed: ended with no output
    status: Literal["submitting", "submitted", "collected", "failed"]
    reason: str | None = None
