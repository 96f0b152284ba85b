"""Decide by symbolic matching first, and ask the LLM judge only for the rest.

A stage gives a first pass (pure Python over its rows) that either decides a row or builds
the judge request for it, and a second pass that decides from the judge's answer. The
`decided_by` column records which path settled each row.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Iterator

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from runtime.ledger import REQUEST_COLUMNS, final_keys, resolve

if TYPE_CHECKING:
    from runtime.context import Context

REQUEST_FIELDS = [T.StructField(name, T.StringType()) for name in REQUEST_COLUMNS]

FirstPass = Callable[[Iterator[pd.DataFrame]], Iterator[pd.DataFrame]]


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


def decide(ctx: "Context", stage: str, rows: DataFrame, first: FirstPass, second: FirstPass, output: T.StructType) -> DataFrame:
    """Output rows for `rows` (which carry input_key). The second pass sees each undecided row
    with its judge answer: request_id, judge_status, judge_reason, response."""
    passed = rows.mapInPandas(first, first_pass_schema(output))
    decided = passed.where(F.col("request_id").isNull()).select(*output.fieldNames())
    asking = passed.where(F.col("request_id").isNotNull()).select("input_key", *REQUEST_COLUMNS)
    answers = resolve(ctx, stage, asking).select(
        "request_id", F.col("status").alias("judge_status"), F.col("reason").alias("judge_reason"), "response"
    )
    judged = asking.select("input_key", "request_id").join(answers, "request_id").join(rows, "input_key").mapInPandas(second, output)
    return decided.unionByName(judged)


def completed(ctx: "Context", rows: DataFrame, first: FirstPass, output: T.StructType) -> DataFrame:
    """Keys decided without the judge, and keys whose judge request has a final answer."""
    passed = rows.mapInPandas(first, first_pass_schema(output))
    return passed.where(F.col("request_id").isNull()).select("input_key").unionByName(
        final_keys(ctx, passed.where(F.col("request_id").isNotNull()))
    )
