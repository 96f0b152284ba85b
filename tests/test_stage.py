"""The stage runner: only new keys, MERGE on the key, run ids, batches, crashes."""
from pathlib import Path

import pandas as pd
import pytest
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from runtime.context import Context
from runtime.stage import Stage, run_stage
from runtime.tables import Tables
from runtime.tracking import Tracker
from schemas.search_hits import SearchHit
from schemas.urls import UrlRecord
from tests.conftest import make_config


def context(spark, tmp_path, run_id, **overrides) -> Context:
    config = make_config(tmp_path, **overrides)
    tables = Tables(spark, config.tables, tmp_path / "_staging")
    tables.set_run_id(run_id)
    return Context(config, spark, tables, run_id, Tracker(config.tracking))


class Doubling(Stage):
    """Each input n gives hits n and n+1000 (n divisible by 5 gives none); optionally fails."""

    name = "toy"
    inputs = ()
    output = SearchHit

    def __init__(self, inputs_n, fail_on=None):
        self.inputs_n = inputs_n
        self.fail_on = fail_on
        self.calls = 0

    def source(self, ctx):
        return ctx.spark.createDataFrame([(str(n),) for n in self.inputs_n], "input_key string")

    def transform(self, ctx, batch: DataFrame) -> DataFrame:
        self.calls += 1
        if self.fail_on is not None and self.calls == self.fail_on:
            raise RuntimeError("killed mid-run")

        def rows(batches):
            for pdf in batches:
                out = []
                for key in pdf["input_key"]:
                    n = int(key)
                    if n % 5 == 0:
                        continue
                    for m in (n, n + 1000):
                        out.append(SearchHit.row(hit_id=f"h{m}", seed_id=key, provider="toy", round=1, rank=1, url=f"http://x/{m}"))
                yield pd.DataFrame(out, columns=SearchHit.transform_schema().fieldNames())

        return batch.mapInPandas(rows, SearchHit.transform_schema())


def table_rows(ctx):
    return sorted(tuple(r) for r in ctx.tables.read("search_hits").drop("run_id").collect())


def test_second_run_processes_nothing_and_commits_nothing(spark, tmp_path):
    ctx = context(spark, tmp_path, "run-a")
    first = run_stage(ctx, Doubling(range(1, 11)))
    assert (first.rows_in, first.rows_inserted) == (10, 16)
    versions = {name: ctx.tables.version(name) for name in ("search_hits", "stage_progress")}
    ctx2 = context(spark, tmp_path, "run-b")
    second_stage = Doubling(range(1, 11))
    second = run_stage(ctx2, second_stage)
    assert (second.rows_in, second.rows_inserted, second_stage.calls) == (0, 0, 0)
    assert {name: ctx2.tables.version(name) for name in versions} == versions
    # inputs that produced no rows (5, 10) are remembered too
    done = {r["input_key"] for r in ctx.tables.read("stage_progress").collect()}
    assert {"5", "10"} <= done


def test_only_new_keys_are_processed_and_stamped_with_their_run(spark, tmp_path):
    ctx = context(spark, tmp_path, "run-a")
    run_stage(ctx, Doubling(range(1, 5)))
    ctx2 = context(spark, tmp_path, "run-b")
    stats = run_stage(ctx2, Doubling(range(1, 8)))
    assert stats.rows_in == 3
    runs = {r["hit_id"]: r["run_id"] for r in ctx.tables.read("search_hits").collect()}
    assert runs["h1"] == "run-a" and runs["h6"] == "run-b"
    history = ctx.tables.history("search_hits").select("operation", "userMetadata").collect()
    assert {h["userMetadata"] for h in history} == {"run-a", "run-b"}
    assert {h["operation"] for h in history} >= {"MERGE"}


def test_killed_run_then_rerun_equals_uninterrupted_run(spark, tmp_path):
    clean = context(spark, tmp_path / "clean", "run-x", **{"stages.batch_rows": 4})
    run_stage(clean, Doubling(range(1, 13)))
    crashed = context(spark, tmp_path / "crashed", "run-y", **{"stages.batch_rows": 4})
    with pytest.raises(RuntimeError, match="killed mid-run"):
        run_stage(crashed, Doubling(range(1, 13), fail_on=3))
    committed = crashed.tables.read("stage_progress").count()
    assert 0 < committed < 12
    assert 0 < len(table_rows(crashed)) < len(table_rows(clean))
    stats = run_stage(crashed, Doubling(range(1, 13)))
    assert stats.rows_in == 12 - committed  # the committed batches are not redone
    assert table_rows(crashed) == table_rows(clean)


def test_merge_refuses_repeated_keys_and_wrong_schema(spark, tmp_path):
    ctx = context(spark, tmp_path, "run-a")
    row = SearchHit.row(hit_id="h", seed_id="s", provider="p", round=1, rank=1, url="http://x")
    df = spark.createDataFrame([row, row], SearchHit.transform_schema()).withColumn("run_id", F.lit("run-a"))
    with pytest.raises(ValueError, match="repeat key hit_id"):
        ctx.tables.merge("search_hits", df)
    with pytest.raises(TypeError, match="missing column url"):
        ctx.tables.stage_rows("toy", df.drop("url"), SearchHit)


def test_runs_stage_into_folders_of_their_own_removed_when_they_end(spark, tmp_path):
    from runtime.context import pipeline_run

    config = make_config(tmp_path)
    seen = {}
    for run_id in ("run-a", "run-b"):
        with pipeline_run(config, "toy", run_id=run_id, spark=spark) as ctx:
            run_stage(ctx, Doubling(range(1, 5) if run_id == "run-a" else range(1, 9)))
            seen[run_id] = Path(ctx.tables.staging_root)
            assert (seen[run_id] / "toy.output" / "_delta_log").is_dir()
        assert not seen[run_id].exists()
    assert seen["run-a"] != seen["run-b"] and seen["run-a"].parent == seen["run-b"].parent == Path(config.staging_root()).resolve()
    assert len(table_rows(ctx)) == 14  # both runs' rows are in the output


class HitsToUrls(Stage):
    """Each search hit becomes a URL row; keys listed in `leave` are left for a later run."""

    name = "hits_to_urls"
    inputs = ("search_hits",)
    output = UrlRecord

    def __init__(self, leave=()):
        self.leave = list(leave)
        self.sources = 0

    def source(self, ctx):
        self.sources += 1
        return ctx.tables.read("search_hits").withColumn("input_key", F.col("hit_id"))

    def transform(self, ctx, batch):
        return batch.select(
            F.col("hit_id").alias("url_id"), "url", F.lit(None).cast("string").alias("host"), F.lit("ok").alias("status"),
            F.lit(None).cast("string").alias("reason"), F.array("hit_id").alias("hit_ids"), F.array("seed_id").alias("seed_ids"),
            F.lit(1).cast("long").alias("round"),
        )

    def completed(self, ctx, batch):
        return batch.where(~F.col("input_key").isin(self.leave)) if self.leave else None


def test_a_stage_whose_inputs_have_not_changed_is_not_run(spark, tmp_path):
    ctx = context(spark, tmp_path, "run-a")
    run_stage(ctx, Doubling(range(1, 5)))
    stage = HitsToUrls()
    assert run_stage(ctx, stage).rows_in == 8
    versions = {name: ctx.tables.version(name) for name in ("urls", "stage_progress", "stage_runs")}
    again = run_stage(context(spark, tmp_path, "run-b"), stage)
    assert again.skipped and stage.sources == 1  # its source was not even read
    assert {name: ctx.tables.version(name) for name in versions} == versions
    # New input: the stage runs on it alone.
    run_stage(ctx, Doubling(range(1, 7)))
    assert (run_stage(ctx, stage).rows_in, stage.sources) == (2, 2)  # the hits of 6 (5 gives none)
    # Other settings: it looks again (and finds nothing new).
    other = run_stage(context(spark, tmp_path, "run-c", **{"stages.batch_rows": 7}), stage)
    assert (other.skipped, other.rows_in, stage.sources) == (False, 0, 3)


def test_a_stage_that_left_keys_waiting_runs_again_though_its_inputs_are_the_same(spark, tmp_path):
    ctx = context(spark, tmp_path, "run-a")
    run_stage(ctx, Doubling(range(1, 5)))
    waiting = HitsToUrls(leave=["h1"])
    assert run_stage(ctx, waiting).rows_in == 8
    retry = HitsToUrls()
    stats = run_stage(context(spark, tmp_path, "run-b"), retry)
    assert (stats.skipped, stats.rows_in) == (False, 1)
    assert run_stage(context(spark, tmp_path, "run-c"), retry).skipped


class Labelling(Stage):
    """Rows of `urls` whose status is whatever the stage is given."""

    name = "labelling"
    inputs = ()
    output = UrlRecord

    def __init__(self, status):
        self.status = status

    def source(self, ctx):
        return ctx.spark.createDataFrame([("1",), ("2",)], "input_key string")

    def transform(self, ctx, batch: DataFrame) -> DataFrame:
        return batch.select(F.col("input_key").alias("url_id"), F.concat(F.lit("http://x/"), "input_key").alias("url"),
                            F.lit(None).cast("string").alias("host"), F.lit(self.status).alias("status"),
                            F.lit("why").alias("reason"), F.array().cast("array<string>").alias("hit_ids"),
                            F.array().cast("array<string>").alias("seed_ids"), F.lit(1).cast("long").alias("round"))


def test_a_status_outside_the_tables_closed_set_stops_the_stage_before_its_rows_land(spark, tmp_path):
    ctx = context(spark, tmp_path, "run-status")
    with pytest.raises(ValueError, match=r"status 'maybe' is not one of urls's \(benchmark, blocked, frequent_domain, invalid, ok\)"):
        run_stage(ctx, Labelling("maybe"))
    assert ctx.tables.read("urls").count() == 0
    assert run_stage(ctx, Labelling("blocked")).statuses == {"blocked": 2}
