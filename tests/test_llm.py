"""The LLM client against the loopback OpenAI-compatible server: answers, retries, limits."""
import asyncio
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from runtime.config import EndpointConfig, LlmConfig
from sampleweb.llm_server import Faults, OpenAICompatibleServer, ScriptedModel, deverbalize, verbalize
from tests.conftest import LLM_KEY_ENV as KEY_ENV
from tests.conftest import REPO
from runtime.limits import RateLimiter
from runtime.llm_client import LlmClient, request_id
from runtime.llm_replies import parse_reply
from udfs.llm import build_request, load_prompt

PROMPTS = REPO / "conf" / "prompts"


def config(server, **overrides) -> LlmConfig:
    settings = {
        "endpoints": {"default": EndpointConfig(base_url=server.base_url, api_key_env=KEY_ENV, timeout_s=2)},
        "max_retries": 3, "max_parse_retries": 1, "backoff_base_s": 0.01, "backoff_max_s": 0.2, "partitions": 1,
    }
    settings.update(overrides)
    return LlmConfig(**settings)


def call(server, task: str, cfg: LlmConfig, n: int = 1, **fields):
    prompt = load_prompt(PROMPTS, task)
    request = build_request(prompt, cfg, n=n, **fields)

    async def go():
        return await LlmClient(cfg.endpoints["default"], cfg).complete(task, json.loads(request["body"]))

    return asyncio.run(go())


def test_request_ids_are_stable_and_cover_every_parameter():
    prompt = load_prompt(PROMPTS, "synthesize")
    cfg = LlmConfig()
    one = build_request(prompt, cfg, n=4, question="What is 2 + 2?")
    assert one == build_request(prompt, cfg, n=4, question="What is 2 + 2?")
    assert one["request_id"] != build_request(prompt, cfg, n=3, question="What is 2 + 2?")["request_id"]
    body = json.loads(one["body"])
    assert request_id("synthesize-v2", body) != one["request_id"]  # the prompt version is part of the key
    assert "api_key" not in one["body"] and "sk-" not in one["body"]


def test_every_task_answers_and_parses():
    model = ScriptedModel({"What is 2 + 2? Show your steps.": "4"})
    with OpenAICompatibleServer(model) as server:
        cfg = config(server)
        page = "Page: http://x/p\n\n# Example 1.1\nFind the sum of 2 and 3.\n[image 1: figure]\n# Solution\n2 + 3 = 5.\nAnswer: 5"
        extracted = call(server, "extract", cfg, url="http://x/p", content=page.split("\n\n", 1)[1])
        reply = parse_reply("extract", extracted.choices[0])
        assert extracted.status == "ok" and reply.pairs[0].question == "Find the sum of 2 and 3."
        assert reply.pairs[0].question_images == [1]
        synthesized = call(server, "synthesize", cfg, n=4, question="What is 2 + 2? Show your steps.")
        assert synthesized.status == "ok" and len(synthesized.choices) == 4
        assert {parse_reply("synthesize", c).short_answer for c in synthesized.choices} <= {"4", "17 units", "42 units", verbalize("4")}
        assert synthesized.tokens_in > 0 and synthesized.tokens_out > 0
        judged = call(server, "consistency", cfg, question="q", answers=f"1. 4\n2. {verbalize('4')}\n3. 5")
        assert parse_reply("consistency", judged.choices[0]).groups == [[1, 2], [3]]
        aligned = call(server, "align", cfg, question="q", synthesized=verbalize("13 cm"), web="13 cm")
        assert parse_reply("align", aligned.choices[0]).aligned is True
        valid = call(server, "validate", cfg, question="Find the area of the triangle with legs 3 and 4.", image_list="[image 1]")
        assert parse_reply("validate", valid.choices[0]).relevant_images == [1]
        assert server.counts.by_task == {"extract": 1, "synthesize": 1, "consistency": 1, "align": 1, "validate": 1}


def test_429_is_retried_after_the_delay_the_server_asks_for():
    with OpenAICompatibleServer(faults=Faults(rate_429=1.0, retry_after_s=0.3)) as server:
        started = time.monotonic()
        result = call(server, "validate", config(server, max_retries=2), question="What is 2 + 2?", image_list="none")
        elapsed = time.monotonic() - started
    assert result.status == "failed" and result.reason.startswith("HTTP 429")
    assert result.attempts == 3 and server.counts.requests == 3
    assert elapsed >= 0.6  # two waits of Retry-After, not the tiny configured backoff


def test_transient_faults_are_retried_until_answered():
    faults = Faults(rate_429=0.2, rate_500=0.2, retry_after_s=0.01)
    with OpenAICompatibleServer(faults=faults, seed=1) as server:
        results = [call(server, "validate", config(server, max_retries=10), question=f"What is {i} + {i}?", image_list="none") for i in range(12)]
    assert all(r.status == "ok" for r in results)
    assert sum(r.attempts for r in results) == server.counts.requests > 12
    assert server.counts.faults["429"] and server.counts.faults["500"]


def test_malformed_and_truncated_answers_are_asked_again_then_recorded_invalid():
    with OpenAICompatibleServer(faults=Faults(rate_malformed=1.0)) as server:
        result = call(server, "align", config(server, max_parse_retries=2), question="q", synthesized="1", web="1")
    assert (result.status, result.attempts) == ("invalid", 3)
    assert result.reason.startswith("unparseable align answer")
    with OpenAICompatibleServer(faults=Faults(rate_truncated=1.0)) as server:
        result = call(server, "synthesize", config(server, max_parse_retries=0), question="What is 1 + 1?")
    assert result.status == "invalid" and result.reason.startswith("truncated")


def test_a_request_that_hangs_times_out_and_is_retried():
    with OpenAICompatibleServer(faults=Faults(rate_timeout=1.0, hang_s=5)) as server:
        cfg = config(server, max_retries=1)
        cfg = cfg.model_copy(update={"endpoints": {"default": EndpointConfig(base_url=server.base_url, api_key_env=KEY_ENV, timeout_s=0.3)}})
        result = call(server, "validate", cfg, question="What is 2 + 2?", image_list="none")
    assert result.status == "failed" and "Timeout" in result.reason and result.attempts == 2


def test_missing_key_is_a_clear_error(monkeypatch):
    monkeypatch.delenv(KEY_ENV)
    with OpenAICompatibleServer() as server:
        with pytest.raises(RuntimeError, match=f"environment variable {KEY_ENV}"):
            call(server, "validate", config(server), question="q", image_list="none")


def test_rate_limiter_holds_requests_per_minute():
    async def go():
        limiter = RateLimiter(requests_per_minute=600, tokens_per_minute=10**9)  # 10 a second
        started = time.monotonic()
        for _ in range(25):
            await limiter.acquire(1)
        return time.monotonic() - started

    assert asyncio.run(go()) >= 1.4  # a first second's worth at once, then 10 a second


def test_verbalized_answers_round_trip():
    assert verbalize("5.33 A") == "five point three three A"
    assert deverbalize("five point three three A") == "5.33 A"


def test_call_partitions_journals_every_answer_as_it_arrives(tmp_path):
    import pandas as pd

    from runtime.llm_client import call_partitions

    with OpenAICompatibleServer() as server:
        cfg = config(server, prices={"gpt-4o-mini": {"input_per_mtok": 1.0, "output_per_mtok": 2.0}})
        prompt = load_prompt(PROMPTS, "validate")
        requests = pd.DataFrame([build_request(prompt, cfg, question=f"What is {i} squared?", image_list="none") for i in range(3)])
        rows = pd.concat(list(call_partitions(cfg, str(tmp_path / "journal"), "run-j")(iter([requests]))))
        assert list(rows["status"]) == ["ok"] * 3
        assert (rows["cost_usd"] > 0).all() and (rows["tokens_in"] > 0).all()
        journaled = [json.loads(path.read_text()) for path in (tmp_path / "journal").glob("*.json")]
        assert sorted(j["request_id"] for j in journaled) == sorted(requests["request_id"])
        assert {j["run_id"] for j in journaled} == {"run-j"}
        # A second task over the same requests (a retried one) answers them from the journal.
        again = pd.concat(list(call_partitions(cfg, str(tmp_path / "journal"), "run-k")(iter([requests]))))
        assert server.counts.requests == 3
    assert again.drop(columns="latency_ms").equals(rows.drop(columns="latency_ms"))


RETRIED_TASK = """
import json, sys
from runtime.config import load_config
from runtime.context import pipeline_run
from runtime.ledger import resolve
config = load_config(sys.argv[1], sys.argv[3:])
with pipeline_run(config, "retried-task", run_id="retried-task", serve_sample_web=False) as ctx:
    rows = [json.loads(line) for line in open(sys.argv[2])]
    calls = resolve(ctx, "retried", ctx.spark.createDataFrame(rows)).collect()
    print("STATUSES " + json.dumps(sorted(c.status for c in calls)))
"""


def _descends_from(pid: int, ancestor: int) -> bool:
    while pid > 1:
        if pid == ancestor:
            return True
        with open(f"/proc/{pid}/stat") as stat:
            pid = int(stat.read().rsplit(")", 1)[1].split()[1])
    return False


def _client_of(port: int, ancestor: int) -> int | None:
    """The process under `ancestor` with an open connection to the loopback port."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in open(table).read().splitlines()[1:]:
            fields = line.split()
            if int(fields[2].rsplit(":", 1)[1], 16) == port and fields[3] == "01":
                inodes.add(f"socket:[{fields[9]}]")
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if any(os.readlink(f"/proc/{pid}/fd/{fd}") in inodes for fd in os.listdir(f"/proc/{pid}/fd")) and _descends_from(int(pid), ancestor):
                return int(pid)
        except OSError:
            continue
    return None


def test_a_spark_task_killed_after_answers_arrived_is_retried_without_paying_again(tmp_path):
    """Spark retries the task (local[1,2]: two attempts); its retry reads the journal first."""
    from tests.conftest import settings_for

    with OpenAICompatibleServer() as server:
        endpoint = f"{{default: {{base_url: '{server.base_url}', api_key_env: {KEY_ENV}, timeout_s: 30}}}}"
        settings = settings_for(tmp_path, **{"spark.master": "local[1,2]", "llm.engine": "llm", "llm.endpoints": endpoint,
                                             "llm.partitions": 1, "llm.concurrency": 2})
        cfg = config(server)
        prompt = load_prompt(PROMPTS, "validate")
        requests = tmp_path / "requests.jsonl"
        requests.write_text("".join(json.dumps(build_request(prompt, cfg, question=f"What is {i} cubed?", image_list="none")) + "\n" for i in range(6)))
        server.hold("validate", after=3)
        child = subprocess.Popen([sys.executable, "-c", RETRIED_TASK, str(REPO / "conf" / "local.yaml"), str(requests),
                                  *[f"{k}={v}" for k, v in settings.items()]], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert server.holding.wait(120), "the task never sent its requests"
            journal = tmp_path / "_staging" / "_llm_journal"
            deadline = time.monotonic() + 30
            while len(list(journal.glob("*.json"))) < 3 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert len(list(journal.glob("*.json"))) == 3
            worker = _client_of(server.port, child.pid)
            assert worker is not None, "no Python worker holds a connection to the server"
            os.kill(worker, signal.SIGKILL)
            server.release()
            out, err = child.communicate(timeout=180)
        finally:
            child.kill()
        assert child.returncode == 0, err[-3000:]
        assert json.loads(out.split("STATUSES ", 1)[1]) == ["ok"] * 6
        # The worker died with requests held: only a retried task could finish (rc 0), sending those again.
        assert server.counts.by_task["validate"] > 6
        assert server.counts.answered_by_task["validate"] == 6
        assert server.counts.resent_after_answer == 0  # the retry sent none of the three answers again


def test_an_endpoint_that_ignores_n_is_asked_again_for_the_missing_choices():
    with OpenAICompatibleServer(max_choices=1) as server:
        result = call(server, "synthesize", config(server), n=4, question="What is 3 + 4? Show your steps.")
    assert result.status == "ok" and len(result.choices) == 4
    assert server.counts.requests == 4  # one choice an answer: three more requests
    assert result.attempts == 4 and result.tokens_in > 0


def test_an_endpoint_that_refuses_more_than_max_choices_is_asked_in_parts():
    with OpenAICompatibleServer() as server:
        cfg = config(server)
        cfg = cfg.model_copy(update={"endpoints": {"default": cfg.endpoints["default"].model_copy(update={"max_choices": 3})}})
        result = call(server, "synthesize", cfg, n=4, question="What is 3 + 4? Show your steps.")
    assert result.status == "ok" and len(result.choices) == 4
    assert server.counts.requests == 2  # three choices, then the last one


def test_an_endpoint_without_images_is_sent_the_text_alone():
    prompt = load_prompt(PROMPTS, "synthesize")
    image = "data:image/png;base64,AAAA"
    seeing = json.loads(build_request(prompt, LlmConfig(), [image], question="q")["body"])
    blind = LlmConfig(endpoints={"default": EndpointConfig(images=False)})
    text_only = json.loads(build_request(prompt, blind, [image], question="q")["body"])
    assert seeing["messages"][1]["content"][1]["image_url"]["url"] == image
    assert text_only["messages"][1]["content"] == seeing["messages"][1]["content"][0]["text"]


def test_json_tasks_send_their_reply_schema_where_the_endpoint_takes_one():
    prompt = load_prompt(PROMPTS, "validate")
    structured = LlmConfig()
    plain = LlmConfig(endpoints={"default": EndpointConfig(structured_output="none")})
    llama = LlmConfig(endpoints={"default": EndpointConfig(structured_output="json_object")})
    body = json.loads(build_request(prompt, structured, question="q", image_list="none")["body"])
    schema = body["response_format"]["json_schema"]["schema"]
    assert body["response_format"]["type"] == "json_schema" and schema["required"] == ["valid", "reason", "relevant_images"]
    assert "response_format" not in json.loads(build_request(prompt, plain, question="q", image_list="none")["body"])
    llama_body = json.loads(build_request(prompt, llama, question="q", image_list="none")["body"])
    assert llama_body["response_format"] == {"type": "json_object", "schema": schema}
    synthesis = json.loads(build_request(load_prompt(PROMPTS, "synthesize"), structured, question="q")["body"])
    assert "response_format" not in synthesis  # free text with a 'Final answer:' line


def test_prompt_tokens_follow_tiktoken_and_the_image_rule_for_the_detail_sent():
    from runtime.llm_client import image_tokens, prompt_tokens, text_tokens
    from udfs.llm import image_data_url

    assert text_tokens("hello world") == 2
    assert image_tokens("gpt-4o", 768, 768, "low") == 85
    assert image_tokens("gpt-4o", 768, 768, "high") == 85 + 170 * 4
    assert image_tokens("gpt-4o", 2048, 4096, "high") == 85 + 170 * 6  # to 1024 x 2048, then 768 x 1536: 2 x 3 tiles
    assert image_tokens("gpt-4o-mini", 512, 512, "high") == 2833 + 5667
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (600, 300), "white").save(buffer, format="PNG")
    url = image_data_url(buffer.getvalue(), 768)
    text_only = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Is this a triangle?"}]}
    with_image = {"model": "gpt-4o", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "Is this a triangle?"}, {"type": "image_url", "image_url": {"url": url, "detail": "high"}}]}]}
    assert prompt_tokens(with_image) - prompt_tokens(text_only) == 85 + 170 * 2  # 600 x 300 is 2 x 1 tiles
