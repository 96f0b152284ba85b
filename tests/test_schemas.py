import pytest
from pyspark.sql import types as T

from schemas import ALL_TABLES
from schemas.base import SchemaMismatch, check_schema, spark_schema
from schemas.pages import Page
from schemas.urls import UrlRecord


def test_every_table_has_a_key_column_and_run_id():
    names = [model.table for model in ALL_TABLES]
    assert len(names) == len(set(names))
    for model in ALL_TABLES:
        fields = spark_schema(model).fieldNames()
        assert model.key in fields
        assert "run_id" in fields


def test_schema_derivation():
    schema = spark_schema(Page)
    by_name = {f.name: f for f in schema.fields}
    assert by_name["url_id"].dataType == T.StringType() and not by_name["url_id"].nullable
    assert by_name["reason"].nullable
    assert by_name["http_status"].dataType == T.LongType()
    tree = by_name["tree"].dataType
    assert isinstance(tree, T.ArrayType)
    node = {f.name: f for f in tree.elementType.fields}
    assert node["collapsed"].dataType == T.BooleanType()
    assert all(f.nullable for f in tree.elementType.fields)  # Delta has no constraints inside arrays


def test_check_schema_names_every_difference():
    actual = T.StructType([f for f in spark_schema(UrlRecord).fields if f.name != "host"] + [T.StructField("extra", T.StringType())])
    actual = T.StructType([T.StructField(f.name, T.LongType()) if f.name == "url" else f for f in actual.fields])
    with pytest.raises(SchemaMismatch) as error:
        check_schema(UrlRecord, actual)
    message = str(error.value)
    assert "table urls" in message
    assert "missing column host" in message
    assert "unexpected column extra" in message
    assert "column url is bigint, model says string" in message


def test_row_validates_and_drops_run_id():
    row = Page.row(url_id="u", url="http://x", status="ok", tree=[{"kind": "text", "text": "hi"}])
    assert "run_id" not in row
    assert row["tree"][0]["collapsed"] is False
    with pytest.raises(ValueError):
        Page.row(url_id="u", url="http://x", status="ok", unknown_field=1)
