"""Progress inside a batch, from the tasks Spark has finished."""
import io
import re
import time

from runtime.progress import BatchProgress


def test_rows_done_rate_and_time_left_while_a_batch_runs(spark):
    def slow(batches):  # defined here, so that it travels to the Python workers by value
        for batch in batches:
            time.sleep(0.8)
            yield batch

    out = io.StringIO()
    work = spark.range(0, 8, 1, 4).mapInPandas(slow, "id long")  # 4 tasks of 0.8 s, 2 at a time
    started = time.monotonic()
    with BatchProgress(spark, "toy", rows=8, done_before=0, total=16, started=started, interval_s=0.25, out=out) as progress:
        work.write.format("noop").mode("overwrite").save()
        assert progress.tasks()[0] == progress.tasks()[1] > 0  # every task of the batch's jobs is done
    lines = out.getvalue().splitlines()
    done = [int(m.group(1)) for m in (re.search(r"\[toy\] (\d+)/16 rows, [\d.]+ rows/s, ~\S+ s left", line) for line in lines) if m]
    assert done == sorted(done) and any(0 < n < 8 for n in done), lines  # moved inside the batch
    assert spark.sparkContext.getLocalProperty("spark.jobGroup.id") is None  # later jobs are not counted in
