"""The ledger's Batch API path against the loopback server's Batch API: jobs cut by count and
bytes, a run killed between creating a job and recording it, expired jobs' partial output."""
import json

import pytest

from runtime import ledger
from runtime.context import Context
from runtime.tables import Tables
from runtime.tracking import Tracker
from sampleweb.llm_server import OpenAICompatibleServer
from tests.conftest import LLM_KEY_ENV, make_config
from udfs.llm import build_request, load_prompt


def context(spark, tmp, server, run_id="run-batch", **llm) -> Context:
    endpoint = f"{{default: {{base_url: '{server.base_url}', api_key_env: {LLM_KEY_ENV}, timeout_s: 5}}}}"
    config = make_config(tmp, **{"llm.engine": "llm", "llm.endpoints": endpoint, **{f"llm.{k}": v for k, v in llm.items()}})
    return Context(config, spark, Tables(spark, config.tables, config.staging_root()), run_id, Tracker(config.tracking))


def requests(ctx: Context, n: int):
    prompt = load_prompt(ctx.config.llm.prompts_dir, "synthesize")
    rows = [build_request(prompt, ctx.config.llm, n=2, question=f"What is {i} + {i}? Show your steps.") for i in range(n)]
    return ctx.spark.createDataFrame(rows)


def statuses(ctx: Context) -> dict[str, str]:
    return {r["request_id"]: r["status"] for r in ctx.tables.read("llm_calls").collect()}


def test_lines_are_cut_by_count_and_by_bytes():
    lines = ["x" * 9] * 5  # 10 bytes each with the newline
    assert [len(job) for job in ledger.split_lines(lines, 2, 10**6)] == [2, 2, 1]
    assert [len(job) for job in ledger.split_lines(lines, 50_000, 30)] == [3, 2]
    assert [len(job) for job in ledger.split_lines(["x" * 99], 50_000, 30)] == [1]  # too large: alone


def test_jobs_are_split_then_collected_each_request_answered_once(spark, tmp_path):
    with OpenAICompatibleServer() as server:
        ctx = context(spark, tmp_path, server, batch_max_requests=2)
        asked = requests(ctx, 5)
        assert ledger.resolve_batch(ctx, "synthesize", asked).count() == 0
        jobs = ctx.tables.read("llm_batches").collect()
        assert sorted(len(j["request_ids"]) for j in jobs) == [1, 2, 2] and {j["status"] for j in jobs} == {"submitted"}
        assert len(server.batches) == 3 and server.counts.requests == 0
        assert set(ledger.resolve_batch(ctx, "synthesize", asked).toPandas()["status"]) == {"ok"}
        assert server.counts.requests == 5 and len(statuses(ctx)) == 5
        assert {j["status"] for j in ctx.tables.read("llm_batches").collect()} == {"collected"}
        by_bytes = max(j["request_bytes"] for j in jobs)
    with OpenAICompatibleServer() as server:
        ctx = context(spark, tmp_path / "bytes", server, batch_max_bytes=by_bytes)  # 2 requests fit, 3 do not
        ledger.resolve_batch(ctx, "synthesize", requests(ctx, 5))
        assert sorted(len(j["request_ids"]) for j in ctx.tables.read("llm_batches").collect()) == [1, 2, 2]
        assert all(j["request_bytes"] <= by_bytes for j in ctx.tables.read("llm_batches").collect())


def test_a_job_created_by_a_run_killed_before_recording_it_is_found_again(spark, tmp_path, monkeypatch):
    record = ledger._record_batches

    def killed_after_create(ctx, rows):
        if any(row["status"] == "submitted" for row in rows):
            raise KeyboardInterrupt("killed between batches.create and recording the job")
        record(ctx, rows)

    with OpenAICompatibleServer() as server:
        ctx = context(spark, tmp_path, server)
        asked = requests(ctx, 3)
        monkeypatch.setattr(ledger, "_record_batches", killed_after_create)
        with pytest.raises(KeyboardInterrupt):
            ledger.resolve_batch(ctx, "synthesize", asked)
        monkeypatch.setattr(ledger, "_record_batches", record)
        [intent] = ctx.tables.read("llm_batches").collect()
        assert intent["status"] == "submitting" and intent["batch_id"] is None and len(server.batches) == 1

        ledger.resolve_batch(ctx, "synthesize", asked)  # finds the job by its metadata, submits nothing new
        [job] = ctx.tables.read("llm_batches").collect()
        assert job["submission_id"] == intent["submission_id"] and job["batch_id"] in server.batches
        assert len(server.batches) == 1
        ledger.resolve_batch(ctx, "synthesize", asked)
        assert set(statuses(ctx).values()) == {"ok"} and server.counts.requests == 3


def test_an_expired_job_gives_its_partial_output_and_the_rest_is_sent_again(spark, tmp_path):
    with OpenAICompatibleServer(batch_expires_after=2) as server:
        ctx = context(spark, tmp_path, server)
        asked = requests(ctx, 5)
        ledger.resolve_batch(ctx, "synthesize", asked)
        ledger.resolve_batch(ctx, "synthesize", asked)  # collects 2 answers of the expired job, submits the 3 others
        server.batch_expires_after = None
        jobs = sorted(ctx.tables.read("llm_batches").collect(), key=lambda j: len(j["request_ids"]))
        assert [(len(j["request_ids"]), j["status"]) for j in jobs] == [(3, "submitted"), (5, "collected")]
        assert jobs[1]["reason"] == "batch ended expired: 2 of 5 results returned"
        assert list(statuses(ctx).values()) == ["ok", "ok"]
        ledger.resolve_batch(ctx, "synthesize", asked)
        assert list(statuses(ctx).values()) == ["ok"] * 5
        assert server.counts.requests == 5 and server.counts.resent_after_answer == 0


def test_a_jobs_error_file_is_recorded_and_its_requests_sent_again(spark, tmp_path):
    from sampleweb.llm_server import Faults

    with OpenAICompatibleServer(faults=Faults(rate_500=1.0)) as server:
        ctx = context(spark, tmp_path, server)
        asked = requests(ctx, 2)
        ledger.resolve_batch(ctx, "synthesize", asked)
        ledger.resolve_batch(ctx, "synthesize", asked)  # the error file: failed rows, and a new job for them
        calls = ctx.tables.read("llm_calls").collect()
        assert {c["status"] for c in calls} == {"failed"} and all(c["reason"].startswith("HTTP 500 in batch") for c in calls)
        server.faults = Faults()
        ledger.resolve_batch(ctx, "synthesize", asked)
        assert set(statuses(ctx).values()) == {"ok"}
        assert json.loads(ctx.tables.read("llm_calls").first()["response"])
