"""Table models: one pydantic model per Delta table, the Spark schema derived from it.

A model names its table and key. `spark_schema()` turns the annotations into a
StructType; `check_schema()` is run on every write so that a stage that drifts from
its table's model fails with the column at fault. `table_comment()` and
`column_comments()` say what the table and each column hold, for the Delta table's own
comments.
"""
from __future__ import annotations

import datetime as dt
import functools
import inspect
import io
import re
import tokenize
import types
import typing
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field
from pyspark.sql import types as T


class Row(BaseModel):
    """A nested record inside a table row (a struct in Spark)."""

    model_config = ConfigDict(extra="forbid")


class TableModel(Row):
    """A table row. `run_id` is stamped by the stage runner, not by the transform."""

    table: ClassVar[str]
    key: ClassVar[str]

    run_id: str = Field("", description="the pipeline run that last wrote the row")

    @classmethod
    def row(cls, **fields: Any) -> dict[str, Any]:
        """Validate one row as a transform produces it (everything but run_id)."""
        return cls.model_validate(fields).model_dump(exclude={"run_id"})

    @classmethod
    def transform_schema(cls) -> T.StructType:
        """The Spark schema a transform returns: the table's, less run_id."""
        return T.StructType([f for f in spark_schema(cls).fields if f.name != "run_id"])


_SCALARS: dict[Any, T.DataType] = {
    str: T.StringType(),
    int: T.LongType(),
    float: T.DoubleType(),
    bool: T.BooleanType(),
    bytes: T.BinaryType(),
    dt.datetime: T.TimestampType(),
    dt.date: T.DateType(),
}


def _spark_type(annotation: Any) -> tuple[T.DataType, bool]:
    """Return (Spark type, nullable) for a field annotation."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        if len(inner) != 1:
            raise TypeError(f"only Optional[X] unions map to Spark, got {annotation}")
        return _spark_type(inner[0])[0], True
    if origin is typing.Literal:
        return _SCALARS[type(args[0])], False
    # Elements are declared nullable: Spark's array functions (array_union, ...) say so
    # of their results, and MERGE will not cast between the two.
    if origin is list:
        return T.ArrayType(_spark_type(args[0])[0], True), False
    if origin is dict:
        return T.MapType(_spark_type(args[0])[0], _spark_type(args[1])[0], True), False
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return spark_schema(annotation, nested=True), False
    if annotation in _SCALARS:
        return _SCALARS[annotation], False
    raise TypeError(f"no Spark type for {annotation!r}")


def statuses(model: type[BaseModel]) -> frozenset[str] | None:
    """The closed set of a model's `status` values, or None when it has no such column."""
    info = model.model_fields.get("status")
    return frozenset(typing.get_args(info.annotation)) if info is not None else None


def spark_schema(model: type[BaseModel], nested: bool = False) -> T.StructType:
    """Top-level columns are NOT NULL unless Optional; Delta enforces no constraint
    inside arrays or maps, so fields of nested records are all nullable."""
    fields = []
    for name, info in model.model_fields.items():
        data_type, nullable = _spark_type(info.annotation)
        fields.append(T.StructField(name, data_type, nullable or nested))
    return T.StructType(fields)


def table_comment(model: type[BaseModel]) -> str:
    """The model's own docstring, on one line."""
    return " ".join((model.__dict__.get("__doc__") or "").split())


_FIELD_LINE = re.compile(r"^\s+(\w+)\s*:")


@functools.cache
def _source_comments(cls: type) -> dict[str, str]:
    """field -> the comment its class's source gives it: on the field's line, else the comment
    lines just above it."""
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):
        return {}
    lines = source.splitlines()
    comments = {tok.start[0]: tok.string.lstrip("#").strip()
                for tok in tokenize.generate_tokens(io.StringIO(source).readline) if tok.type == tokenize.COMMENT}
    found: dict[str, str] = {}
    for number, line in enumerate(lines, start=1):
        match = _FIELD_LINE.match(line)
        if not match or line.lstrip().startswith("#"):
            continue
        text = comments.get(number)
        if text is None:
            above, at = [], number - 1
            while at in comments and lines[at - 1].lstrip().startswith("#"):
                above.insert(0, comments[at])
                at -= 1
            text = " ".join(above)
        if text:
            found[match.group(1)] = text
    return found


def column_comments(model: type[BaseModel]) -> dict[str, str]:
    """column -> what it holds: the field's description, else its comment in the model's source
    (a subclass's comment over its base's)."""
    from_source: dict[str, str] = {}
    for cls in reversed(model.__mro__):
        if isinstance(cls, type) and issubclass(cls, BaseModel) and cls not in (BaseModel, Row):
            from_source.update(_source_comments(cls))
    described = {name: info.description or from_source.get(name) for name, info in model.model_fields.items()}
    return {name: text for name, text in described.items() if text}


def _strip_nullability(data_type: T.DataType) -> T.DataType:
    if isinstance(data_type, T.StructType):
        return T.StructType([T.StructField(f.name, _strip_nullability(f.dataType), True) for f in data_type.fields])
    if isinstance(data_type, T.ArrayType):
        return T.ArrayType(_strip_nullability(data_type.elementType), True)
    if isinstance(data_type, T.MapType):
        return T.MapType(data_type.keyType, _strip_nullability(data_type.valueType), True)
    return data_type


class SchemaMismatch(TypeError):
    pass


def check_schema(model: type[TableModel], actual: T.StructType) -> None:
    """Raise SchemaMismatch naming every column that differs from the model."""
    expected = spark_schema(model)
    want = {f.name: _strip_nullability(f.dataType) for f in expected.fields}
    have = {f.name: _strip_nullability(f.dataType) for f in actual.fields}
    problems = [f"missing column {name}" for name in want if name not in have]
    problems += [f"unexpected column {name}" for name in have if name not in want]
    problems += [
        f"column {name} is {have[name].simpleString()}, model says {want[name].simpleString()}"
        for name in want
        if name in have and have[name] != want[name]
    ]
    if problems:
        raise SchemaMismatch(f"table {model.table}: " + "; ".join(problems))
