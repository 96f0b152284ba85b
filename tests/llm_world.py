"""The sample web with the LLM engine: the world of the tests that run the LLM stages against a
loopback OpenAI-compatible server (scripted, or passing requests to llama.cpp)."""
import json
import os
import signal
import subprocess
import sys
import time

from runtime.config import load_config
from sampleweb.corpus import generate
from sampleweb.llm_server import ScriptedModel
from tests.conftest import LLM_KEY_ENV as KEY_ENV
from tests.conftest import REPO, SAMPLE_WEB_RENDER, free_port, settings_for

LLM_TABLES = ("candidate_qas", "valid_qas", "answers", "consistent_qas", "aligned_qas", "final_qas")


def world(tmp, server, content_pages=20, port=None, **extra):
    """(argv, config) of a generated sample web whose LLM endpoint is `server`; `endpoint`
    (a dict) adds to the endpoint's settings."""
    port = port or free_port()
    manifest = generate(tmp / "sample_web", port, content_pages=content_pages, seed=7, seed_fraction=0.6)
    answers = {qa["question"]: qa["answer"] for page in manifest["pages"] for qa in page["qas"]}
    server.model = ScriptedModel(answers)
    endpoint = {"base_url": server.base_url, "api_key_env": KEY_ENV, "timeout_s": 1, **extra.pop("endpoint", {})}
    settings = settings_for(tmp, **{
        "sample_web.enabled": "true", "sample_web.port": port, "sample_web.content_pages": content_pages,
        "sample_web.seed_fraction": 0.6, "network.allow_private": f"['*.localhost:{port}']",
        **SAMPLE_WEB_RENDER, "tracking.enabled": "true",
        "llm.engine": "llm", "llm.endpoints": json.dumps({"default": endpoint}), "llm.backoff_base_s": 0.01, "llm.backoff_max_s": 0.1,
        "llm.max_retries": 3, "llm.concurrency": 4, **extra,
    })
    argv = ["--conf", str(REPO / "conf" / "local.yaml")] + [f"--set={k}={v}" for k, v in settings.items()]
    config = load_config(REPO / "conf" / "local.yaml", [f"{k}={v}" for k, v in settings.items()])
    return argv, config


def contents(tables):
    """The LLM stages' tables without run ids, and the ledger's answers."""
    out = {name: sorted(map(repr, tables.read(name).drop("run_id").collect())) for name in LLM_TABLES}
    out["llm_calls"] = sorted(map(repr, tables.read("llm_calls").select("request_id", "status", "response").collect()))
    return out


def kill_when_held(server, task: str, after: int, job: str, argv: list[str], run_id: str, wait_s: float = 180) -> None:
    """Run `job` in a process group of its own; once `server` has let `after` requests of `task`
    through and holds the next, give the answers a moment to reach the journal, SIGKILL it."""
    server.hold(task, after=after)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen([sys.executable, "-m", job, *argv, "--run-id", run_id], cwd=REPO, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        assert server.holding.wait(wait_s), f"{job} never sent request {after + 1} of {task}"
        time.sleep(1.5)  # answers already received reach the journal
        os.killpg(child.pid, signal.SIGKILL)
        child.wait(30)
    finally:
        server.release()
