"""The table registry and all Delta IO: table name -> path (or catalog name)."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from runtime.config import TablesConfig
from schemas import ALL_TABLES
from schemas.base import TableModel, check_schema, spark_schema

MODELS: dict[str, type[TableModel]] = {model.table: model for model in ALL_TABLES}
RUN_METADATA_CONF = "spark.databricks.delta.commitInfo.userMetadata"


def absolute_location(base: str | Path) -> str:
    """A local folder made absolute; a URI (hdfs:///x, s3a://bucket/x, abfss://...) as it is."""
    base = str(base)
    return base.rstrip("/") if len(urlsplit(base).scheme) > 1 else str(Path(base).resolve())


def join_location(base: str | Path, name: str) -> str:
    return f"{absolute_location(base)}/{name}"


class Tables:
    def __init__(self, spark: SparkSession, config: TablesConfig, staging_root: str | Path):
        self.spark = spark
        self.config = config
        self.staging_root = str(staging_root)
        self._known: set[str] = set()

    # ---- where ------------------------------------------------------------------
    def where(self) -> str:
        """The catalog, or the folder or URI, that holds the tables."""
        return self.config.catalog or absolute_location(self.config.root)

    def location(self, name: str) -> str:
        if name not in MODELS:
            raise KeyError(f"unknown table {name!r}; known: {', '.join(sorted(MODELS))}")
        return self._place(name)

    def _place(self, name: str) -> str:
        return f"{self.config.catalog}.{name}" if self.config.catalog else join_location(self.config.root, name)

    def _delta(self, name: str) -> DeltaTable:
        where = self.location(name)
        return DeltaTable.forName(self.spark, where) if self.config.catalog else DeltaTable.forPath(self.spark, where)

    def _present(self, where: str) -> bool:
        if self.config.catalog:
            return self.spark.catalog.tableExists(where)
        return DeltaTable.isDeltaTable(self.spark, where)

    def exists(self, name: str) -> bool:
        return self._present(self.location(name))

    # ---- read -------------------------------------------------------------------
    def ensure(self, name: str) -> None:
        """Create the table, empty, with its model's schema, if it is not there."""
        if name in self._known:
            return
        if not self.exists(name):
            builder = DeltaTable.createIfNotExists(self.spark).addColumns(spark_schema(MODELS[name]))
            builder = builder.tableName(self.location(name)) if self.config.catalog else builder.location(self.location(name))
            builder.execute()
        self._known.add(name)

    def read(self, name: str, version: int | None = None) -> DataFrame:
        self.ensure(name)
        return self._load(self.location(name), version)

    def _load(self, where: str, version: int | None = None) -> DataFrame:
        reader = self.spark.read.format("delta")
        if version is not None:
            reader = reader.option("versionAsOf", version)
        return reader.table(where) if self.config.catalog else reader.load(where)

    def find(self, name: str) -> DataFrame | None:
        """A table that another component writes and this registry may not know yet; None if absent."""
        where = self._place(name)
        return self._load(where) if self._present(where) else None

    def version(self, name: str) -> int:
        self.ensure(name)
        return int(self._delta(name).history(1).select("version").first()[0])

    def history(self, name: str) -> DataFrame:
        self.ensure(name)
        return self._delta(name).history()

    # ---- write ------------------------------------------------------------------
    def _stage(self, folder: str, df: DataFrame) -> DataFrame:
        path = join_location(self.staging_root, folder)
        df.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(path)
        return self.spark.read.format("delta").load(path)

    def drop_staging(self) -> None:
        """Remove this registry's staging folder (a run's batches, once the run is over)."""
        jvm = self.spark._jvm
        path = jvm.org.apache.hadoop.fs.Path(absolute_location(self.staging_root))
        path.getFileSystem(self.spark._jsc.hadoopConfiguration()).delete(path, True)

    def stage_input(self, stage: str, df: DataFrame) -> DataFrame:
        """Fix a batch of a stage's input on disk and read it back."""
        return self._stage(f"{stage}.input", df)

    def stage_rows(self, stage: str, df: DataFrame, model: type[TableModel]) -> DataFrame:
        """Write a transform's rows once to the stage's staging table and read them back.

        This is the only action over a transform, so a UDF that renders a page or
        calls a model runs once per row, whatever is done with the rows afterwards.
        """
        check_schema(model, df.schema)
        return self._stage(f"{stage}.output", df.select(*spark_schema(model).fieldNames()))

    def merge(self, name: str, rows: DataFrame, update: dict[str, str] | None = None, update_when: str | None = None) -> dict[str, int]:
        """MERGE rows into the table on its key: insert new keys, optionally update matched ones."""
        model = MODELS[name]
        self.ensure(name)
        duplicated = rows.groupBy(model.key).count().where("count > 1").limit(3).collect()
        if duplicated:
            keys = ", ".join(str(r[model.key]) for r in duplicated)
            raise ValueError(f"table {name}: rows to merge repeat key {model.key} ({keys})")
        merge = self._delta(name).alias("t").merge(rows.alias("s"), f"t.{model.key} = s.{model.key}")
        if update:
            merge = merge.whenMatchedUpdate(condition=update_when, set=update)
        metrics = merge.whenNotMatchedInsertAll().execute()
        if metrics is None:
            return {"inserted": 0, "updated": 0}
        row = metrics.first()
        return {"inserted": int(row["num_inserted_rows"]), "updated": int(row["num_updated_rows"])}

    def overwrite(self, name: str, rows: DataFrame) -> None:
        """Replace a derived table whole (used for rebuildable indexes only)."""
        model = MODELS[name]
        check_schema(model, rows.schema)
        writer = rows.select(*spark_schema(model).fieldNames()).write.format("delta").mode("overwrite")
        if self.config.catalog:
            writer.saveAsTable(self.location(name))
        else:
            writer.save(self.location(name))

    def restore(self, name: str, version: int) -> dict[str, int]:
        """Bring the table back to an earlier version, as a new commit; returns Delta's restore metrics."""
        metrics = self._delta(name).restoreToVersion(version).first()
        return {key: int(value) for key, value in metrics.asDict().items()}

    def set_run_id(self, run_id: str | None) -> None:
        """Stamp every following Delta commit with the pipeline run id."""
        if run_id is None:
            self.spark.conf.unset(RUN_METADATA_CONF)
        else:
            self.spark.conf.set(RUN_METADATA_CONF, run_id)

    @contextmanager
    def stamped(self, run_id: str) -> Iterator[None]:
        """Stamp the commits made inside with run_id, then go back to the run id before."""
        before = self.spark.conf.get(RUN_METADATA_CONF, None)
        self.set_run_id(run_id)
        try:
            yield
        finally:
            self.set_run_id(before)


def with_run_id(df: DataFrame, run_id: str) -> DataFrame:
    return df.withColumn("run_id", F.lit(run_id))
