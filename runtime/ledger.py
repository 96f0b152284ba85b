"""The LLM call ledger: every request answered once, whatever reruns, retries or crashes.

`resolve()` is what an LLM stage calls with the requests of a batch:
1. journals left by killed tasks are folded into `llm_calls` first;
2. requests whose id has a final row (ok, or invalid after its retries) are not sent;
3. the rest are sent by Spark tasks in one action, written to staging, MERGEd into the ledger;
4. it returns the ledger rows of all the batch's requests.
A request that failed in transport (retries exhausted) is not final and is sent again on a
later run. In batch mode the synthesis requests go through the Batch API instead.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from schemas.base import spark_schema
from schemas.llm_calls import LlmCall
from udfs.llm import TASKS, api_key, call_partitions

if TYPE_CHECKING:
    from runtime.context import Context

FINAL = ("ok", "invalid")
REQUEST_COLUMNS = ("request_id", "task", "prompt_version", "endpoint", "body")
RANK = {"ok": 0, "invalid": 1, "failed": 2}
# A better outcome replaces a worse one; an ok row is never replaced.
UPDATE = {name: f"s.{name}" for name in spark_schema(LlmCall).fieldNames()}
UPDATE_WHEN = "t.status != 'ok' AND (s.status = 'ok' OR t.status = 'failed')"


def journal_dir(ctx: "Context") -> Path:
    return ctx.config.run.work_dir / "_llm_journal"


def fold_journal(ctx: "Context") -> int:
    """Merge the calls journaled by tasks into the ledger, then remove the journal files."""
    files = sorted(journal_dir(ctx).glob("*.jsonl"))
    best: dict[str, dict] = {}
    for path in files:
        for line in path.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue  # the last line of a task killed while writing
            known = best.get(row["request_id"])
            if known is None or RANK[row["status"]] < RANK[known["status"]]:
                best[row["request_id"]] = row
    if best:
        rows = ctx.spark.createDataFrame(list(best.values()), spark_schema(LlmCall))
        ctx.tables.merge("llm_calls", rows, UPDATE, UPDATE_WHEN)
    for path in files:
        path.unlink()
    return len(best)


def resolve(ctx: "Context", stage: str, requests: DataFrame) -> DataFrame:
    """Ledger rows for every request (columns REQUEST_COLUMNS), calling the model only for new ones."""
    fold_journal(ctx)
    wanted = requests.select(*REQUEST_COLUMNS).dropDuplicates(["request_id"])
    final = ctx.tables.read("llm_calls").where(F.col("status").isin(*FINAL)).select("request_id")
    pending = wanted.join(final, "request_id", "left_anti")
    if pending.limit(1).count():
        llm = ctx.config.llm
        for endpoint in {llm.task(task).endpoint for task in TASKS}:
            api_key(llm.endpoints[endpoint])  # fail here, naming the variable, rather than in every task
        calls = pending.repartition(llm.partitions, "request_id").mapInPandas(
            call_partitions(llm, journal_dir(ctx), ctx.run_id), LlmCall.transform_schema()
        )
        staged = ctx.tables.stage_rows(f"{stage}.calls", calls.withColumn("run_id", F.lit(ctx.run_id)), LlmCall)
        ctx.tables.merge("llm_calls", staged, UPDATE, UPDATE_WHEN)
        fold_journal(ctx)  # the same rows: nothing changes, the files go
    return ctx.tables.read("llm_calls").join(wanted.select("request_id"), "request_id")


def final_keys(ctx: "Context", requests: DataFrame) -> DataFrame:
    """Input keys all of whose requests have a final ledger row: the keys a stage may mark done."""
    final = ctx.tables.read("llm_calls").where(F.col("status").isin(*FINAL)).select("request_id", F.lit(1).alias("final"))
    return (
        requests.select("input_key", "request_id").join(final, "request_id", "left")
        .groupBy("input_key").agg(F.min(F.coalesce("final", F.lit(0))).alias("all_final"))
        .where("all_final = 1").select("input_key")
    )


def _batch_client(ctx: "Context", endpoint: str):
    from openai import OpenAI

    from udfs.llm import api_key

    settings = ctx.config.llm.endpoints[endpoint]
    return OpenAI(base_url=settings.base_url, api_key=api_key(settings), max_retries=3, timeout=settings.timeout_s)


def collect_batches(ctx: "Context") -> int:
    """Fold the results of finished Batch API jobs into the ledger; returns the batches closed."""
    open_batches = ctx.tables.read("llm_batches").where(F.col("status") == "submitted").collect()
    closed, calls = [], []
    for batch in open_batches:
        client = _batch_client(ctx, batch["endpoint"])
        job = client.batches.retrieve(batch["batch_id"])
        if job.status in ("validating", "in_progress", "finalizing"):
            continue
        if job.status != "completed" or not job.output_file_id:
            closed.append({**batch.asDict(), "status": "failed", "reason": f"batch ended {job.status}", "run_id": ctx.run_id})
            continue
        for line in client.files.content(job.output_file_id).read().decode().splitlines():
            item = json.loads(line)
            calls.append(_batch_call(ctx, batch["task"], batch["prompt_version"], item))
        closed.append({**batch.asDict(), "status": "collected", "reason": None, "run_id": ctx.run_id})
    if calls:
        ctx.tables.merge("llm_calls", ctx.spark.createDataFrame(calls, spark_schema(LlmCall)), UPDATE, UPDATE_WHEN)
    if closed:
        from schemas.llm_batches import LlmBatch

        ctx.tables.merge("llm_batches", ctx.spark.createDataFrame(closed, spark_schema(LlmBatch)), {"status": "s.status", "reason": "s.reason", "run_id": "s.run_id"})
    return len(closed)


def _batch_call(ctx: "Context", task: str, prompt_version: str, item: dict) -> dict:
    from types import SimpleNamespace

    from udfs.llm import _problem, cost_usd

    response = item.get("response") or {}
    body = response.get("body") or {}
    base = {"request_id": item["custom_id"], "task": task, "model": body.get("model", ""), "prompt_version": prompt_version, "via_batch": True,
            "latency_ms": 0, "attempts": 1}
    if response.get("status_code") != 200:
        return LlmCall.row(**base, status="failed", reason=f"HTTP {response.get('status_code')} in batch") | {"run_id": ctx.run_id}
    choices = body.get("choices", [])
    texts = [c["message"]["content"] or "" for c in choices]
    usage = body.get("usage") or {}
    tokens_in, tokens_out = usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)
    problem = _problem(task, [SimpleNamespace(finish_reason=c.get("finish_reason")) for c in choices], texts)
    price = ctx.config.llm.prices.get(base["model"])
    return LlmCall.row(
        **base, status="ok" if problem is None else "invalid", reason=problem, response=json.dumps(texts),
        tokens_in=tokens_in, tokens_out=tokens_out, cost_usd=cost_usd(price, tokens_in, tokens_out, via_batch=True),
    ) | {"run_id": ctx.run_id}


def resolve_batch(ctx: "Context", stage: str, requests: DataFrame) -> DataFrame:
    """Like resolve(), through the Batch API: collect finished jobs, submit requests that are in
    no open job, and return the ledger rows there are (a later run collects the rest)."""
    from schemas.llm_batches import LlmBatch

    fold_journal(ctx)
    collect_batches(ctx)
    wanted = requests.select(*REQUEST_COLUMNS).dropDuplicates(["request_id"])
    final = ctx.tables.read("llm_calls").where(F.col("status").isin(*FINAL)).select("request_id")
    in_flight = ctx.tables.read("llm_batches").where(F.col("status") == "submitted").select(F.explode("request_ids").alias("request_id"))
    to_submit = wanted.join(final, "request_id", "left_anti").join(in_flight, "request_id", "left_anti").collect()
    submitted = []
    for (endpoint, task, prompt_version), rows in _grouped(to_submit).items():
        lines = [json.dumps({"custom_id": r["request_id"], "method": "POST", "url": "/v1/chat/completions", "body": json.loads(r["body"])}) for r in rows]
        client = _batch_client(ctx, endpoint)
        upload = client.files.create(file=("requests.jsonl", ("\n".join(lines) + "\n").encode()), purpose="batch")
        job = client.batches.create(input_file_id=upload.id, endpoint="/v1/chat/completions", completion_window="24h")
        submitted.append(LlmBatch.row(batch_id=job.id, task=task, prompt_version=prompt_version, endpoint=endpoint, input_file_id=upload.id,
                                      request_ids=[r["request_id"] for r in rows], status="submitted") | {"run_id": ctx.run_id})
    if submitted:
        ctx.tables.merge("llm_batches", ctx.spark.createDataFrame(submitted, spark_schema(LlmBatch)))
    return ctx.tables.read("llm_calls").join(wanted.select("request_id"), "request_id")


def _grouped(rows) -> dict[tuple[str, str, str], list]:
    groups: dict[tuple[str, str, str], list] = {}
    for row in rows:
        groups.setdefault((row["endpoint"], row["task"], row["prompt_version"]), []).append(row)
    return groups
