"""Delta settings from the table models: change feed, retention, clustering, comments;
a pinned version that outlives VACUUM; the maintenance job; audit diff from the change feed."""
import os
import time
from pathlib import Path

import pytest
from delta.tables import DeltaTable
from pyspark.sql import functions as F

from jobs import maintain
from runtime import audit
from runtime.config import ConfigError
from runtime.tables import Tables, with_run_id
from schemas.base import spark_schema
from schemas.pages import Page
from schemas.urls import UrlRecord
from tests.conftest import REPO, make_config


def small_tables(spark, tmp_path, **overrides) -> Tables:
    config = make_config(tmp_path, **overrides)
    return Tables(spark, config.tables, config.staging_root())


def url_rows(spark, run_id: str, *rows: tuple[str, str]):
    """urls rows (url_id, status) stamped with run_id."""
    data = [UrlRecord.row(url_id=key, url=f"https://example.org/{key}", status=status, hit_ids=[f"h-{key}"], seed_ids=["s"])
            for key, status in rows]
    return with_run_id(spark.createDataFrame(data, UrlRecord.transform_schema()), run_id)


def merge(tables: Tables, run_id: str, *rows: tuple[str, str]) -> None:
    with tables.stamped(run_id):
        tables.merge("urls", url_rows(tables.spark, run_id, *rows), update={"status": "s.status", "run_id": "s.run_id"})


def test_a_table_is_created_with_change_feed_retention_clustering_and_comments(spark, tmp_path):
    tables = small_tables(spark, tmp_path, **{"tables.log_retention_days": 45, "tables.deleted_file_retention_days": 14})
    tables.ensure("final_qas")
    properties = tables.properties("final_qas")
    assert properties["delta.enableChangeDataFeed"] == "true"
    assert properties["delta.logRetentionDuration"] == "interval 45 days"
    assert properties["delta.deletedFileRetentionDuration"] == "interval 14 days"
    assert tables.clustering("final_qas") == ["final_id"]
    detail = DeltaTable.forPath(spark, tables.location("final_qas")).detail().first()
    assert detail["description"].startswith("The dataset: every aligned QA after de-duplication")
    comments = {r["col_name"]: r["comment"] for r in spark.sql(f"DESCRIBE TABLE {tables.sql_name('final_qas')}").collect()}
    # From the model's Field description, its own comments, and those of the model it extends.
    assert comments["run_id"] == "the pipeline run that last wrote the row"
    assert comments["verified"] == "the final answer is equivalent to the web page's answer"
    assert comments["source_qa_ids"] == "every candidate that merged into this row"
    # The history holds only the creation: no settings commit in a pipeline's run history.
    assert [r["operation"] for r in tables.history("final_qas").collect()] == ["CREATE TABLE"]


def test_retention_is_validated(tmp_path):
    with pytest.raises(ConfigError, match="tables.log_retention_days .*must be at least tables.deleted_file_retention_days"):
        make_config(tmp_path, **{"tables.log_retention_days": 10, "tables.deleted_file_retention_days": 20})
    with pytest.raises(ConfigError, match="tables.deleted_file_retention_days: Input should be greater than or equal to 7"):
        make_config(tmp_path, **{"tables.deleted_file_retention_days": 1})


def test_a_pinned_version_outlives_vacuum(spark, tmp_path):
    tables = small_tables(spark, tmp_path)
    merge(tables, "r1", ("a", "ok"), ("b", "ok"))
    pinned_version = tables.version("urls")
    first = {r["url_id"]: r["status"] for r in tables.read("urls", pinned_version).collect()}
    merge(tables, "r2", ("a", "blocked"), ("c", "ok"))  # rewrites the file that held a
    where = tables.pin("urls", pinned_version)
    assert tables.pin("urls", pinned_version) == where  # once
    # VACUUM as the maintenance job runs it, within the configured retention: the version stays.
    assert tables.vacuum("urls") == 0
    assert {r["url_id"]: r["status"] for r in tables.read("urls", pinned_version).collect()} == first
    # Once the retention has run out (here: forced), the table's own old version is gone ...
    spark.conf.set("spark.databricks.delta.retentionDurationCheck.enabled", "false")
    try:
        tables.vacuum("urls", retain_hours=0)
    finally:
        spark.conf.unset("spark.databricks.delta.retentionDurationCheck.enabled")
    with pytest.raises(Exception, match="(?i)not exist|FileNotFound|FAILED_READ_FILE"):
        tables.read("urls", pinned_version).collect()
    # ... while the pinned copy still reads as that version was.
    assert {r["url_id"]: r["status"] for r in tables.read_pinned("urls", pinned_version).collect()} == first


def test_maintenance_job_settles_optimizes_and_vacuums_staging(spark, tmp_path, capsys):
    tables = small_tables(spark, tmp_path)
    # A table made before the settings existed: plain Delta, no feed, no clustering.
    url_rows(spark, "old", ("x", "ok")).write.format("delta").save(tables.location("urls"))
    merge(tables, "r1", ("y", "ok"))
    merge(tables, "r2", ("z", "ok"))
    # What a killed run left a day ago, and what a run still going wrote a moment ago.
    staging = Path(tables.staging_root)
    for run, age_s in (("run-killed", 2 * 86400), ("run-going", 60)):
        runs_tables = Tables(spark, tables.config, staging / run)
        staged = runs_tables.stage_input("toy", spark.range(3).select(F.col("id").cast("string").alias("input_key")))
        assert staged.count() == 3
        for path in (staging / run).rglob("*"):
            os.utime(path, (time.time() - age_s, time.time() - age_s))
    with pytest.raises(audit.AuditError, match="no change data feed"):
        audit.diff(tables, "urls", 0)

    settings = [f"--set={k}={v}" for k, v in {"run.work_dir": tmp_path, "tables.root": tmp_path / "tables",
                                              "tracking.enabled": "false", "sample_web.enabled": "false"}.items()]
    assert maintain.main(["--conf", str(REPO / "conf" / "local.yaml"), "--run-id", "maint-1", *settings]) == 0
    printed = capsys.readouterr().out
    assert "staging: 1 folders of killed runs" in printed and "urls" in printed
    assert sorted(p.name for p in staging.iterdir()) == ["run-going"]

    assert tables.properties("urls")["delta.enableChangeDataFeed"] == "true"
    assert tables.clustering("urls") == ["url_id"]
    history = {r["operation"]: r["userMetadata"] for r in tables.history("urls").collect()}
    assert history["OPTIMIZE"] == "maint-1"  # three small files compacted, stamped with the run
    assert DeltaTable.forPath(spark, tables.location("urls")).detail().first()["numFiles"] == 1
    staged = DeltaTable.forPath(spark, str(staging / "run-going" / "toy.input")).detail().first()["properties"]
    assert staged["delta.deletedFileRetentionDuration"] == "interval 24 hours"
    # From now on the table's changes are in its feed.
    before = tables.version("urls")
    merge(tables, "r3", ("x", "blocked"))
    assert audit.diff(tables, "urls", before).counts() == {"added": 0, "removed": 0, "changed": 1}


def test_audit_diff_reads_the_change_feed(spark, tmp_path):
    tables = small_tables(spark, tmp_path)
    merge(tables, "r1", ("a", "ok"), ("b", "ok"), ("c", "ok"))
    start = tables.version("urls")
    merge(tables, "r2", ("b", "blocked"), ("d", "ok"))
    # An update that writes the values the rows had: in the feed, yet no change.
    with tables.stamped("r3"):
        DeltaTable.forPath(spark, tables.location("urls")).update(F.col("url_id").isin("b", "c"), {"status": F.col("status")})
    with tables.stamped("r4"):
        DeltaTable.forPath(spark, tables.location("urls")).delete(F.col("url_id") == "a")
    feed = tables.changes("urls", start + 1, tables.version("urls"))
    assert {r["_change_type"] for r in feed.collect()} == {"insert", "update_preimage", "update_postimage", "delete"}

    found = {r["url_id"]: r.asDict(recursive=True) for r in audit.diff(tables, "urls", start).rows.collect()}
    assert set(found) == {"a", "b", "d"}
    assert (found["a"]["change"], found["a"]["run_id"], found["a"]["operation"]) == ("removed", "r4", "DELETE")
    assert (found["d"]["change"], found["d"]["run_id"], found["d"]["operation"]) == ("added", "r2", "MERGE")
    changed = found["b"]
    assert changed["change"] == "changed" and set(changed["changed_columns"]) == {"status", "run_id"}
    assert changed["before"] == {"status": "ok", "run_id": "r1"} and changed["after"] == {"status": "blocked", "run_id": "r2"}
    # The last commit that changed b's content is r2's MERGE, not r3's update that left it as it was.
    assert (changed["run_id"], changed["version"]) == ("r2", start + 1)
    # Back and forth ends where it started: no change.
    for status in ("ok", "blocked"):
        DeltaTable.forPath(spark, tables.location("urls")).update(F.col("url_id") == "b", {"status": F.lit(status)})
    assert audit.diff(tables, "urls", start + 1).counts() == {"added": 0, "removed": 1, "changed": 0}


def test_a_table_from_an_earlier_version_gains_the_columns_its_model_added(spark, tmp_path):
    tables = small_tables(spark, tmp_path)
    old = spark.createDataFrame(
        [("u1", "https://example.org/a", "timeout", "no result within 15 s", "it's the first")],
        "url_id string, url string, status string, reason string, run_id string",
    )
    old.write.format("delta").save(tables.location("pages"))  # before `attempts`, `posts` and the rest
    row = Page.row(url_id="u2", url="https://example.org/b", status="ok") | {"run_id": "r2"}
    tables.merge("pages", spark.createDataFrame([row], spark_schema(Page)))
    rows = {r["url_id"]: r for r in tables.read("pages").collect()}
    assert (rows["u1"]["status"], rows["u1"]["attempts"], rows["u2"]["attempts"]) == ("timeout", None, 1)
    assert set(tables.read("pages").columns) == set(spark_schema(Page).fieldNames())
