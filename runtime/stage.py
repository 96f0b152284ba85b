"""The stage contract and its runner.

A stage names its input tables, its output table (whose model gives the key), a
`source` (the input rows, each with an `input_key`, computed without UDFs) and a
`transform` (new input rows -> output rows). The runner does the rest the same way
for every stage:

- only input keys not yet in `stage_progress` for this stage are processed, so a
  stage that produces no row for an input (a page without problems) is not asked
  again;
- new input is cut into batches by key hash; each batch's rows are written once to
  a staging table, then MERGEd into the output on its key, then its input keys are
  marked done. A run killed at any point loses at most the batch in flight and a
  rerun produces the same rows;
- a stage is not run at all when the versions of the tables it reads and writes, and the
  settings, are those its last run left and that run left no input key waiting (a retry, a
  Batch API job): a rerun with nothing to do costs a few version look-ups;
- every commit carries the pipeline run id; the stats are uniform across stages.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import signal
import time
from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from runtime.progress import BatchProgress, progress_line
from runtime.tables import with_run_id
from schemas.base import TableModel, spark_schema, statuses
from schemas.stage_runs import StageRun

if TYPE_CHECKING:
    from runtime.context import Context


class Stage(ABC):
    name: ClassVar[str]
    inputs: ClassVar[tuple[str, ...]]
    output: ClassVar[type[TableModel]]
    # On a key that is already in the output: columns to set (Delta merge SQL), and when.
    update: ClassVar[dict[str, str] | None] = None
    update_when: ClassVar[str | None] = None
    # All new input in one batch: for a stage whose rows depend on each other (de-duplication),
    # so that the rows it writes do not depend on how a killed run had cut its input.
    single_batch: ClassVar[bool] = False
    # False for a stage whose input depends on more than its input tables and settings (the clock):
    # it is never skipped as unchanged.
    skippable: ClassVar[bool] = True
    # Output rows that failed in passing (a timeout, a 5xx), as SQL over the output's columns; None:
    # every row is final. Such a row's input is taken up again by later runs until the row's
    # `attempts` reaches `max_attempts(ctx)`, and the new row replaces it. `input_key_column` is the
    # output column that holds the input key the row came from.
    # (A stage with `transient` has no `update` of its own.)
    transient: ClassVar[str | None] = None
    input_key_column: ClassVar[str | None] = None

    @abstractmethod
    def source(self, ctx: "Context") -> DataFrame:
        """Input rows with a string column `input_key`. Must not call UDFs: it is evaluated more than once."""

    @abstractmethod
    def transform(self, ctx: "Context", batch: DataFrame) -> DataFrame:
        """Output rows (the output model's columns, less run_id) for a batch of new input rows."""

    def max_attempts(self, ctx: "Context") -> int:
        return 1

    def retryable(self, ctx: "Context", rows: DataFrame) -> DataFrame:
        """The rows that a later run tries again: transient, with attempts left."""
        if self.transient is None:
            return rows.limit(0)
        return rows.where(f"({self.transient}) AND attempts < {self.max_attempts(ctx)}")

    def completed(self, ctx: "Context", batch: DataFrame) -> DataFrame | None:
        """The batch's input keys to mark done (column input_key), asked after transform() and
        the MERGE; None: all of them. An LLM stage leaves keys whose calls failed for a later run."""
        return None


@dataclass
class StageStats:
    stage: str
    output: str
    rows_in: int = 0
    rows_inserted: int = 0
    rows_updated: int = 0
    batches: int = 0
    seconds: float = 0.0
    versions_read: dict[str, int] = field(default_factory=dict)
    version_written: int | None = None
    skipped: bool = False  # nothing it reads had changed since it last ran: no work done
    statuses: Counter = field(default_factory=Counter)
    example_reasons: dict[str, str] = field(default_factory=dict)

    def line(self) -> str:
        failures = ", ".join(f"{s} {n}" for s, n in sorted(self.statuses.items()) if s != "ok")
        if self.skipped:
            return f"{self.stage:<10} unchanged input, nothing to do  {self.seconds:6.1f} s"
        return (
            f"{self.stage:<10} {self.rows_in:>6} in  {self.rows_inserted:>6} new rows in {self.output}"
            f"{f'  {self.rows_updated} updated' if self.rows_updated else ''}"
            f"  {self.seconds:6.1f} s{f'  [{failures}]' if failures else ''}"
        )


def _counting_attempts(ctx: "Context", stage: Stage, rows: DataFrame) -> tuple[DataFrame, dict[str, str], str]:
    """Rows numbered by attempt: one more than the transient row each replaces, else 1. The
    MERGE then lets a row replace only the transient row it counted from."""
    key = stage.output.key
    before = ctx.tables.read(stage.output.table).where(stage.transient).select(key, F.col("attempts").alias("_before"))
    rows = rows.drop("attempts").join(before, key, "left").withColumn("attempts", F.coalesce("_before", F.lit(0)) + 1).drop("_before")
    return rows, {name: f"s.{name}" for name in rows.columns}, "s.attempts > t.attempts"


def pending(ctx: "Context", stage: Stage) -> DataFrame:
    """The stage's input rows not marked done yet: what its next run processes."""
    done_keys = ctx.tables.read("stage_progress").where(F.col("stage") == stage.name).select("input_key")
    return stage.source(ctx).join(done_keys, "input_key", "left_anti")


def run_stage(ctx: "Context", stage: Stage) -> StageStats:
    """Run the stage on its new input, or not at all when nothing it reads has changed since a
    run that left no input key waiting."""
    tables = ctx.tables
    stats = StageStats(stage=stage.name, output=stage.output.table)
    started = time.monotonic()
    stats.versions_read = {name: tables.version(name) for name in stage.inputs}
    last = tables.read("stage_runs").where(F.col("stage") == stage.name).first()
    before = {**stats.versions_read, stage.output.table: tables.version(stage.output.table)}
    if stage.inputs and stage.skippable and last is not None and last["settled"] and last["fingerprint"] == _fingerprint(ctx, before):
        stats.skipped = True
    else:
        settled = _run_batches(ctx, stage, stats, started)
        if stage.inputs:
            after = {name: tables.version(name) for name in (*stage.inputs, stage.output.table)}
            row = {"stage": stage.name, "fingerprint": _fingerprint(ctx, after), "settled": settled, "run_id": ctx.run_id}
            tables.merge("stage_runs", ctx.spark.createDataFrame([row], spark_schema(StageRun)), {"fingerprint": "s.fingerprint",
                         "settled": "s.settled", "run_id": "s.run_id"})
    stats.version_written = before[stage.output.table] if stats.skipped else tables.version(stage.output.table)
    stats.seconds = time.monotonic() - started
    return stats


def _crash_point(point: str) -> None:
    """Kill this process with SIGKILL at `point` when WEBMINE_CRASH_AT names it (benchmarks/chaos.py:
    a crash between the output's MERGE and the progress MERGE, on purpose)."""
    if os.environ.get("WEBMINE_CRASH_AT") == point:
        os.kill(os.getpid(), signal.SIGKILL)


def _fingerprint(ctx: "Context", versions: dict[str, int]) -> str:
    """The versions of the tables a stage reads and writes, and the settings it runs with."""
    return hashlib.sha256(json.dumps([versions, ctx.config.model_dump_json()], sort_keys=True).encode()).hexdigest()


def _count_statuses(stage: Stage, staged: DataFrame, stats: StageStats) -> None:
    """Add a staged batch's statuses to the stage's counts; a status outside its table's closed set
    stops the stage before the batch reaches the table."""
    allowed = statuses(stage.output)
    if allowed is None:
        return
    for row in staged.groupBy("status").agg(F.count("*").alias("n"), F.first("reason", ignorenulls=True).alias("reason")).collect():
        if row["status"] not in allowed:
            raise ValueError(f"stage {stage.name}: status {row['status']!r} is not one of {stage.output.table}'s "
                             f"({', '.join(sorted(allowed))})")
        stats.statuses[row["status"]] += row["n"]
        if row["reason"]:
            stats.example_reasons.setdefault(row["status"], row["reason"])


def _run_batches(ctx: "Context", stage: Stage, stats: StageStats, started: float) -> bool:
    """Process the input keys not done yet, batch by batch; True when every one was marked done."""
    tables = ctx.tables
    pending_rows = pending(ctx, stage)
    waiting = 0
    if stage.transient is not None:
        # A failure in passing is tried again by a later run, not by a later round of this one.
        failed_now = ctx.tables.read(stage.output.table).where(F.col("run_id") == ctx.run_id).where(stage.transient)
        failed_keys = failed_now.select(F.col(stage.input_key_column).alias("input_key"))
        waiting = pending_rows.join(failed_keys, "input_key", "left_semi").count()
        pending_rows = pending_rows.join(failed_keys, "input_key", "left_anti")
    total = pending_rows.count()
    stats.rows_in = total
    batch_rows = ctx.config.batch_rows(stage.name)
    batches = (1 if stage.single_batch else max(1, math.ceil(total / batch_rows))) if total else 0
    done = marked = 0
    for index in range(batches):
        chosen = pending_rows if batches == 1 else pending_rows.where(F.pmod(F.xxhash64("input_key"), F.lit(batches)) == index)
        # The batch is fixed on disk first: marking it done below must not change what it holds.
        batch = tables.stage_input(stage.name, chosen)
        size = batch.select("input_key").distinct().count()
        rows = with_run_id(stage.transform(ctx, batch), ctx.run_id)
        update, update_when = stage.update, stage.update_when
        if stage.transient is not None:
            rows, update, update_when = _counting_attempts(ctx, stage, rows)
        with BatchProgress(ctx.spark, stage.name, size, done, total, started, ctx.config.stages.progress_interval_s):
            staged = tables.stage_rows(stage.name, rows, stage.output)
        _crash_point(f"{stage.name}:staged")
        _count_statuses(stage, staged, stats)
        merged = tables.merge(stage.output.table, staged, update, update_when)
        _crash_point(f"{stage.name}:merged")
        stats.rows_inserted += merged["inserted"]
        stats.rows_updated += merged["updated"]
        completed = stage.completed(ctx, batch)
        keys = (batch if completed is None else completed).select("input_key").distinct()
        if stage.transient is not None:
            again = stage.retryable(ctx, staged).select(F.col(stage.input_key_column).alias("input_key"))
            keys = keys.join(again, "input_key", "left_anti")
        done_rows = keys.select(
            F.concat_ws(":", F.lit(stage.name), "input_key").alias("progress_id"),
            F.lit(stage.name).alias("stage"),
            "input_key",
            F.lit(ctx.run_id).alias("run_id"),
        )
        marked += tables.merge("stage_progress", done_rows)["inserted"]
        _crash_point(f"{stage.name}:marked")
        done += size
        stats.batches += 1
        print(progress_line(stage.name, done, total, started), flush=True)
    return marked == done and waiting == 0
