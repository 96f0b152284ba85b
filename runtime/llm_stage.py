"""The contract of a stage whose rows come from LLM answers.

A subclass declares two things: `requests(ctx, batch)`, the requests its batch needs (a row
per request with the input key it serves; a key may have a row with a null request_id when it
is settled without a call), and `rows(ctx, batch, answers)`, the output rows made from the
answers. The runner does the rest, the same way for every LLM stage:

- the requests are built once and fixed on disk (images are encoded once);
- the ledger resolves them (runtime/ledger.py): an answered request is never sent again;
- only keys all of whose requests have a final answer (ok, or invalid after its retries) get
  rows and are marked done. A key whose call failed in transport, or waits in a Batch API job,
  writes nothing and stays pending, so a later run's answer is the only row it ever has.
"""
from __future__ import annotations

from abc import abstractmethod
from typing import TYPE_CHECKING

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from runtime.ledger import FINAL, REQUEST_COLUMNS, resolve, resolve_batch
from runtime.stage import Stage

if TYPE_CHECKING:
    from runtime.context import Context

REQUEST_FIELDS = [T.StructField(name, T.StringType()) for name in REQUEST_COLUMNS]


def request_schema(*fields: T.StructField) -> T.StructType:
    """input_key, the request columns, and what else a stage's rows() reads from its requests."""
    return T.StructType([T.StructField("input_key", T.StringType()), *REQUEST_FIELDS, *fields])


class LlmStage(Stage):
    @abstractmethod
    def requests(self, ctx: "Context", batch: DataFrame) -> DataFrame:
        """input_key + REQUEST_COLUMNS (+ columns rows() needs) for a batch of input rows."""

    @abstractmethod
    def rows(self, ctx: "Context", batch: DataFrame, answers: DataFrame) -> DataFrame:
        """Output rows for the batch rows whose answers are all final. `answers` is the requests
        with the ledger's call_status, call_reason and response (null for a key settled without
        a call)."""

    def batched(self, ctx: "Context") -> bool:
        """Through the Batch API instead of online calls (a later run collects the answers)."""
        return False

    def transform(self, ctx: "Context", batch: DataFrame) -> DataFrame:
        requests = ctx.tables.stage_input(f"{self.name}.requests", self.requests(ctx, batch))
        ledger = (resolve_batch if self.batched(ctx) else resolve)(ctx, self.name, requests)
        ledger = ledger.select("request_id", F.col("status").alias("call_status"), F.col("reason").alias("call_reason"), "response")
        answers = requests.join(ledger, "request_id", "left")
        final = F.col("call_status").isin(*FINAL)
        waiting = answers.where(F.col("request_id").isNotNull() & (F.col("call_status").isNull() | ~final))
        done = batch.select("input_key").distinct().join(waiting.select("input_key"), "input_key", "left_anti")
        self._done = ctx.tables.stage_input(f"{self.name}.done", done)
        return self.rows(ctx, batch.join(self._done, "input_key", "left_semi"), answers.join(self._done, "input_key", "left_semi"))

    def completed(self, ctx: "Context", batch: DataFrame) -> DataFrame:
        """The keys transform() found answered: nothing is rebuilt or asked again."""
        return self._done
