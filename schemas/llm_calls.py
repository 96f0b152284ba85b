from typing import ClassVar, Literal

from schemas.base import TableModel


class LlmCall(TableModel):
    """The ledger: one row per distinct LLM request, keyed by a hash of (model, prompt version,
    messages, parameters). A request with a row here is never sent again."""

    table: ClassVar[str] = "llm_calls"
    key: ClassVar[str] = "request_id"

    request_id: str
    task: str  # extract | validate | synthesize | consistency | align
    model: str
    prompt_version: str
    status: Literal["ok", "failed", "invalid"]
    reason: str | None = None
    response: str | None = None  # the raw choices, JSON list of strings
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    latency_ms: int = 0
    attempts: int = 0
    via_batch: bool = False
