"""Client-side limits shared by every remote API (LLM endpoints, search providers)."""
from __future__ import annotations

import asyncio
import random
import time

RETRY_AFTER_CAP_S = 300.0


class RateLimiter:
    """Requests-per-minute and tokens-per-minute buckets, refilled continuously."""

    def __init__(self, requests_per_minute: float, tokens_per_minute: float):
        self.rpm, self.tpm = requests_per_minute, tokens_per_minute
        self.requests, self.tokens = min(requests_per_minute, max(1.0, requests_per_minute / 60)), tokens_per_minute / 60
        self.updated = time.monotonic()
        self.lock = asyncio.Lock()

    async def acquire(self, tokens: int) -> None:
        tokens = min(tokens, self.tpm)  # one oversized request must still pass, alone
        async with self.lock:
            while True:
                now = time.monotonic()
                elapsed, self.updated = now - self.updated, now
                self.requests = min(self.rpm / 60 * 2, self.requests + elapsed * self.rpm / 60)
                self.tokens = min(self.tpm / 60 * 2 + tokens, self.tokens + elapsed * self.tpm / 60)
                if self.requests >= 1 and self.tokens >= tokens:
                    self.requests -= 1
                    self.tokens -= tokens
                    return
                wait = max((1 - self.requests) / (self.rpm / 60), (tokens - self.tokens) / (self.tpm / 60), 0.001)
                await asyncio.sleep(wait)


def backoff_s(attempt: int, retry_after: str | None, base_s: float, max_s: float) -> float:
    """Seconds to wait before retry `attempt`: Retry-After when the server sends it, else
    exponential with jitter."""
    if retry_after:
        try:
            return min(float(retry_after), RETRY_AFTER_CAP_S)  # the server knows best, within reason
        except ValueError:
            pass
    return min(max_s, base_s * 2 ** attempt) * random.uniform(0.5, 1.0)
