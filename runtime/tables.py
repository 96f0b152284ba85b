"""The table registry and all Delta IO: table name -> path (or catalog name).

Every table is created from its model with what Delta needs to keep its history usable:
the change data feed (audits read it), log and deleted-file retention from the config (so
the versions that audits, lineage and training pin stay readable after VACUUM), liquid
clustering on the key (MERGE on it touches few files once `jobs.maintain` has OPTIMIZEd),
and the model's docstring and field comments as the table's and columns' comments.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from runtime.config import TablesConfig
from schemas import ALL_TABLES
from schemas.base import TableModel, check_schema, column_comments, spark_schema, table_comment

MODELS: dict[str, type[TableModel]] = {model.table: model for model in ALL_TABLES}
RUN_METADATA_CONF = "spark.databricks.delta.commitInfo.userMetadata"
CHANGE_FEED = "delta.enableChangeDataFeed"
LOG_RETENTION = "delta.logRetentionDuration"
FILE_RETENTION = "delta.deletedFileRetentionDuration"


def absolute_location(base: str | Path) -> str:
    """A local folder made absolute; a URI (hdfs:///x, s3a://bucket/x, abfss://...) as it is."""
    base = str(base)
    return base.rstrip("/") if len(urlsplit(base).scheme) > 1 else str(Path(base).resolve())


def join_location(base: str | Path, name: str) -> str:
    return f"{absolute_location(base)}/{name}"


def _sql_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")


def table_properties(config: TablesConfig) -> dict[str, str]:
    """The Delta properties every pipeline table is created with."""
    return {
        CHANGE_FEED: "true",
        LOG_RETENTION: f"interval {config.log_retention_days} days",
        FILE_RETENTION: f"interval {config.deleted_file_retention_days} days",
    }


def staging_properties(config: TablesConfig) -> dict[str, str]:
    """A staged batch is replaced by the next one: nothing to travel back to beyond a batch."""
    hours = f"interval {config.staging_retention_hours} hours"
    return {LOG_RETENTION: hours, FILE_RETENTION: hours}


def commented_schema(model: type[TableModel]):
    """The model's Spark schema, each column carrying its comment."""
    comments = column_comments(model)
    schema = spark_schema(model)
    for field in schema.fields:
        if field.name in comments:
            field.metadata = {**field.metadata, "comment": comments[field.name]}
    return schema


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
            model = MODELS[name]
            builder = DeltaTable.createIfNotExists(self.spark).addColumns(commented_schema(model)).clusterBy(model.key)
            builder = builder.comment(table_comment(model))
            for key, value in table_properties(self.config).items():
                builder = builder.property(key, value)
            builder = builder.tableName(self.location(name)) if self.config.catalog else builder.location(self.location(name))
            builder.execute()
        else:
            self._add_new_columns(name)
        self._known.add(name)

    def _add_new_columns(self, name: str) -> None:
        """Give a table made by an earlier version the columns its model has gained (nullable: its
        old rows have no value), so that MERGE, which refuses unknown columns, goes on working."""
        have = set(self._load(self.location(name)).columns)
        missing = [f for f in commented_schema(MODELS[name]).fields if f.name not in have]
        if missing:
            columns = ", ".join(
                f"`{f.name}` {f.dataType.simpleString()}" + (f" COMMENT '{_sql_text(f.metadata['comment'])}'" if f.metadata.get("comment") else "")
                for f in missing
            )
            self.spark.sql(f"ALTER TABLE {self.sql_name(name)} ADD COLUMNS ({columns})")

    def sql_name(self, name: str) -> str:
        """The table as Spark SQL names it."""
        where = self.location(name)
        return where if self.config.catalog else f"delta.`{where}`"

    def properties(self, name: str) -> dict[str, str]:
        return dict(self._delta(name).detail().first()["properties"])

    def clustering(self, name: str) -> list[str]:
        return list(self._delta(name).detail().first()["clusteringColumns"] or [])

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

    def changes(self, name: str, first: int, last: int) -> DataFrame:
        """The change data feed of versions first..last: the rows each commit inserted, deleted or
        updated (pre- and post-image), with `_change_type`, `_commit_version`, `_commit_timestamp`."""
        self.ensure(name)
        reader = (self.spark.read.format("delta").option("readChangeFeed", "true")
                  .option("startingVersion", first).option("endingVersion", last))
        return reader.table(self.location(name)) if self.config.catalog else reader.load(self.location(name))

    def version(self, name: str) -> int:
        self.ensure(name)
        if self.config.catalog:
            return int(self._delta(name).history(1).select("version").first()[0])
        # The log's own snapshot: no Spark job, where DESCRIBE HISTORY runs one (~50x the time,
        # and every stage asks for the versions of what it reads and writes).
        jvm = self.spark._jvm
        log = jvm.org.apache.spark.sql.delta.DeltaLog.forTable(self.spark._jsparkSession, self.location(name))
        return int(log.update(False, jvm.scala.Option.empty(), jvm.scala.Option.empty()).version())

    def history(self, name: str) -> DataFrame:
        self.ensure(name)
        return self._delta(name).history()

    # ---- write ------------------------------------------------------------------
    def _stage(self, folder: str, df: DataFrame) -> DataFrame:
        path = join_location(self.staging_root, folder)
        writer = df.write.format("delta").mode("overwrite").option("overwriteSchema", "true")
        # Options named delta.* become the table's properties when the write creates it.
        writer.options(**staging_properties(self.config)).save(path)
        return self.spark.read.format("delta").load(path)

    def drop_staging(self) -> None:
        """Remove this registry's staging folder (a run's batches, once the run is over)."""
        path, fs = self._filesystem(self.staging_root)
        fs.delete(path, True)

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

    # ---- keeping versions and files in shape (jobs.maintain) --------------------------
    def snapshot_location(self, name: str, version: int) -> str:
        snapshot = f"{name}_v{version}"
        return f"{self.config.catalog}.{snapshot}" if self.config.catalog else join_location(join_location(self.config.root, "_snapshots"), snapshot)

    def pin(self, name: str, version: int) -> str:
        """Copy a table as it was at a version into a table of its own, once, and return where.

        The copy holds its own files, so no VACUUM of the source, nor its retention running
        out, takes the rows away (a shallow clone would share, and so lose, the source's files).
        """
        where = self.snapshot_location(name, version)
        if not self._present(where):
            writer = self.read(name, version).write.format("delta").mode("errorifexists")
            if self.config.catalog:
                writer.saveAsTable(where)
            else:
                writer.save(where)
        return where

    def read_pinned(self, name: str, version: int) -> DataFrame:
        return self._load(self.snapshot_location(name, version))

    def settle(self, name: str) -> list[str]:
        """Give a table made before these settings existed the properties and clustering its
        model asks for; returns what was changed."""
        self.ensure(name)
        changed = []
        wanted = table_properties(self.config)
        have = self.properties(name)
        missing = {k: v for k, v in wanted.items() if have.get(k) != v}
        if missing:
            settings = ", ".join(f"'{k}' = '{v}'" for k, v in missing.items())
            self.spark.sql(f"ALTER TABLE {self.sql_name(name)} SET TBLPROPERTIES ({settings})")
            changed += sorted(missing)
        key = MODELS[name].key
        if self.clustering(name) != [key]:
            self.spark.sql(f"ALTER TABLE {self.sql_name(name)} CLUSTER BY ({key})")
            changed.append(f"cluster by {key}")
        return changed

    def optimize(self, name: str) -> dict[str, int]:
        """Compact small files and cluster the rows by the table's key."""
        metrics = self.spark.sql(f"OPTIMIZE {self.sql_name(name)}").first()["metrics"]
        return {"files_added": int(metrics["numFilesAdded"]), "files_removed": int(metrics["numFilesRemoved"])}

    def vacuum(self, name: str, retain_hours: float | None = None) -> int:
        """Delete files no version within the table's retention (or `retain_hours`) needs; returns how many."""
        return self._vacuum(self.sql_name(name), "" if retain_hours is None else f"RETAIN {retain_hours} HOURS")

    def _vacuum(self, sql_name: str, retain: str) -> int:
        # VACUUM lists files in parallelPartitionDiscovery.parallelism tasks (10,000 by default):
        # as many as the cluster runs at once is enough.
        listing = "spark.sql.sources.parallelPartitionDiscovery.parallelism"
        before = self.spark.conf.get(listing, None)
        self.spark.conf.set(listing, str(max(2, self.spark.sparkContext.defaultParallelism)))
        try:
            # The dry run also lists Delta's own folders (_change_data), which the VACUUM keeps.
            listed = self.spark.sql(f"VACUUM {sql_name} {retain} DRY RUN")
            doomed = listed.where(~F.element_at(F.split("path", "/"), -1).startswith("_")).count()
            self.spark.sql(f"VACUUM {sql_name} {retain}")
        finally:
            if before is None:
                self.spark.conf.unset(listing)
            else:
                self.spark.conf.set(listing, before)
        return doomed

    def _filesystem(self, location: str):
        jvm = self.spark.sparkContext._jvm
        path = jvm.org.apache.hadoop.fs.Path(absolute_location(location))
        return path, path.getFileSystem(self.spark.sparkContext._jsc.hadoopConfiguration())

    def remove_stale_staging(self, root: str, hours: float) -> dict[str, int]:
        """Remove the run folders under the staging root (other than this registry's) in which
        nothing was written for `hours`: what runs that were killed left. Returns each removed
        folder's file count. A run removes its own folder when it ends."""
        base, fs = self._filesystem(root)
        if not fs.exists(base):
            return {}
        mine = absolute_location(self.staging_root).rstrip("/").rsplit("/", 1)[-1]
        cutoff_ms = (time.time() - hours * 3600) * 1000
        removed = {}
        for status in fs.listStatus(base):
            folder = status.getPath()
            # `_` folders are no run's (the LLM journal): answers paid for wait there to be folded in.
            if not status.isDirectory() or folder.getName() == mine or folder.getName().startswith("_"):
                continue
            files, newest = 0, 0
            listing = fs.listFiles(folder, True)
            while listing.hasNext():
                entry = listing.next()
                files, newest = files + 1, max(newest, entry.getModificationTime())
            if (newest if files else status.getModificationTime()) < cutoff_ms:
                fs.delete(folder, True)
                removed[folder.getName()] = files
        return removed

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
