from typing import ClassVar

from schemas.base import TableModel


class StageRun(TableModel):
    """What a stage last ran on: a later run with the same inputs and settings has nothing to do."""

    table: ClassVar[str] = "stage_runs"
    key: ClassVar[str] = "stage"

    stage: str
    fingerprint: str  # hash of the input and output table versions and the configuration
    settled: bool  # every input key was marked done: none waits for a retry or a Batch API job
