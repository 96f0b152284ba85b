"""The LLM engine against a real model server: llama.cpp's server running SmolLM2-135M-Instruct on
loopback, behind the loopback server in pass-through mode, which counts what is sent.

A model this small extracts badly and often runs to max_tokens; the tests hold whatever it
answers to the contract: the tokens billed are the server's, JSON replies follow their schema,
unusable ones are kept `invalid` with the reason, and nothing answered is paid for twice.
"""
import asyncio
import json
import time
from collections import Counter

import pytest

from jobs.run_pipeline import before, pipeline
from runtime.cli import main
from runtime.config import EndpointConfig, LlmConfig, LlmStageConfig
from runtime.llm_client import LlmClient
from runtime.llm_replies import parse_choices
from runtime.tables import Tables
from sampleweb.llm_server import OpenAICompatibleServer
from tests.conftest import LLM_KEY_ENV, REPO, snapshot
from tests.llama_server import LlamaServer
from tests.llm_world import kill_when_held, world
from udfs.llm import build_request, load_prompt

pytestmark = pytest.mark.e2e
# Small answers keep a 135M model on 2 cores to seconds a request; one parse retry.
LIMITS = {
    "llm.extract.max_tokens": 256, "llm.validate.max_tokens": 96, "llm.synthesize.max_tokens": 96, "llm.judge.max_tokens": 96,
    "llm.max_parse_retries": 1, "llm.answers_per_question": 2, "llm.concurrency": 1, "llm.partitions": 2, "search.rounds": 1,
    "tracking.enabled": "false",
}
LLM_STAGES = ("extract", "validate", "synthesize", "consistency", "align")


@pytest.fixture(scope="module")
def llama(tmp_path_factory):
    server = LlamaServer(tmp_path_factory.mktemp("llama") / "llama-server.log")
    yield server
    server.close()


@pytest.fixture(scope="module")
def real_runs(spark, tmp_path_factory, llama):
    """The web stages; extraction killed after two answers; the LLM stages; a rerun of them."""
    tmp = tmp_path_factory.mktemp("real_llm")
    server = OpenAICompatibleServer(upstream=llama.base_url)
    # The model reads no images: llama.cpp without a vision projector answers 500 to one.
    endpoint = {"timeout_s": 300, "structured_output": "json_object", "images": False}
    argv, config = world(tmp, server, content_pages=6, endpoint=endpoint, **LIMITS)
    tables = Tables(spark, config.tables, tmp / "_staging")
    stages = list(pipeline(config))
    llm_from = next(i for i, s in enumerate(stages) if s.name == "extract")
    llm_stages = [s for s in stages if s.name in LLM_STAGES]
    assert main("real-web", stages[:llm_from], argv + ["--run-id", "real-web"], before=before) == 0

    kill_when_held(server, "extract", 2, "jobs.extract_qas", argv, "real-killed", wait_s=300)
    sent_before_kill = server.counts.requests
    while server.forwarding:  # a request of the killed run still at llama.cpp bills that run, not the next
        time.sleep(0.2)

    usage_from = len(server.usage)
    assert main("real-llm", llm_stages, argv + ["--run-id", "real-full"]) == 0
    usage_full = server.usage[usage_from:]
    requests_full = server.counts.requests
    first = snapshot(tables)
    assert main("real-llm", llm_stages, argv + ["--run-id", "real-rerun"]) == 0
    yield {"server": server, "tables": tables, "config": config, "usage_full": usage_full, "sent_before_kill": sent_before_kill,
           "requests_full": requests_full, "first": first, "second": snapshot(tables)}
    server.close()


def test_the_ledger_bills_the_tokens_the_server_reported(real_runs):
    calls = real_runs["tables"].read("llm_calls").where("run_id = 'real-full'").collect()
    billed = Counter()
    for task, prompt, completion in real_runs["usage_full"]:
        billed[task, "in"] += prompt
        billed[task, "out"] += completion
    ledger = Counter()
    for call in calls:
        ledger[call["task"], "in"] += call["tokens_in"]
        ledger[call["task"], "out"] += call["tokens_out"]
    assert billed[("extract", "in")] > 0
    assert ledger == billed


def test_json_replies_follow_their_schema_and_unusable_ones_are_kept_invalid(real_runs):
    calls = real_runs["tables"].read("llm_calls").collect()
    assert {c["status"] for c in calls} <= {"ok", "invalid"}  # nothing left failed
    for call in calls:
        choices = json.loads(call["response"] or "[]")
        if call["status"] == "ok":
            assert len(parse_choices(call["task"], call["response"])) == len(choices) > 0
        else:
            assert call["reason"].startswith(("truncated", "unparseable")) and call["attempts"] == 2
    assert any(c["status"] == "ok" for c in calls)


def test_a_killed_extraction_pays_for_nothing_twice(real_runs):
    server, tables = real_runs["server"], real_runs["tables"]
    assert server.counts.resent_after_answer == 0
    kept = tables.read("llm_calls").where("run_id = 'real-killed'").count()
    assert kept >= 1  # answers received before the kill, folded in from the journal
    pages = tables.read("pages").where("status = 'ok'").count()
    tries = 1 + real_runs["config"].llm.max_parse_retries  # an unusable answer is asked again, the same body
    assert server.counts.by_task["extract"] <= tries * pages + real_runs["sent_before_kill"]


def test_a_rerun_sends_no_request_and_changes_nothing(real_runs):
    assert real_runs["server"].counts.requests == real_runs["requests_full"]
    assert real_runs["second"] == real_runs["first"]


def test_choices_beyond_the_servers_slots_are_asked_in_parts_and_a_cut_off_answer_is_kept_invalid(llama):
    cfg = LlmConfig(
        endpoints={"default": EndpointConfig(base_url=llama.base_url, api_key_env=LLM_KEY_ENV, timeout_s=120, structured_output="json_object",
                                             max_choices=2)},
        synthesize=LlmStageConfig(temperature=0.7, max_tokens=128), validate=LlmStageConfig(max_tokens=2), max_parse_retries=1, partitions=1,
    )
    prompts = REPO / "conf" / "prompts"

    async def ask(task, request):
        return await LlmClient(cfg.endpoints["default"], cfg).complete(task, json.loads(request["body"]))

    synthesis = build_request(load_prompt(prompts, "synthesize"), cfg, n=3, question="What is 2 + 3?")
    answered = asyncio.run(ask("synthesize", synthesis))
    # n=3 is a 400 from a server of two slots: asked as 2, then 1 (a first part kept invalid ends it).
    assert answered.status != "failed" and answered.tokens_in > 0, answered.reason
    assert len(answered.choices) == 3 or (answered.status == "invalid" and len(answered.choices) == 2)
    validation = build_request(load_prompt(prompts, "validate"), cfg, question="What is 2 + 3?", image_list="none")
    cut = asyncio.run(ask("validate", validation))
    assert cut.status == "invalid" and cut.reason == "truncated: the answer hit max_tokens"
    assert cut.attempts == 2 and cut.tokens_out == 4
