"""Remote reverse-image search providers behind one interface, called inside Spark tasks.

- SerpAPI Google Lens: GET <base_url>?engine=google_lens&url=<image URL>&api_key=...; the result
  pages are the `link`s of `visual_matches`. It searches by URL, so a seed needs `image_url`.
- Google Cloud Vision web detection: POST <base_url>?key=... with the image's bytes (base64); the
  result pages are `pagesWithMatchingImages` (full matches first, then partial ones).

Every answer becomes a `search_responses` row: ok, empty (the provider found nothing), skipped
(the seed cannot be asked, with the reason) or failed (429 after the retries, 5xx, a timeout, a
bad key: asked again by a later run). An answered search (ok or empty, HTTP 2xx) costs
`price_per_request_usd`, kept in the row; errors are not billed. 429, 5xx, timeouts and
connection errors are retried with the LLM layer's backoff (Retry-After honoured) under a
requests-per-minute limit per task. The key is read from the environment by name; it is taken
out of everything that is kept.
"""
from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Iterator
from urllib.parse import urlencode

import pandas as pd

from runtime.config import NetworkConfig, RemoteSearchConfig, SearchConfig
from runtime.keys import stable_id
from runtime.network import Blocked, FetchError, NetworkPolicy, fetch_hop
from schemas.search_hits import SearchHit
from schemas.search_responses import SearchResponse
from runtime.limits import RateLimiter, backoff_s

REDACTED = "[redacted]"


@dataclass
class Request:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None = None


@dataclass
class Result:
    url: str
    title: str | None
    matched_image_url: str | None


class Unaskable(ValueError):
    """A seed this provider cannot be asked about; the message is the reason."""


def api_key(settings: RemoteSearchConfig, provider: str) -> str:
    key = os.environ.get(settings.api_key_env)
    if not key:
        raise RuntimeError(f"environment variable {settings.api_key_env} (the API key for search provider {provider}) is not set")
    return key


class Provider(ABC):
    name: str
    needs: str  # the seed column a request is made from: a seed without it is skipped

    def __init__(self, settings: RemoteSearchConfig, key: str):
        self.settings = settings
        self.key = key

    @abstractmethod
    def request(self, image_url: str | None, content: bytes | None) -> Request:
        """The HTTP request for one seed; raises Unaskable when the seed lacks what it needs."""

    @abstractmethod
    def error(self, payload: dict) -> tuple[str, str] | None:
        """(status, reason) when the answer reports an error or no result, else None."""

    @abstractmethod
    def results(self, payload: dict) -> list[Result]:
        """Result pages, best first."""


class SerpApiLens(Provider):
    name = "serpapi"
    needs = "image_url"
    NO_RESULTS = "hasn't returned any results"

    def request(self, image_url, content):
        if not image_url:
            raise Unaskable("no public image URL (seeds.image_url): Google Lens searches by URL")
        query = urlencode({"engine": "google_lens", "url": image_url, "api_key": self.key})
        return Request("GET", f"{self.settings.base_url}?{query}", {"Accept": "application/json"})

    def error(self, payload):
        message = payload.get("error")
        if message:
            return ("empty" if self.NO_RESULTS in message else "failed", str(message)[:300])
        return None

    def results(self, payload):
        return [
            Result(m["link"], m.get("title"), m.get("image") or m.get("thumbnail"))
            for m in sorted(payload.get("visual_matches") or [], key=lambda m: m.get("position", 1 << 30))
            if m.get("link")
        ]


class CloudVision(Provider):
    name = "cloud_vision"
    needs = "content"

    def request(self, image_url, content):
        if not content:
            raise Unaskable("no image bytes to send")
        body = {"requests": [{
            "image": {"content": base64.b64encode(content).decode()},
            "features": [{"type": "WEB_DETECTION", "maxResults": self.settings.max_results}],
        }]}
        return Request("POST", f"{self.settings.base_url}?{urlencode({'key': self.key})}",
                       {"Content-Type": "application/json", "Accept": "application/json"}, json.dumps(body).encode())

    def _first(self, payload: dict) -> dict:
        responses = payload.get("responses") or [{}]
        return responses[0] or {}

    def error(self, payload):
        if "error" in payload:  # the whole call refused (bad key, quota)
            error = payload["error"] or {}
            return "failed", f"{error.get('status') or error.get('code')}: {str(error.get('message'))[:300]}"
        first = self._first(payload)
        if "error" in first:
            error = first["error"] or {}
            return "failed", f"code {error.get('code')}: {str(error.get('message'))[:300]}"
        return None

    def results(self, payload):
        pages = [p for p in (self._first(payload).get("webDetection") or {}).get("pagesWithMatchingImages") or [] if p.get("url")]
        full = [(p, p["fullMatchingImages"]) for p in pages if p.get("fullMatchingImages")]
        partial = [(p, p["partialMatchingImages"]) for p in pages
                   if not p.get("fullMatchingImages") and p.get("partialMatchingImages") and self.settings.include_partial_matches]
        return [Result(page["url"], page.get("pageTitle"), images[0].get("url")) for page, images in full + partial]


PROVIDERS: dict[str, type[Provider]] = {"serpapi": SerpApiLens, "cloud_vision": CloudVision}


def make_provider(search: SearchConfig, name: str) -> Provider:
    settings = search.remote(name)
    return PROVIDERS[name](settings, api_key(settings, name))


def _scrub(text: str, key: str) -> str:
    return text.replace(key, REDACTED) if key else text


def ask(provider: Provider, request: Request, policy: NetworkPolicy) -> tuple[int, bytes, str | None]:
    """One request: (HTTP status, body, Retry-After). Raises FetchError or Blocked."""
    settings = provider.settings
    result = fetch_hop(request.url, policy, deadline=time.monotonic() + settings.timeout_s, max_bytes=settings.max_response_bytes,
                       headers=request.headers, method=request.method, body=request.body)
    retry_after = next((value for name, value in result.headers if name.lower() == "retry-after"), None)
    return result.status, result.body, retry_after


class Searcher:
    """Queries one provider with retries, a rate limit and a bound on requests in flight."""

    def __init__(self, provider: Provider, policy: NetworkPolicy):
        settings = provider.settings
        self.provider, self.policy, self.settings = provider, policy, settings
        # No token budget for search: a large one that never binds.
        self.limiter = RateLimiter(settings.requests_per_minute / settings.partitions, 1e12)
        self.gate = asyncio.Semaphore(settings.concurrency)

    async def search(self, seed_id: str, round_: int, image_url: str | None, content: bytes | None) -> dict:
        started = time.monotonic()
        base = {"response_id": stable_id(seed_id, self.provider.name, round_), "seed_id": seed_id, "provider": self.provider.name,
                "round": round_}
        try:
            request = self.provider.request(image_url, content)
        except Unaskable as exc:
            return SearchResponse.row(**base, status="skipped", reason=str(exc))
        attempts, http_status, reason = 0, None, None
        async with self.gate:
            while True:
                attempts += 1
                await self.limiter.acquire(0)
                retry_after = None
                try:
                    http_status, body, retry_after = await asyncio.to_thread(ask, self.provider, request, self.policy)
                except Blocked as exc:
                    return SearchResponse.row(**base, status="failed", reason=f"blocked: {exc}", attempts=attempts, latency_ms=_ms(started))
                except FetchError as exc:
                    http_status, reason = None, _scrub(str(exc), self.provider.key)
                else:
                    row = self._answer(base, http_status, body, attempts, started)
                    if row is not None:
                        return row
                    reason = f"HTTP {http_status}"
                if attempts > self.settings.max_retries:
                    return SearchResponse.row(**base, status="failed", reason=f"{reason} after {attempts} attempts", http_status=http_status,
                                              attempts=attempts, latency_ms=_ms(started))
                await asyncio.sleep(backoff_s(attempts, retry_after, self.settings.backoff_base_s, self.settings.backoff_max_s))

    def _answer(self, base: dict, http_status: int, body: bytes, attempts: int, started: float) -> dict | None:
        """The row for an answer; None when it should be retried (429, 5xx)."""
        if http_status == 429 or http_status >= 500:
            return None
        text = _scrub(body.decode("utf-8", errors="replace"), self.provider.key)
        common = {**base, "http_status": http_status, "attempts": attempts, "latency_ms": _ms(started), "response": text}
        try:
            payload = json.loads(text)
            if not isinstance(payload, dict):
                raise ValueError("not a JSON object")
        except ValueError as exc:
            return SearchResponse.row(**common, status="failed", reason=f"HTTP {http_status}, answer is not JSON: {str(exc)[:100]}")
        problem = self.provider.error(payload)
        if problem is not None:
            # An answered search that found nothing is billed; a refused one is not.
            billed = problem[0] == "empty" and http_status < 300
            return SearchResponse.row(**common, status=problem[0], reason=f"HTTP {http_status}: {problem[1]}",
                                      cost_usd=self.settings.price_per_request_usd if billed else 0.0)
        if http_status >= 400:
            return SearchResponse.row(**common, status="failed", reason=f"HTTP {http_status}")
        found = len(self.provider.results(payload))
        return SearchResponse.row(**common, status="ok" if found else "empty", reason=None if found else "no result pages", results=found,
                                  cost_usd=self.settings.price_per_request_usd)


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def query_partitions(search: SearchConfig, network: NetworkConfig):
    """A mapInPandas function: (seed_id, provider, round, image_url, content) in, search_responses rows out."""
    policy = NetworkPolicy.from_config(network)

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        loop = asyncio.new_event_loop()
        searchers: dict[str, Searcher] = {}

        def searcher(name: str) -> Searcher:
            if name not in searchers:
                searchers[name] = Searcher(make_provider(search, name), policy)
            return searchers[name]

        async def all_of(batch: pd.DataFrame) -> list[dict]:
            return await asyncio.gather(*(
                searcher(r.provider).search(r.seed_id, int(r.round), r.image_url, r.content) for r in batch.itertuples(index=False)
            ))

        try:
            for batch in batches:
                rows = loop.run_until_complete(all_of(batch))
                yield pd.DataFrame(rows, columns=SearchResponse.transform_schema().fieldNames())
        finally:
            loop.close()

    return run


def response_hits(search: SearchConfig):
    """A mapInPandas function: ok search_responses rows in, search_hits out (each page once, best rank)."""

    def parser(name: str) -> Provider:
        return PROVIDERS[name](search.remote(name), "")

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            rows = []
            for seed_id, provider, round_, response in zip(batch["seed_id"], batch["provider"], batch["round"], batch["response"]):
                limit = search.remote(provider).max_results
                seen: set[str] = set()
                for result in parser(provider).results(json.loads(response)):
                    if result.url in seen:
                        continue
                    seen.add(result.url)
                    rows.append(SearchHit.row(
                        hit_id=stable_id(seed_id, provider, round_, result.url), seed_id=seed_id, provider=provider, round=int(round_),
                        rank=len(seen), url=result.url, matched_image_url=result.matched_image_url, title=result.title,
                    ))
                    if len(seen) >= limit:
                        break
            yield pd.DataFrame(rows, columns=SearchHit.transform_schema().fieldNames())

    return run
