"""The LLM call ledger: every request answered once, whatever reruns, retries or crashes.

`resolve()` is what an LLM stage (runtime/llm_stage.py) calls with the requests of a batch:
1. the journal left by killed tasks is folded into `llm_calls` first;
2. requests whose id has a final row (ok, or invalid after its retries) are not sent;
3. the rest are sent by Spark tasks in one action, written to staging, MERGEd into the ledger;
4. it returns the ledger rows of all the batch's requests.
A request that failed in transport (retries exhausted) is not final and is sent again on a
later run. In batch mode the synthesis requests go through the Batch API instead.
"""
from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from runtime.llm_client import Journal, answer_problem, api_key, call_partitions, cost_usd
from runtime.llm_replies import TASKS
from runtime.progress import BatchProgress
from runtime.tables import join_location
from schemas.base import spark_schema
from schemas.llm_batches import LlmBatch
from schemas.llm_calls import LlmCall

if TYPE_CHECKING:
    from runtime.context import Context

FINAL = ("ok", "invalid")
REQUEST_COLUMNS = ("request_id", "task", "prompt_version", "endpoint", "body")
RANK = {"ok": 0, "invalid": 1, "failed": 2}
# A better outcome replaces a worse one; an ok row is never replaced.
UPDATE = {name: f"s.{name}" for name in spark_schema(LlmCall).fieldNames()}
UPDATE_WHEN = "t.status != 'ok' AND (s.status = 'ok' OR t.status = 'failed')"


def journal_location(ctx: "Context") -> str:
    """Beside the staged batches: storage every executor reads (a local folder in local mode)."""
    return join_location(ctx.config.staging_root(), "_llm_journal")


def fold_journal(ctx: "Context") -> int:
    """Merge the calls journaled by tasks into the ledger, then remove the journal files."""
    journal = Journal(journal_location(ctx))
    files = journal.files()
    best: dict[str, dict] = {}
    for path in files:
        row = journal.read(path)
        if row is None:
            continue
        known = best.get(row["request_id"])
        if known is None or RANK[row["status"]] < RANK[known["status"]]:
            best[row["request_id"]] = row
    if best:
        rows = ctx.spark.createDataFrame(list(best.values()), spark_schema(LlmCall))
        ctx.tables.merge("llm_calls", rows, UPDATE, UPDATE_WHEN)
    journal.remove(files)
    return len(best)


def unanswered(ctx: "Context", requests: DataFrame) -> DataFrame:
    """The requests (REQUEST_COLUMNS, one row each) with no final ledger row: what a run would send."""
    wanted = requests.select(*REQUEST_COLUMNS).where(F.col("request_id").isNotNull()).dropDuplicates(["request_id"])
    final = ctx.tables.read("llm_calls").where(F.col("status").isin(*FINAL)).select("request_id")
    return wanted.join(final, "request_id", "left_anti")


def resolve(ctx: "Context", stage: str, requests: DataFrame) -> DataFrame:
    """Ledger rows for every request (columns REQUEST_COLUMNS), calling the model only for new ones."""
    fold_journal(ctx)
    pending = unanswered(ctx, requests)
    sending = pending.count()
    if sending:
        llm = ctx.config.llm
        for endpoint in {llm.task(task).endpoint for task in TASKS}:
            api_key(llm.endpoints[endpoint])  # fail here, naming the variable, rather than in every task
        calls = pending.repartition(llm.partitions, "request_id").mapInPandas(
            call_partitions(llm, journal_location(ctx), ctx.run_id), LlmCall.transform_schema()
        )
        # The calls are the slow part of an LLM stage's batch: their own progress, in requests.
        with BatchProgress(ctx.spark, f"{stage} calls", sending, 0, sending, time.monotonic(), ctx.config.stages.progress_interval_s):
            staged = ctx.tables.stage_rows(f"{stage}.calls", calls.withColumn("run_id", F.lit(ctx.run_id)), LlmCall)
        ctx.tables.merge("llm_calls", staged, UPDATE, UPDATE_WHEN)
        journal = Journal(journal_location(ctx))
        journal.remove(journal.files())  # the rows just merged: a second MERGE would change nothing
    return _ledger_rows(ctx, requests)


def _ledger_rows(ctx: "Context", requests: DataFrame) -> DataFrame:
    wanted = requests.select("request_id").where(F.col("request_id").isNotNull()).distinct()
    return ctx.tables.read("llm_calls").join(wanted, "request_id")


def _batch_client(ctx: "Context", endpoint: str):
    from openai import OpenAI

    settings = ctx.config.llm.endpoints[endpoint]
    return OpenAI(base_url=settings.base_url, api_key=api_key(settings), max_retries=3, timeout=settings.timeout_s)


# A job in these states may still answer; any other state is final (completed, expired, cancelled, failed).
RUNNING = ("validating", "in_progress", "finalizing", "cancelling")
BATCH_UPDATE = {name: f"s.{name}" for name in spark_schema(LlmBatch).fieldNames()}


def _record_batches(ctx: "Context", rows: list[dict]) -> None:
    if rows:
        ctx.tables.merge("llm_batches", ctx.spark.createDataFrame(rows, spark_schema(LlmBatch)), BATCH_UPDATE)


def _job_of(client, submission_id: str):
    """The endpoint's job whose metadata carries this submission id, or None."""
    for job in client.batches.list(limit=100):
        if (job.metadata or {}).get("webmine_submission") == submission_id:
            return job
    return None


def recover_submissions(ctx: "Context") -> int:
    """Intents recorded by a run that stopped before recording the job: found again by their
    metadata (then submitted), or marked failed (their requests are submitted anew)."""
    found = []
    for row in ctx.tables.read("llm_batches").where(F.col("status") == "submitting").collect():
        job = _job_of(_batch_client(ctx, row["endpoint"]), row["submission_id"])
        update = {"status": "submitted", "batch_id": job.id, "input_file_id": job.input_file_id} if job else \
                 {"status": "failed", "reason": "the run stopped before the endpoint accepted the job"}
        found.append({**row.asDict(), **update, "run_id": ctx.run_id})
    _record_batches(ctx, found)
    return len(found)


def collect_batches(ctx: "Context") -> int:
    """Fold the results of finished Batch API jobs into the ledger, the partial output and the
    error file of an expired, cancelled or failed job too; returns the jobs closed. A request
    with no line in either file has no ledger row and is submitted again."""
    closed, calls = [], []
    for batch in ctx.tables.read("llm_batches").where(F.col("status") == "submitted").collect():
        client = _batch_client(ctx, batch["endpoint"])
        job = client.batches.retrieve(batch["batch_id"])
        if job.status in RUNNING:
            continue
        lines = [line for file_id in (job.output_file_id, job.error_file_id) if file_id
                 for line in client.files.content(file_id).read().decode().splitlines() if line.strip()]
        calls += [_batch_call(ctx, batch["task"], batch["prompt_version"], json.loads(line)) for line in lines]
        reason = None if job.status == "completed" else f"batch ended {job.status}: {len(lines)} of {len(batch['request_ids'])} results returned"
        closed.append({**batch.asDict(), "status": "collected" if lines else "failed", "reason": reason, "run_id": ctx.run_id})
    if calls:
        ctx.tables.merge("llm_calls", ctx.spark.createDataFrame(calls, spark_schema(LlmCall)), UPDATE, UPDATE_WHEN)
    _record_batches(ctx, closed)
    return len(closed)


def _batch_call(ctx: "Context", task: str, prompt_version: str, item: dict) -> dict:
    response = item.get("response") or {}
    body = response.get("body") or {}
    base = {"request_id": item["custom_id"], "task": task, "model": body.get("model", ""), "prompt_version": prompt_version, "via_batch": True,
            "latency_ms": 0, "attempts": 1}
    if response.get("status_code") != 200:
        error = item.get("error") or (body.get("error") if isinstance(body, dict) else None) or {}
        reason = f"HTTP {response.get('status_code')} in batch: {str(error.get('message', ''))[:200]}"
        return LlmCall.row(**base, status="failed", reason=reason) | {"run_id": ctx.run_id}
    choices = body.get("choices", [])
    texts = [c["message"]["content"] or "" for c in choices]
    usage = body.get("usage") or {}
    tokens_in, tokens_out = usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)
    problem = answer_problem(task, [c.get("finish_reason") for c in choices], texts)
    price = ctx.config.llm.prices.get(base["model"])
    return LlmCall.row(
        **base, status="ok" if problem is None else "invalid", reason=problem, response=json.dumps(texts),
        tokens_in=tokens_in, tokens_out=tokens_out, cost_usd=cost_usd(price, tokens_in, tokens_out, via_batch=True),
    ) | {"run_id": ctx.run_id}


def split_lines(lines: list[str], max_requests: int, max_bytes: int) -> list[list[str]]:
    """JSONL lines cut into jobs of at most max_requests lines and max_bytes bytes (a line larger
    than max_bytes alone goes as a job of its own, which the endpoint will refuse by itself)."""
    jobs: list[list[str]] = [[]]
    size = 0
    for line in lines:
        length = len(line.encode()) + 1
        if jobs[-1] and (len(jobs[-1]) >= max_requests or size + length > max_bytes):
            jobs.append([])
            size = 0
        jobs[-1].append(line)
        size += length
    return [job for job in jobs if job]


def submit_batches(ctx: "Context", rows: list) -> int:
    """Record an intent per job first, then upload and create each job with the intent's id in
    its metadata, then record the job ids. Returns the jobs submitted."""
    import uuid

    llm = ctx.config.llm
    intents: list[tuple[dict, list[str]]] = []
    for (endpoint, task, prompt_version), group in _grouped(rows).items():
        lines = [json.dumps({"custom_id": r["request_id"], "method": "POST", "url": "/v1/chat/completions", "body": json.loads(r["body"])})
                 for r in group]
        for job_lines in split_lines(lines, llm.batch_max_requests, llm.batch_max_bytes):
            intent = LlmBatch.row(
                submission_id=uuid.uuid4().hex, task=task, prompt_version=prompt_version, endpoint=endpoint, status="submitting",
                request_ids=[json.loads(line)["custom_id"] for line in job_lines], request_bytes=sum(len(x.encode()) + 1 for x in job_lines),
            ) | {"run_id": ctx.run_id}
            intents.append((intent, job_lines))
    _record_batches(ctx, [intent for intent, _ in intents])
    submitted = []
    for intent, job_lines in intents:
        client = _batch_client(ctx, intent["endpoint"])
        upload = client.files.create(file=("requests.jsonl", ("\n".join(job_lines) + "\n").encode()), purpose="batch")
        job = client.batches.create(input_file_id=upload.id, endpoint="/v1/chat/completions", completion_window="24h",
                                    metadata={"webmine_submission": intent["submission_id"]})
        submitted.append({**intent, "batch_id": job.id, "input_file_id": upload.id, "status": "submitted"})
    _record_batches(ctx, submitted)
    return len(submitted)


def resolve_batch(ctx: "Context", stage: str, requests: DataFrame) -> DataFrame:
    """Like resolve(), through the Batch API: find jobs a killed run submitted, collect finished
    ones, submit the requests that are in no open job, and return the ledger rows there are (a
    later run collects the rest)."""
    fold_journal(ctx)
    recover_submissions(ctx)
    collect_batches(ctx)
    in_flight = ctx.tables.read("llm_batches").where(F.col("status") == "submitted").select(F.explode("request_ids").alias("request_id"))
    submit_batches(ctx, unanswered(ctx, requests).join(in_flight, "request_id", "left_anti").collect())
    return _ledger_rows(ctx, requests)


def _grouped(rows) -> dict[tuple[str, str, str], list]:
    groups: dict[tuple[str, str, str], list] = {}
    for row in rows:
        groups.setdefault((row["endpoint"], row["task"], row["prompt_version"]), []).append(row)
    return groups
