from typing import ClassVar

from schemas.base import TableModel


class SearchResponse(TableModel):
    """A remote search provider's answer for one seed in one round, kept so that no seed is
    asked twice. A failed query (429 after its retries, 5xx, timeout) is asked again by a later run."""

    table: ClassVar[str] = "search_responses"
    key: ClassVar[str] = "response_id"

    response_id: str  # of (seed_id, provider, round)
    seed_id: str
    provider: str
    round: int
    status: str  # ok | empty | skipped | failed
    reason: str | None = None
    http_status: int | None = None
    attempts: int = 0
    latency_ms: int = 0
    results: int = 0
    response: str | None = None  # the provider's JSON as received (the API key taken out)
