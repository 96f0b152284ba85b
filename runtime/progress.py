"""Progress inside a batch: rows done, rate and time left while its transform runs.

A thread in the driver polls Spark's status tracker for the tasks of the batch's job group
(the staging write that runs the stage's UDFs; for an LLM stage also the write of its calls,
counted in requests) and turns the finished tasks of its widest running stage into rows done:
a batch's rows are spread evenly over its partitions. On a terminal it draws a tqdm bar;
elsewhere (a job cluster's log, a notebook, a pipe) it prints a line every interval. No UDF
takes part, so rendering, image and LLM stages show it alike.
"""
from __future__ import annotations

import sys
import threading
import time
import uuid
from typing import TextIO

from pyspark.sql import SparkSession


def progress_line(stage: str, done: int, total: int, started: float) -> str:
    elapsed = time.monotonic() - started
    rate = done / elapsed if elapsed > 0 else 0.0
    left = (total - done) / rate if rate > 0 else float("nan")
    return f"  [{stage}] {done}/{total} rows, {rate:.1f} rows/s, ~{left:.0f} s left"


class BatchProgress:
    """Use as a context manager around the action that runs a batch's transform."""

    def __init__(self, spark: SparkSession, stage: str, rows: int, done_before: int, total: int, started: float,
                 interval_s: float, out: TextIO | None = None):
        self.spark, self.stage, self.rows, self.done_before, self.total = spark, stage, rows, done_before, total
        self.started, self.interval_s = started, interval_s
        self.out = out or sys.stdout
        self.group = f"webmine-{stage}-{uuid.uuid4().hex[:8]}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name=f"progress-{stage}", daemon=True)
        self._bar = None
        self._shown = done_before

    def tasks(self) -> tuple[int, int]:
        """(finished, all) tasks of the widest stage of the batch's jobs running now: the one that
        runs the UDFs over the batch's partitions. Adaptive execution runs a shuffle's map side as a
        job of its own first, and Delta commits after the write: neither is the batch's work."""
        tracker = self.spark.sparkContext.statusTracker()
        finished, every = 0, 0
        for job in tracker.getJobIdsForGroup(self.group):
            info = tracker.getJobInfo(job)
            if info is None or info.status != "RUNNING":
                continue
            for stage in filter(None, map(tracker.getStageInfo, info.stageIds)):
                if stage.numTasks >= every:
                    finished, every = stage.numCompletedTasks, stage.numTasks
        return finished, every

    def rows_done(self) -> int:
        """Never less than shown before: between the batch's jobs no task runs."""
        finished, every = self.tasks()
        self._shown = max(self._shown, self.done_before + (self.rows * finished // every if every else 0))
        return self._shown

    def _watch(self) -> None:
        while not self._stop.wait(self.interval_s):
            done = self.rows_done()
            if self._bar is not None:
                self._bar.update(done - self._bar.n)
            else:
                print(progress_line(self.stage, done, self.total, self.started), file=self.out, flush=True)

    def __enter__(self) -> "BatchProgress":
        self.spark.sparkContext.setJobGroup(self.group, f"{self.stage}: {self.rows} rows", interruptOnCancel=False)
        if self.out.isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=self.total, initial=self.done_before, desc=self.stage, unit="row", file=self.out, leave=False)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        if self._bar is not None:
            self._bar.close()
        self.spark.sparkContext.setLocalProperty("spark.jobGroup.id", None)
        self.spark.sparkContext.setLocalProperty("spark.job.description", None)
