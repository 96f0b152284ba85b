"""Progress inside a batch, from the tasks Spark has finished."""
import re
import time

import pandas as pd
from pyspark.sql import DataFrame

from runtime.stage import Stage, run_stage
from schemas.search_hits import SearchHit
from tests.test_stage import context

LINE = re.compile(r"\[slow\] (\d+)/(\d+) rows, [\d.]+ rows/s, ~\S+ s left")


class Slow(Stage):
    """Eight tasks of 0.6 s each, two at a time: a batch that lasts a few seconds."""

    name = "slow"
    inputs = ()
    output = SearchHit
    single_batch = True

    def source(self, ctx):
        return ctx.spark.createDataFrame([(str(n),) for n in range(16)], "input_key string")

    def transform(self, ctx, batch: DataFrame) -> DataFrame:
        def rows(batches):  # defined here, so that it travels to the Python workers by value
            for pdf in batches:
                time.sleep(0.6)
                yield pd.DataFrame([SearchHit.row(hit_id=f"h{k}", seed_id=k, provider="toy", round=1, rank=1, url=f"http://x/{k}")
                                    for k in pdf["input_key"]], columns=SearchHit.transform_schema().fieldNames())

        return batch.repartition(8, "input_key").mapInPandas(rows, SearchHit.transform_schema())


def test_rows_done_move_while_a_batch_runs_and_later_jobs_are_not_counted_in(spark, tmp_path, capsys):
    ctx = context(spark, tmp_path, "run-progress", **{"stages.progress_interval_s": 0.2})
    stats = run_stage(ctx, Slow())
    assert stats.rows_in == stats.rows_inserted == 16
    done = [int(m.group(1)) for m in map(LINE.search, capsys.readouterr().out.splitlines()) if m]
    assert done == sorted(done) and done[-1] == 16, done  # the batch's own line closes the count
    assert any(0 < n < 16 for n in done), done  # it moved inside the batch, task by task
    assert spark.sparkContext.getLocalProperty("spark.jobGroup.id") is None
