"""The whole pipeline on a small generated sample web, run twice."""
import pytest
from delta.tables import DeltaTable
from pyspark.sql import functions as F

from jobs.run_pipeline import before, pipeline
from runtime.cli import main
from runtime.tables import MODELS, Tables
from sampleweb.evaluate import score
from tests.conftest import REPO, SAMPLE_WEB_RENDER, free_port, make_config, settings_for, snapshot

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def runs(spark, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e")
    port = free_port()
    settings = {
        "sample_web.enabled": "true",
        "sample_web.port": port,
        "sample_web.content_pages": 30,
        "sample_web.seed_fraction": 0.6,
        "network.allow_private": f"['*.localhost:{port}']",
        **SAMPLE_WEB_RENDER,
        "tracking.enabled": "true",
        "stages.batch_rows": 200,
    }
    config = make_config(tmp, **settings)
    argv = ["--conf", str(REPO / "conf" / "local.yaml")] + [f"--set={k}={v}" for k, v in settings_for(tmp, **settings).items()]
    tables = Tables(spark, config.tables, tmp / "_staging")

    assert main("run_pipeline", pipeline, argv + ["--run-id", "e2e-first"], before=before) == 0
    first = snapshot(tables)
    assert main("run_pipeline", pipeline, argv + ["--run-id", "e2e-second"], before=before) == 0
    second = snapshot(tables)
    return config, tables, first, second


# The LLM engine's tables (answers, consistent_qas, llm_calls, llm_batches) stay empty here.
RULE_ENGINE_TABLES = [name for name in MODELS if name not in ("answers", "consistent_qas", "llm_calls", "llm_batches")]


def test_every_table_is_delta_and_its_history_carries_the_run_id(runs, spark):
    config, tables, _, _ = runs
    for name in RULE_ENGINE_TABLES:
        assert DeltaTable.isDeltaTable(spark, tables.location(name)), name
        metadata = {r["userMetadata"] for r in tables.history(name).collect()}
        assert "e2e-first" in metadata, name
        assert tables.read(name).count() > 0, name


def test_final_qas_match_the_ground_truth(runs):
    config, tables, _, _ = runs
    result = score(tables, config.sample_web.dir, config.urls.tracking_params)
    assert result.expected >= 20
    assert result.recall >= 0.90, result
    assert result.precision >= 0.95, result
    assert result.answer_accuracy >= 0.95, result


def test_second_run_adds_no_rows_and_changes_none(runs):
    _, _, first, second = runs
    assert second == first


def test_failures_are_status_rows_and_the_run_completes(runs):
    _, tables, _, _ = runs
    pages = {r["status"]: r["reason"] for r in tables.read("pages").where("status != 'ok'").collect()}
    assert pages.get("http_error") == "HTTP 500"
    assert "timeout" in pages
    seeds = tables.read("seeds").where("status = 'unreadable'").collect()
    assert len(seeds) == 1 and seeds[0]["source"].endswith("seed_broken.jpg") and seeds[0]["reason"]
    blocked = tables.read("urls").where("status = 'blocked'").collect()
    assert blocked and all("block list" in r["reason"] and r["hit_ids"] for r in blocked)


def test_final_qas_carry_lineage_to_their_seed(runs):
    _, tables, _, _ = runs
    qa = tables.read("final_qas").where("status = 'ok' AND has_images").first()
    url = tables.read("urls").where(f"url_id = '{qa['page_id']}'").first()
    # A later round may find the page again: the URL gains seeds, the QA keeps those that led to it.
    assert url["url"] == qa["url"] and set(qa["seed_ids"]) <= set(url["seed_ids"])
    hits = tables.read("search_hits").where(F.col("hit_id").isin(qa["hit_ids"])).collect()
    assert hits and {h["seed_id"] for h in hits} <= set(qa["seed_ids"])
    assert tables.read("seeds").where(f"seed_id = '{qa['seed_ids'][0]}' AND status = 'ok'").count() == 1
    assert tables.read("candidate_qas").where(f"qa_id = '{qa['qa_id']}'").count() == 1
    assert qa["answer_source"].startswith("page:")


def test_a_second_round_finds_pages_the_first_could_not(runs):
    _, tables, _, _ = runs
    later = tables.read("seeds").where("round = 2").collect()
    assert any(s["status"] == "ok" and s["image_url"] and s["source"].startswith("qa:") for s in later)
    # The images of round-1 QAs are mostly the round-1 seeds again: kept out as near duplicates.
    assert any(s["status"] == "near_duplicate" and "bits of seed" in s["reason"] for s in later)
    follow_ups = tables.read("urls").where("url LIKE '%same-figure-another-question%'").collect()
    assert follow_ups and all(u["round"] == 2 and u["status"] == "ok" for u in follow_ups)
    hits = tables.read("search_hits").where(F.col("hit_id").isin(follow_ups[0]["hit_ids"])).collect()
    assert hits and {h["round"] for h in hits} == {2}
    final = tables.read("final_qas").where(f"page_id = '{follow_ups[0]['url_id']}' AND status = 'ok'").collect()
    assert final and all(q["round"] == 2 for q in final)
    seed = tables.read("seeds").where(F.col("seed_id").isin(final[0]["seed_ids"])).first()
    assert seed["round"] == 2 and tables.read("valid_qas").where(f"final_id = '{seed['source'][3:]}' AND round = 1").count() == 1
    assert tables.read("search_responses").where("provider = 'local' AND round = 2").count() > 0


def test_benchmark_hosts_are_dropped_with_their_reason(runs):
    _, tables, _, _ = runs
    dropped = tables.read("urls").where("status = 'benchmark'").collect()
    assert dropped and all("evaluation benchmark" in u["reason"] and u["seed_ids"] for u in dropped)


def test_mirrored_copies_merge_into_one_final_qa(runs):
    _, tables, _, _ = runs
    merged = tables.read("final_qas").where("size(source_qa_ids) > 1").collect()
    pages = {r["qa_id"]: r["url"] for r in tables.read("candidate_qas").collect()}
    for row in merged:
        assert len({pages[q] for q in row["source_qa_ids"]}) == len(row["source_qa_ids"])


def test_mlflow_run_records_config_counts_and_versions(runs):
    import mlflow

    config, tables, first, _ = runs
    mlflow.set_tracking_uri(f"sqlite:///{config.run.work_dir / 'mlflow.db'}")
    found = mlflow.search_runs(experiment_names=[config.tracking.experiment], filter_string="tags.pipeline_run_id = 'e2e-first'")
    assert len(found) == 1
    run = mlflow.get_run(found.iloc[0]["run_id"])
    assert float(run.data.params["render.page_timeout_s"]) == SAMPLE_WEB_RENDER["render.page_timeout_s"]
    assert run.data.metrics["pages.rows_in"] > 0
    assert run.data.params["curate.wrote.final_qas.version"].isdigit()
    assert run.data.metrics["quality.final.qa_pairs"] == run.data.metrics["funnel.final_qas"]
    assert run.data.params["pages.read.urls.version"].isdigit()
    assert run.data.metrics["funnel.final_qas"] == tables.read("final_qas").where("status = 'ok'").count()


def test_planted_duplicates_and_leaks_are_removed_and_counted(runs):
    import json

    config, tables, _, _ = runs
    planted = json.loads((config.sample_web.dir / "ground_truth.json").read_text())["planted"]
    result = score(tables, config.sample_web.dir, config.urls.tracking_params)
    assert result.planted == planted["duplicates"] + planted["contaminated_text"] + planted["contaminated_image"]
    assert result.planted_removed == result.planted
    removed = {f"{r['status']}:{r['match_kind']}": r["count"] for r in tables.read("final_qas").where(
        "status IN ('duplicate', 'contaminated')").groupBy("status", "match_kind").count().collect()}
    duplicates = sum(n for kind, n in removed.items() if kind.startswith("duplicate:"))
    assert duplicates == planted["duplicates"]
    assert removed.get("contaminated:benchmark_text") == planted["contaminated_text"]
    assert removed.get("contaminated:benchmark_image") == planted["contaminated_image"]
    kept = tables.read("final_qas").where(F.col("duplicate_of").isNotNull()).select(F.col("duplicate_of").alias("final_id"))
    assert kept.join(tables.read("final_qas").where("status = 'ok'"), "final_id").count() == duplicates


def test_quality_report_matches_the_tables_and_the_planted_numbers(runs):
    import json

    from runtime.quality import quality_report

    config, tables, _, _ = runs
    planted = json.loads((config.sample_web.dir / "ground_truth.json").read_text())["planted"]
    report = quality_report(tables, config.quality.dedup.image_distance)
    assert report.funnel["final"]["qa_pairs"] == tables.read("final_qas").where("status = 'ok'").count()
    assert report.funnel["candidate"]["qa_pairs"] == tables.read("candidate_qas").count()
    valid = report.funnel["valid"]
    # the re-encoded, resized copy of a figure is one more image but not one more unique image
    assert valid["images"] - valid["unique_images"] == planted["image_duplicates"]
    assert report.removed.get("contaminated:benchmark_image") == planted["contaminated_image"]
    assert report.benchmark_items == json.loads((config.sample_web.dir / "ground_truth.json").read_text())["benchmark_items"]
    figures = sorted(p.name for p in (config.run.work_dir / "reports" / "e2e-second").glob("*.png"))
    assert figures == ["images_per_qa.png", "removed.png", "solution_steps.png", "subjects.png", "table3.png"]
