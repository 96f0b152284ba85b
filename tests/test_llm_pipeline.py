"""The pipeline with the LLM engine, against the loopback OpenAI-compatible server."""
import json

import pytest
from pyspark.sql import functions as F

from jobs.estimate_cost import estimate
from jobs.estimate_cost import main as estimate_main
from jobs.run_pipeline import before, pipeline
from runtime.cli import main
from runtime.tables import MODELS, Tables
from sampleweb.llm_server import Faults, OpenAICompatibleServer
from tests.conftest import LLM_TEST_KEY as SECRET
from tests.conftest import free_port, snapshot
from tests.llm_world import LLM_TABLES, contents, kill_when_held, world
from udfs.matching import equivalent

pytestmark = pytest.mark.e2e
# The main world and the one that heals from an outage serve the same pages: same port, same URLs.
PORT = free_port()


def is_answering(stage) -> bool:
    return stage.name in ("synthesize", "consistency", "align")


@pytest.fixture(scope="module")
def llm_runs(spark, tmp_path_factory):
    """Up to validation; synthesis killed part-way in a separate process; the full pipeline; a rerun."""
    tmp = tmp_path_factory.mktemp("llm")
    server = OpenAICompatibleServer()
    argv, config = world(tmp, server, port=PORT)
    tables = Tables(spark, config.tables, tmp / "_staging")
    stages = list(pipeline(config))
    llm_from = next(i for i, s in enumerate(stages) if s.name == "extract")
    assert main("llm-web", stages[:llm_from], argv + ["--run-id", "llm-web"], before=before) == 0
    assert estimate_main(argv + ["--run-id", "llm-estimate"]) == 0
    estimated_before_any_call = server.counts.requests
    # The estimate prices the pages already rendered, which are the first round's.
    first_round = stages[:next(i for i, s in enumerate(stages) if s.name == "next_round")]
    up_to_validation = [s for s in first_round if not is_answering(s)]
    assert main("llm-part", up_to_validation, argv + ["--run-id", "llm-first"], before=before, estimate=estimate) == 0
    extract_requests = server.counts.by_task["extract"]

    kill_when_held(server, "synthesize", 3, "jobs.synthesize_answers", argv, "llm-killed")
    answered_before_kill = server.counts.answered_by_task["synthesize"]
    requests_before = server.counts.requests

    assert main("run_pipeline", pipeline, argv + ["--run-id", "llm-second"], before=before) == 0
    requests_full = server.counts.requests
    first = snapshot(tables)
    assert main("run_pipeline", pipeline, argv + ["--run-id", "llm-third"], before=before) == 0
    yield {
        "config": config, "tables": tables, "server": server, "answered_before_kill": answered_before_kill,
        "estimated_before_any_call": estimated_before_any_call, "extract_requests": extract_requests,
        "requests_before": requests_before, "requests_full": requests_full, "first": first, "second": snapshot(tables),
    }
    server.close()


def test_dry_run_prices_the_requests_before_any_call(llm_runs, capfd):
    import mlflow

    assert llm_runs["estimated_before_any_call"] == 0
    config = llm_runs["config"]
    mlflow.set_tracking_uri(f"sqlite:///{config.run.work_dir / 'mlflow.db'}")
    [run_id] = mlflow.search_runs(experiment_names=[config.tracking.experiment], filter_string="tags.pipeline_run_id = 'llm-estimate'")["run_id"]
    params = mlflow.get_run(run_id).data.params
    assert int(params["estimate.extract.requests"]) == llm_runs["extract_requests"] > 0
    assert int(params["estimate.synthesize.requests"]) > 0 and float(params["estimate.synthesize.max_cost_usd"]) > 0


def test_the_dry_run_at_the_start_of_a_run_is_within_a_quarter_of_the_tokens_billed(llm_runs, capfd):
    import mlflow

    config, calls = llm_runs["config"], llm_runs["tables"].read("llm_calls").where("run_id = 'llm-first'")
    mlflow.set_tracking_uri(f"sqlite:///{config.run.work_dir / 'mlflow.db'}")
    [run_id] = mlflow.search_runs(experiment_names=[config.tracking.experiment], filter_string="tags.pipeline_run_id = 'llm-first'")["run_id"]
    run = mlflow.get_run(run_id).data
    for task in ("extract", "validate"):  # the tasks that run sent; validation's requests carry the images
        billed = calls.where(F.col("task") == task).agg(F.sum("tokens_in")).first()[0]
        estimated = int(run.params[f"estimate.{task}.prompt_tokens"])
        assert billed > 0 and abs(estimated - billed) <= 0.25 * billed, (task, estimated, billed)
        assert run.metrics[f"llm.{task}.tokens_in_this_run"] == billed
    summary = mlflow.artifacts.load_text(f"runs:/{run_id}/summary.txt")
    assert "dry run at the start" in summary


def test_every_llm_stage_writes_its_table(llm_runs):
    tables, config = llm_runs["tables"], llm_runs["config"]
    candidates = tables.read("candidate_qas")
    assert candidates.count() > 10 and candidates.where("engine = 'llm:gpt-4o-mini'").count() == candidates.count()
    valid = tables.read("valid_qas").where("status = 'ok'")
    assert valid.count() > 10 and valid.where("validated_by = 'llm:gpt-4o-mini'").count() == valid.count()
    answers = tables.read("answers")
    assert answers.count() == valid.count() * config.llm.answers_per_question
    assert tables.read("consistent_qas").count() == valid.count()
    final = tables.read("final_qas")
    assert final.count() == valid.count()
    sources = {r["answer_source"] for r in final.select("answer_source").distinct().collect()}
    assert {"synthesized:aligned", "web:misaligned"} <= sources
    decided = " ".join(r["decided_by"] for r in final.collect())
    assert "symbolic" in decided and "llm_judge" in decided


def test_final_answers_follow_the_alignment_rules(llm_runs):
    final = llm_runs["tables"].read("final_qas").where("status = 'ok'").collect()
    for row in final:
        if row["answer_source"] == "web:misaligned":
            assert row["answer"] == row["web_answer"]
        elif row["answer_source"] == "synthesized:aligned" and row["decided_by"].endswith("align:symbolic"):
            assert equivalent(row["answer"], row["web_answer"])
        assert len(row["answer_ids"]) >= 3  # a majority of 4 candidates


def test_a_killed_synthesis_resends_nothing_it_had_answered(llm_runs):
    server = llm_runs["server"]
    assert llm_runs["answered_before_kill"] == 3  # then the server held every synthesis request
    assert server.counts.resent_after_answer == 0
    calls = llm_runs["tables"].read("llm_calls")
    assert calls.where("run_id = 'llm-killed' AND task = 'synthesize'").count() >= 3  # folded in from the journal


def test_a_full_rerun_sends_no_request_and_changes_nothing(llm_runs):
    assert llm_runs["server"].counts.requests == llm_runs["requests_full"]
    assert llm_runs["second"] == llm_runs["first"]


def test_deterministic_matching_saves_judge_calls(llm_runs):
    tables = llm_runs["tables"]
    consistency = tables.read("consistent_qas").groupBy("decided_by").count().collect()
    counts = {r["decided_by"]: r["count"] for r in consistency}
    assert counts["symbolic"] > counts.get("llm_judge", 0) > 0
    judge_calls = tables.read("llm_calls").where("task IN ('consistency', 'align')").count()
    assert judge_calls < tables.read("consistent_qas").count()


def test_the_api_key_is_in_no_table_log_or_mlflow_record(llm_runs, capfd):
    import mlflow

    tables, config = llm_runs["tables"], llm_runs["config"]
    for name in MODELS:
        if not tables.exists(name):
            continue
        df = tables.read(name)
        text = df.select(F.concat_ws("|", *[F.col(c).cast("string") for c in df.columns]).alias("t"))
        assert text.where(F.col("t").contains(SECRET)).count() == 0, name
    for path in config.run.work_dir.rglob("*"):
        if path.is_file() and path.stat().st_size < 50_000_000:
            assert SECRET.encode() not in path.read_bytes(), path
    mlflow.set_tracking_uri(f"sqlite:///{config.run.work_dir / 'mlflow.db'}")
    for _, run in mlflow.search_runs(experiment_names=[config.tracking.experiment]).iterrows():
        data = mlflow.get_run(run["run_id"]).data
        assert SECRET not in json.dumps([data.params, data.tags, data.metrics])
    assert SECRET not in capfd.readouterr().out


def test_costs_are_counted_per_task_and_logged(llm_runs):
    import mlflow

    tables, config = llm_runs["tables"], llm_runs["config"]
    calls = tables.read("llm_calls")
    assert calls.where("status = 'ok' AND (tokens_in = 0 OR cost_usd <= 0)").count() == 0
    mlflow.set_tracking_uri(f"sqlite:///{config.run.work_dir / 'mlflow.db'}")
    [run_id] = mlflow.search_runs(experiment_names=[config.tracking.experiment], filter_string="tags.pipeline_run_id = 'llm-second'")["run_id"]
    metrics = mlflow.get_run(run_id).data.metrics
    total = calls.agg(F.sum("cost_usd")).first()[0]
    assert metrics["llm.synthesize.requests"] > 0 and metrics["llm.cost_per_final_qa"] > 0
    assert abs(sum(v for k, v in metrics.items() if k.endswith(".cost_usd")) - total) < 1e-9


@pytest.fixture(scope="module")
def healed_run(spark, tmp_path_factory, llm_runs):
    """The main world's pages extracted; then a run in which every call fails with 500; then a clean run."""
    tmp = tmp_path_factory.mktemp("llm_outage")
    server = OpenAICompatibleServer()
    argv, config = world(tmp, server, port=PORT)
    tables = Tables(spark, config.tables, tmp / "_staging")
    stages = list(pipeline(config))
    assert main("outage-web", stages[:next(i for i, s in enumerate(stages) if s.name == "validate")], argv + ["--run-id", "outage-web"],
                before=before) == 0
    server.faults = Faults(rate_500=1.0)
    assert main("run_pipeline", pipeline, argv + ["--run-id", "outage"], before=before) == 0
    after_outage = {name: tables.read(name).count() for name in LLM_TABLES}
    progress = tables.read("stage_progress").where("stage = 'validate'").count()
    failed = tables.read("llm_calls").where("status = 'failed'").count()
    server.faults = Faults()
    assert main("run_pipeline", pipeline, argv + ["--run-id", "healed"], before=before) == 0
    yield {"server": server, "tables": tables, "after_outage": after_outage, "validate_progress": progress, "failed_calls": failed}
    server.close()


def test_an_outage_writes_no_verdict_and_leaves_its_input_pending(healed_run):
    after = healed_run["after_outage"]
    assert after["candidate_qas"] > 10
    assert {name: n for name, n in after.items() if name != "candidate_qas"} == dict.fromkeys(LLM_TABLES[1:], 0)
    assert healed_run["validate_progress"] == 0 and healed_run["failed_calls"] > 0


def test_after_an_outage_a_clean_run_gives_the_tables_of_a_run_that_never_failed(healed_run, llm_runs):
    server, tables = healed_run["server"], healed_run["tables"]
    assert contents(tables) == contents(llm_runs["tables"])
    assert server.counts.resent_after_answer == 0  # nothing answered was asked again
    answered = tables.read("llm_calls").where("status IN ('ok', 'invalid')").count()
    assert len(server.counts.answered_bodies) == answered
    assert tables.read("llm_calls").where("status = 'failed'").count() == 0  # every failure replaced by its answer


def test_batch_mode_submits_synthesis_and_a_later_run_collects_it(spark, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("llm_batch")
    with OpenAICompatibleServer(batch_polls=1) as server:
        argv, config = world(tmp, server, content_pages=8, **{"llm.synthesis_mode": "batch", "search.rounds": 1})
        tables = Tables(spark, config.tables, tmp / "_staging")
        assert main("run_pipeline", pipeline, argv + ["--run-id", "batch-submit"], before=before) == 0
        [job] = tables.read("llm_batches").collect()
        valid = tables.read("valid_qas").where("status = 'ok'").count()
        assert job["status"] == "submitted" and len(job["request_ids"]) == valid > 0
        assert tables.read("answers").count() == 0 and server.counts.by_task["synthesize"] == 0
        assert tables.read("stage_progress").where("stage = 'synthesize'").count() == 0  # not done: waiting on the batch

        assert main("run_pipeline", pipeline, argv + ["--run-id", "batch-collect"], before=before) == 0
        assert tables.read("llm_batches").first()["status"] == "collected"
        assert server.counts.by_task["synthesize"] == valid  # each request sent once, inside the batch
        synthesis = tables.read("llm_calls").where("task = 'synthesize'").collect()
        assert all(c["via_batch"] and c["status"] == "ok" for c in synthesis)
        price = config.llm.prices[config.llm.synthesize.model]
        for call in synthesis:
            full = (call["tokens_in"] * price.input_per_mtok + call["tokens_out"] * price.output_per_mtok) / 1e6
            assert abs(call["cost_usd"] - full * price.batch_factor) < 1e-12
        assert tables.read("answers").count() == valid * config.llm.answers_per_question
        assert tables.read("final_qas").count() == valid


def test_lineage_of_a_final_qa_includes_its_synthesized_answers(llm_runs):
    from runtime import audit

    tables = llm_runs["tables"]
    row = tables.read("final_qas").where("answer_source = 'synthesized:aligned'").orderBy("final_id").first()
    trace = audit.lineage(tables, row["final_id"])
    answers = trace.step("answers").rows
    assert sorted(a["answer_id"] for a in answers) == sorted(row["answer_ids"])
    assert all(a["status"] == "ok" for a in answers)
    assert trace.step("valid_qas").rows[0]["validated_by"] == "llm:gpt-4o-mini"
    assert trace.step("seeds").rows
