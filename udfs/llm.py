"""LLM calls on any OpenAI-compatible endpoint, made inside Spark tasks.

- A request is (model, prompt version, messages, parameters); its id is a hash of those, so
  the same request always has the same id and the ledger can answer it a second time for free.
- Calls run concurrently on an asyncio loop per task, bounded by `concurrency`, under
  requests-per-minute and tokens-per-minute limits (each task holds 1/partitions of the job's).
- 429, 5xx, timeouts and connection errors are retried with exponential backoff that honours
  Retry-After; an answer that does not parse into its task's model, or is cut off, is asked
  again a bounded number of times, then recorded as `invalid` with the reason.
- Every finished call is appended to a journal file at once, so a task killed mid-way loses no
  answer that was paid for; the driver folds journals into the ledger table.
- The API key is read from the environment by name and is never part of a request, a row or
  a log line.
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import os
import random
import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import pandas as pd
import yaml
from PIL import Image
from pydantic import BaseModel, ValidationError

from runtime.config import EndpointConfig, LlmConfig, PriceConfig
from schemas.llm_calls import LlmCall

TASKS = ("extract", "validate", "synthesize", "consistency", "align")
RETRY_AFTER_CAP_S = 300.0


# ---- prompts and requests ----------------------------------------------------------------
@dataclass(frozen=True)
class Prompt:
    task: str
    version: str
    system: str
    user: str

    def messages(self, images: list[str] = (), **fields: str) -> list[dict]:
        text = self.user.format(**fields)
        content: Any = text
        if images:
            content = [{"type": "text", "text": text}] + [{"type": "image_url", "image_url": {"url": url}} for url in images]
        return [{"role": "system", "content": self.system}, {"role": "user", "content": content}]


def load_prompt(prompts_dir: Path, task: str) -> Prompt:
    path = prompts_dir / f"{task}.yaml"
    try:
        spec = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"prompt for task {task} not found: {path}") from None
    return Prompt(task, spec["version"], spec["system"], spec["user"])


def request_body(model: str, messages: list[dict], temperature: float, max_tokens: int, n: int = 1) -> dict:
    body = {"model": model, "messages": messages, "temperature": temperature, "max_tokens": max_tokens}
    if n > 1:
        body["n"] = n
    return body


def build_request(prompt: Prompt, settings, images: list[str] = (), n: int = 1, **fields: str) -> dict:
    """A request row (REQUEST_COLUMNS of runtime.ledger) for a task's prompt and settings."""
    body = request_body(settings.model, prompt.messages(images, **fields), settings.temperature, settings.max_tokens, n)
    return {
        "request_id": request_id(prompt.version, body), "task": prompt.task, "prompt_version": prompt.version,
        "endpoint": settings.endpoint, "body": json.dumps(body, sort_keys=True),
    }


def request_id(prompt_version: str, body: dict) -> str:
    """Hash of (model, prompt version, messages, parameters): the body holds all but the version."""
    return hashlib.sha256(json.dumps([prompt_version, body], sort_keys=True).encode()).hexdigest()[:32]


def image_data_url(content: bytes, max_side: int) -> str:
    """The image as a PNG data URL, its longest side at most max_side."""
    with Image.open(io.BytesIO(content)) as image:
        image = image.convert("RGB")
        image.thumbnail((max_side, max_side))
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def estimate_tokens(body: dict) -> int:
    """A provider-neutral estimate: about 4 characters a token, 85 tokens an image (low detail)."""
    chars, images = 0, 0
    for message in body["messages"]:
        content = message["content"]
        parts = content if isinstance(content, list) else [{"type": "text", "text": content}]
        for part in parts:
            if part["type"] == "text":
                chars += len(part["text"])
            else:
                images += 1
    return chars // 4 + 85 * images + 4 * len(body["messages"])


def cost_usd(price: PriceConfig | None, tokens_in: int, tokens_out: int, via_batch: bool = False) -> float:
    if price is None:
        return 0.0
    dollars = (tokens_in * price.input_per_mtok + tokens_out * price.output_per_mtok) / 1e6
    return dollars * (price.batch_factor if via_batch else 1.0)


# ---- what each task's answer must look like --------------------------------------------------
class ExtractedPair(BaseModel):
    question: str
    question_images: list[int] = []
    solution: str | None = None
    solution_images: list[int] = []


class ExtractReply(BaseModel):
    pairs: list[ExtractedPair]


class ValidateReply(BaseModel):
    valid: bool
    reason: str = ""
    relevant_images: list[int] = []


class ConsistencyReply(BaseModel):
    groups: list[list[int]]


class AlignReply(BaseModel):
    aligned: bool
    reason: str = ""


class SynthesizedAnswer(BaseModel):
    text: str
    short_answer: str


FINAL_ANSWER = re.compile(r"final answer\s*[:：]\s*(.+?)\s*$", re.I | re.M)
JSON_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.M)


def _synthesized(text: str) -> SynthesizedAnswer:
    matches = FINAL_ANSWER.findall(text)
    if not matches:
        raise ValueError("no 'Final answer:' line")
    return SynthesizedAnswer(text=text.strip(), short_answer=matches[-1].strip().rstrip("."))


REPLIES: dict[str, Callable[[str], BaseModel]] = {
    "extract": lambda text: ExtractReply.model_validate_json(JSON_FENCE.sub("", text.strip())),
    "validate": lambda text: ValidateReply.model_validate_json(JSON_FENCE.sub("", text.strip())),
    "consistency": lambda text: ConsistencyReply.model_validate_json(JSON_FENCE.sub("", text.strip())),
    "align": lambda text: AlignReply.model_validate_json(JSON_FENCE.sub("", text.strip())),
    "synthesize": _synthesized,
}


def parse_reply(task: str, text: str) -> BaseModel:
    return REPLIES[task](text)


def parse_choices(task: str, response: str | None) -> list[BaseModel]:
    """The parsed choices of a ledger row's response (those that parse)."""
    out = []
    for text in json.loads(response or "[]"):
        try:
            out.append(parse_reply(task, text))
        except (ValidationError, ValueError):
            continue
    return out


# ---- limits ----------------------------------------------------------------------------------
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


class LlmClient:
    def __init__(self, endpoint: EndpointConfig, llm: LlmConfig):
        from openai import AsyncOpenAI

        self.llm = llm
        # Our own retry loop (below) honours Retry-After and counts attempts for the ledger.
        self.client = AsyncOpenAI(base_url=endpoint.base_url, api_key=api_key(endpoint), max_retries=0, timeout=endpoint.timeout_s)
        share = 1 / llm.partitions
        self.limiter = RateLimiter(llm.requests_per_minute * share, llm.tokens_per_minute * share)
        self.gate = asyncio.Semaphore(llm.concurrency)

    def _backoff(self, attempt: int, retry_after: str | None) -> float:
        return backoff_s(attempt, retry_after, self.llm.backoff_base_s, self.llm.backoff_max_s)

    async def complete(self, task: str, body: dict) -> CallResult:
        import openai

        started = time.monotonic()
        tokens_in = tokens_out = attempts = 0
        transport_failures = parse_failures = 0
        reason = None
        async with self.gate:
            while True:
                attempts += 1
                await self.limiter.acquire(estimate_tokens(body) + body.get("max_tokens", 0))
                try:
                    response = await self.client.chat.completions.create(**body)
                except openai.APIStatusError as exc:
                    retryable = exc.status_code == 429 or exc.status_code >= 500
                    reason = f"HTTP {exc.status_code}: {str(exc.message)[:200]}"
                    if not retryable or transport_failures >= self.llm.max_retries:
                        return CallResult("failed", reason, [], tokens_in, tokens_out, _ms(started), attempts)
                    transport_failures += 1
                    await asyncio.sleep(self._backoff(transport_failures, exc.response.headers.get("retry-after")))
                    continue
                except (openai.APITimeoutError, openai.APIConnectionError) as exc:
                    reason = f"{type(exc).__name__}: {str(exc)[:200]}"
                    if transport_failures >= self.llm.max_retries:
                        return CallResult("failed", reason, [], tokens_in, tokens_out, _ms(started), attempts)
                    transport_failures += 1
                    await asyncio.sleep(self._backoff(transport_failures, None))
                    continue
                usage = response.usage
                tokens_in += usage.prompt_tokens if usage else 0
                tokens_out += usage.completion_tokens if usage else 0
                choices = [c.message.content or "" for c in response.choices]
                problem = _problem(task, response.choices, choices)
                if problem is None:
                    return CallResult("ok", None, choices, tokens_in, tokens_out, _ms(started), attempts)
                reason = problem
                if parse_failures >= self.llm.max_parse_retries:
                    return CallResult("invalid", reason, choices, tokens_in, tokens_out, _ms(started), attempts)
                parse_failures += 1


def _problem(task: str, raw_choices: list, texts: list[str]) -> str | None:
    """Why an answer is unusable, or None. A request with n choices needs them all to parse."""
    if not texts:
        return "no choices in the answer"
    for choice, text in zip(raw_choices, texts):
        if choice.finish_reason == "length":
            return "truncated: the answer hit max_tokens"
        try:
            parse_reply(task, text)
        except (ValidationError, ValueError) as exc:
            return f"unparseable {task} answer: {str(exc).splitlines()[0][:200]}"
    return None


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


# ---- the Spark side ----------------------------------------------------------------------------
def call_partitions(llm: LlmConfig, journal_dir: Path, run_id: str):
    """A mapInPandas function: (request_id, task, prompt_version, endpoint, body) in, ledger rows out."""

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        journal_dir.mkdir(parents=True, exist_ok=True)
        journal = open(journal_dir / f"{uuid.uuid4().hex}.jsonl", "a")
        loop = asyncio.new_event_loop()
        clients: dict[str, LlmClient] = {}

        async def one(row) -> dict:
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
            journal.write(json.dumps({**record, "run_id": run_id}) + "\n")
            journal.flush()
            os.fsync(journal.fileno())
            return record

        async def all_of(batch: pd.DataFrame) -> list[dict]:
            return await asyncio.gather(*(one(r) for r in batch.itertuples(index=False)))

        try:
            for batch in batches:
                rows = loop.run_until_complete(all_of(batch))
                yield pd.DataFrame(rows, columns=LlmCall.transform_schema().fieldNames())
        finally:
            journal.close()
            loop.close()

    return run
