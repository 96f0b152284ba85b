"""LLM layer benchmark against the loopback OpenAI-compatible server.

1. Throughput at a fixed latency: requests per second of the client alone and of the Spark
   path (resolve(): ledger, tasks, journal), as a share of the bound concurrency / latency.
2. On the sample web with the LLM engine: the share of consistency and alignment decisions
   that symbolic matching settles without a judge call, tokens per task, and the cost per
   final QA at the configured prices, measured on the scripted model's answers and projected
   with typical output lengths, beside the reference's $0.0119 per final QA.

    .venv/bin/python benchmarks/llm_throughput.py [--requests 600] [--latency 0.2] [--pages 60]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pyspark.sql import functions as F  # noqa: E402

from jobs.run_pipeline import before, pipeline  # noqa: E402
from runtime.cli import main  # noqa: E402
from runtime.config import EndpointConfig, LlmConfig, load_config  # noqa: E402
from runtime.context import pipeline_run  # noqa: E402
from runtime.ledger import resolve  # noqa: E402
from runtime.llm_client import LlmClient  # noqa: E402
from sampleweb.corpus import generate  # noqa: E402
from sampleweb.llm_server import OpenAICompatibleServer, ScriptedModel  # noqa: E402
from udfs.llm import build_request, load_prompt  # noqa: E402

KEY_ENV = "WEBMINE_BENCH_LLM_KEY"
REFERENCE_COST_PER_QA = 0.0119
# Output tokens a real model writes per call (the scripted model writes a few lines only).
TYPICAL_OUTPUT_TOKENS = {"extract": 600, "validate": 40, "synthesize": 450, "consistency": 30, "align": 30}


def _serve(latency: float, ports, stop) -> None:
    with OpenAICompatibleServer(latency_s=latency) as server:
        ports.put(server.port)
        stop.wait()


class ServerProcess:
    """The loopback server in a process of its own, so that it does not share the client's GIL."""

    def __init__(self, latency: float):
        import multiprocessing

        context = multiprocessing.get_context("fork")
        ports, self.stop = context.Queue(), context.Event()
        self.process = context.Process(target=_serve, args=(latency, ports, self.stop), daemon=True)
        self.process.start()
        self.base_url = f"http://127.0.0.1:{ports.get(timeout=30)}/v1"

    def __enter__(self) -> "ServerProcess":
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.process.join(10)


def client_throughput(server, n: int, concurrency: int, latency: float) -> dict:
    cfg = LlmConfig(endpoints={"default": EndpointConfig(base_url=server.base_url, api_key_env=KEY_ENV)}, concurrency=concurrency,
                    partitions=1, requests_per_minute=10**7, tokens_per_minute=10**10)
    prompt = load_prompt(REPO / "conf" / "prompts", "validate")
    bodies = [json.loads(build_request(prompt, cfg, question=f"What is {i} + {i}?", image_list="none")["body"]) for i in range(n)]

    async def go():
        client = LlmClient(cfg.endpoints["default"], cfg)
        started = time.monotonic()
        results = await asyncio.gather(*(client.complete("validate", b) for b in bodies))
        return time.monotonic() - started, results

    elapsed, results = asyncio.run(go())
    rate = n / elapsed
    bound = concurrency / latency
    return {"requests": n, "ok": sum(r.status == "ok" for r in results), "seconds": round(elapsed, 2), "rps": round(rate, 1),
            "bound_rps": bound, "share_of_bound": round(rate / bound, 3)}


def spark_throughput(server, work: Path, n: int, concurrency: int, partitions: int, latency: float) -> dict:
    endpoint = f"{{default: {{base_url: '{server.base_url}', api_key_env: {KEY_ENV}}}}}"
    config = load_config(REPO / "conf" / "local.yaml", [
        f"run.work_dir={work}", f"tables.root={work / 'tables'}", "tracking.enabled=false", "sample_web.enabled=false",
        "llm.engine=llm", f"llm.endpoints={endpoint}", f"llm.concurrency={concurrency}", f"llm.partitions={partitions}",
        "llm.requests_per_minute=10000000", "llm.tokens_per_minute=10000000000",
    ])
    prompt = load_prompt(REPO / "conf" / "prompts", "validate")
    rows = [build_request(prompt, config.llm, question=f"How much is {i} times {i}?", image_list="none") for i in range(n)]
    with pipeline_run(config, "bench", serve_sample_web=False) as ctx:
        requests = ctx.spark.createDataFrame(rows)
        started = time.monotonic()
        answered = resolve(ctx, "bench", requests).where(F.col("status") == "ok").count()
        elapsed = time.monotonic() - started
        started = time.monotonic()
        resolve(ctx, "bench", requests).count()
        replay = time.monotonic() - started
    bound = concurrency * partitions / latency
    return {"requests": n, "ok": answered, "seconds": round(elapsed, 2), "rps": round(n / elapsed, 1), "bound_rps": bound,
            "share_of_bound": round(n / elapsed / bound, 3), "rerun_seconds_from_ledger": round(replay, 2)}


def sample_web_run(work: Path, pages: int) -> dict:
    port = 18190
    manifest = generate(work / "sample_web", port, content_pages=pages, seed=7, seed_fraction=0.6)
    answers = {qa["question"]: qa["answer"] for page in manifest["pages"] for qa in page["qas"]}
    with OpenAICompatibleServer(ScriptedModel(answers)) as server:
        endpoint = f"{{default: {{base_url: '{server.base_url}', api_key_env: {KEY_ENV}}}}}"
        settings = {
            "run.work_dir": work, "tables.root": work / "tables", "tracking.enabled": "false", "sample_web.dir": work / "sample_web",
            "sample_web.port": port, "sample_web.content_pages": pages, "sample_web.seed_fraction": 0.6,
            "network.allow_private": f"['*.localhost:{port}']", "render.page_timeout_s": 5, "llm.engine": "llm", "llm.endpoints": endpoint,
        }
        argv = ["--conf", str(REPO / "conf" / "local.yaml")] + [f"--set={k}={v}" for k, v in settings.items()]
        assert main("run_pipeline", pipeline, argv, before=before) == 0
        config = load_config(REPO / "conf" / "local.yaml", [f"{k}={v}" for k, v in settings.items()])
        with pipeline_run(config, "bench-report", serve_sample_web=False) as ctx:
            t = ctx.tables
            consistency = {r["decided_by"]: r["count"] for r in t.read("consistent_qas").groupBy("decided_by").count().collect()}
            align = t.read("final_qas").where("status = 'ok' AND web_answer IS NOT NULL AND decided_by LIKE '%align:%'")
            align_by = {r["by"]: r["count"]
                        for r in align.select(F.regexp_extract("decided_by", "align:(\\w+)", 1).alias("by")).groupBy("by").count().collect()}
            calls = [r.asDict() for r in t.read("llm_calls").groupBy("task", "model").agg(
                F.count("*").alias("requests"), F.sum("tokens_in").alias("tokens_in"), F.sum("tokens_out").alias("tokens_out"),
                F.sum("cost_usd").alias("cost_usd")).collect()]
            final = t.read("final_qas").where("status = 'ok'").count()
            sources = {r["answer_source"]: r["count"] for r in t.read("final_qas").groupBy("answer_source").count().collect()}
        prices = config.llm.prices
        projected = projected_batch = 0.0
        for c in calls:
            price = prices[c["model"]]
            per_call_out = TYPICAL_OUTPUT_TOKENS[c["task"]] * (config.llm.answers_per_question if c["task"] == "synthesize" else 1)
            dollars = (c["tokens_in"] * price.input_per_mtok + c["requests"] * per_call_out * price.output_per_mtok) / 1e6
            projected += dollars
            projected_batch += dollars * (price.batch_factor if c["task"] == "synthesize" else 1)
    decisions = sum(consistency.values()) + sum(align_by.values())
    symbolic = consistency.get("symbolic", 0) + align_by.get("symbolic", 0)
    measured = sum(c["cost_usd"] for c in calls)
    return {
        "final_qas": final, "answer_sources": sources, "consistency_decided_by": consistency, "alignment_decided_by": align_by,
        "judge_calls_saved_share": round(symbolic / decisions, 3) if decisions else None, "calls": calls,
        "cost_per_final_qa_measured": round(measured / max(1, final), 6),
        "cost_per_final_qa_projected": round(projected / max(1, final), 6),
        "cost_per_final_qa_projected_batch_synthesis": round(projected_batch / max(1, final), 6),
        "reference_cost_per_final_qa": REFERENCE_COST_PER_QA,
    }


def main_() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--pages", type=int, default=60, help="sample web content pages; 0 skips that part")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "llm_throughput.json"))
    args = parser.parse_args()
    os.environ.setdefault(KEY_ENV, "sk-bench")
    results = {}
    with ServerProcess(args.latency) as server:
        results["client"] = client_throughput(server, args.requests, args.concurrency, args.latency)
        print("client alone:", results["client"], flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            results["spark"] = spark_throughput(server, Path(tmp), args.requests, args.concurrency, 2, args.latency)
        print("through Spark:", results["spark"], flush=True)
    if args.pages:
        with tempfile.TemporaryDirectory() as tmp:
            results["sample_web"] = sample_web_run(Path(tmp), args.pages)
        print("sample web:", json.dumps(results["sample_web"], indent=1), flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main_()
