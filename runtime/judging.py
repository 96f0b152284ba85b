"""Decide by symbolic matching first, and ask the LLM judge only for the rest.

A judged stage gives a first pass (pure Python over its rows) that either decides a row or
builds the judge request for it: those are its LLM requests, a decided row having no
request_id. The second pass decides the rest from the judge's answers. The `decided_by`
column records which path settled each row.
"""
from __future__ import annotations

from abc import abstractmethod
from typing import TYPE_CHECKING, Callable, Iterator

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from runtime.ledger import REQUEST_COLUMNS
from runtime.llm_stage import REQUEST_FIELDS, LlmStage

if TYPE_CHECKING:
    from runtime.context import Context

Pass = Callable[[Iterator[pd.DataFrame]], Iterator[pd.DataFrame]]


def first_pass_schema(output: T.StructType) -> T.StructType:
    """The output columns plus input_key and the judge request (request_id null when decided;
    an output with a request_id column records there the request that decided it)."""
    extra = [f for f in REQUEST_FIELDS if f.name not in output.fieldNames()]
    nullable = [T.StructField(f.name, f.dataType, True) for f in output.fields]  # asking rows leave them empty
    return T.StructType([T.StructField("input_key", T.StringType())] + nullable + extra)


def asking_row(output: T.StructType, input_key: str, request: dict) -> dict:
    """A first-pass row that asks the judge: output columns empty (arrays as [])."""
    empty = {f.name: [] if isinstance(f.dataType, T.ArrayType) else None for f in output.fields}
    return {"input_key": input_key, **empty, **request}


def first_pass_frame(rows: list[dict], output: T.StructType) -> pd.DataFrame:
    """A first pass's rows as one frame. A decided row leaves the request columns None: a batch of
    decided rows only must still give string columns (missing keys would become float NaN, which
    Arrow cannot pack into the output struct)."""
    return pd.DataFrame([{**dict.fromkeys(REQUEST_COLUMNS), **row} for row in rows], columns=first_pass_schema(output).fieldNames())


class JudgedStage(LlmStage):
    """An LLM stage whose requests are the first pass's judge questions. The second pass sees
    each undecided row with its judge answer: request_id, judge_status, judge_reason, response."""

    @abstractmethod
    def judged_rows(self, batch: DataFrame) -> DataFrame:
        """The columns both passes read, with input_key."""

    @abstractmethod
    def first_pass(self, ctx: "Context") -> Pass:
        """Rows of first_pass_schema(output): decided, or asking the judge (asking_row)."""

    @abstractmethod
    def second_pass(self, batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        """Output rows from the judge's answers."""

    def _output(self) -> T.StructType:
        return self.output.transform_schema()

    def requests(self, ctx: "Context", batch: DataFrame) -> DataFrame:
        return self.judged_rows(batch).mapInPandas(self.first_pass(ctx), first_pass_schema(self._output()))

    def rows(self, ctx: "Context", batch: DataFrame, answers: DataFrame) -> DataFrame:
        output = self._output()
        decided = answers.where(F.col("request_id").isNull()).select(*output.fieldNames())
        asked = answers.where(F.col("request_id").isNotNull()).select(
            "input_key", "request_id", F.col("call_status").alias("judge_status"), F.col("call_reason").alias("judge_reason"), "response",
        )
        judged = asked.join(self.judged_rows(batch), "input_key").mapInPandas(self.second_pass, output)
        return decided.unionByName(judged)
