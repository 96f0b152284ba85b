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
- every commit carries the pipeline run id; the stats are uniform across stages.
"""
from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from runtime.tables import with_run_id
from schemas.base import TableModel

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

    @abstractmethod
    def source(self, ctx: "Context") -> DataFrame:
        """Input rows with a string column `input_key`. Must not call UDFs: it is evaluated more than once."""

    @abstractmethod
    def transform(self, ctx: "Context", batch: DataFrame) -> DataFrame:
        """Output rows (the output model's columns, less run_id) for a batch of new input rows."""

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
    statuses: Counter = field(default_factory=Counter)
    example_reasons: dict[str, str] = field(default_factory=dict)

    def line(self) -> str:
        failures = ", ".join(f"{s} {n}" for s, n in sorted(self.statuses.items()) if s != "ok")
        return (
            f"{self.stage:<10} {self.rows_in:>6} in  {self.rows_inserted:>6} new rows in {self.output}"
            f"{f'  {self.rows_updated} updated' if self.rows_updated else ''}"
            f"  {self.seconds:6.1f} s{f'  [{failures}]' if failures else ''}"
        )


def _progress(stage: str, done: int, total: int, started: float) -> None:
    elapsed = time.monotonic() - started
    rate = done / elapsed if elapsed > 0 else 0.0
    left = (total - done) / rate if rate > 0 else float("nan")
    print(f"  [{stage}] {done}/{total} rows, {rate:.1f} rows/s, ~{left:.0f} s left", flush=True)


def pending(ctx: "Context", stage: Stage) -> DataFrame:
    """The stage's input rows not marked done yet: what its next run processes."""
    done_keys = ctx.tables.read("stage_progress").where(F.col("stage") == stage.name).select("input_key")
    return stage.source(ctx).join(done_keys, "input_key", "left_anti")


def run_stage(ctx: "Context", stage: Stage) -> StageStats:
    tables = ctx.tables
    output = stage.output.table
    stats = StageStats(stage=stage.name, output=output)
    started = time.monotonic()
    stats.versions_read = {name: tables.version(name) for name in stage.inputs}
    pending_rows = pending(ctx, stage)
    total = pending_rows.count()
    stats.rows_in = total
    batch_rows = ctx.config.batch_rows(stage.name)
    batches = (1 if stage.single_batch else max(1, math.ceil(total / batch_rows))) if total else 0
    done = 0
    for index in range(batches):
        chosen = pending_rows if batches == 1 else pending_rows.where(F.pmod(F.xxhash64("input_key"), F.lit(batches)) == index)
        # The batch is fixed on disk first: marking it done below must not change what it holds.
        batch = tables.stage_input(stage.name, chosen)
        staged = tables.stage_rows(stage.name, with_run_id(stage.transform(ctx, batch), ctx.run_id), stage.output)
        merged = tables.merge(output, staged, stage.update, stage.update_when)
        stats.rows_inserted += merged["inserted"]
        stats.rows_updated += merged["updated"]
        if "status" in staged.columns:
            for row in staged.groupBy("status").agg(F.count("*").alias("n"), F.first("reason", ignorenulls=True).alias("reason")).collect():
                stats.statuses[row["status"]] += row["n"]
                if row["reason"]:
                    stats.example_reasons.setdefault(row["status"], row["reason"])
        completed = stage.completed(ctx, batch)
        keys = (batch if completed is None else completed).select("input_key").distinct()
        done_rows = keys.select(
            F.concat_ws(":", F.lit(stage.name), "input_key").alias("progress_id"),
            F.lit(stage.name).alias("stage"),
            "input_key",
            F.lit(ctx.run_id).alias("run_id"),
        )
        tables.merge("stage_progress", done_rows)
        done += batch.select("input_key").distinct().count()
        stats.batches += 1
        _progress(stage.name, done, total, started)
    stats.version_written = tables.version(output)
    stats.seconds = time.monotonic() - started
    return stats
