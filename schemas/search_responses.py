from typing import ClassVar, Literal

from schemas.base import TableModel


class SearchResponse(TableModel):
    """A search provider's answer for one seed in one round, kept so that no seed is asked twice.
    A failed query (429 after its retries, 5xx, timeout) or one skipped for the budget is asked
    again by a later run. For the local index, the generation searched up to: a seed is searched
    again against the entries added after it."""

    table: ClassVar[str] = "search_responses"
    key: ClassVar[str] = "response_id"

    response_id: str  # of (seed_id, provider, round)
    seed_id: str
    provider: str
    round: int
    status: Literal["ok", "empty", "skipped", "failed"]
    reason: str | None = None
    http_status: int | None = None
    attempts: int = 0
    latency_ms: int = 0
    results: int = 0
    response: str | None = None  # the provider's JSON as received (the API key taken out)
    cost_usd: float = 0.0  # what the provider bills for this answer (search.<provider>.price_per_request_usd)
    index_generation: int | None = None  # local only: the newest index generation searched
