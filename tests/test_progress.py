"""Progress inside a batch, from the tasks Spark has finished."""
import re
import threading
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


def test_an_llm_stages_calls_show_their_progress_while_they_are_answered(spark, tmp_path, capsys):
    from runtime.ledger import resolve
    from sampleweb.llm_server import OpenAICompatibleServer
    from tests.conftest import LLM_KEY_ENV
    from udfs.llm import build_request, load_prompt

    with OpenAICompatibleServer() as server:
        endpoint = f"{{default: {{base_url: '{server.base_url}', api_key_env: {LLM_KEY_ENV}, timeout_s: 30}}}}"
        ctx = context(spark, tmp_path, "run-calls", **{"llm.engine": "llm", "llm.endpoints": endpoint, "llm.partitions": 6,
                                                       "llm.concurrency": 1, "stages.progress_interval_s": 0.1})
        prompt = load_prompt(ctx.config.llm.prompts_dir, "validate")
        requests = spark.createDataFrame([build_request(prompt, ctx.config.llm, question=f"What is {i} cubed?", image_list="none")
                                          for i in range(6)])
        # Five answered, the sixth held for a while: its task holds one of the two slots while the
        # other slot finishes the other tasks, so the count stops part of the way.
        server.hold("validate", after=5)
        releaser = threading.Timer(3.0, server.release)
        releaser.start()
        try:
            calls = resolve(ctx, "validate", requests).collect()
        finally:
            releaser.cancel()
            server.release()
    assert sorted(c["status"] for c in calls) == ["ok"] * 6
    lines = capsys.readouterr().out.splitlines()
    done = [int(m.group(1)) for m in (re.search(r"\[validate calls\] (\d+)/6 rows", line) for line in lines) if m]
    assert done == sorted(done) and any(0 < n < 6 for n in done), lines
