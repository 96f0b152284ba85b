"""Audits over the Delta tables: what each run committed, what changed between two
versions, where a final QA came from, and putting a table back to an earlier version.

`jobs/audit.py` and the notebooks call these. They only read, except `restore`, which
is itself a commit stamped with a run id, so it shows in the history like any run.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import reduce
from typing import Any, Iterable

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from runtime.tables import MODELS, Tables
from schemas.base import TableModel

LLM_LEDGER = "llm_calls"
LEDGER_COLUMNS = ("task", "model", "tokens_in", "tokens_out", "cost_usd")
# Operations whose numOutputRows are rows written (a MERGE's also counts the rows it copied).
WHOLE_WRITES = ("WRITE", "CREATE TABLE AS SELECT", "REPLACE TABLE AS SELECT", "CREATE OR REPLACE TABLE AS SELECT")
ROUTINE_OPERATIONS = ("MERGE", "CREATE TABLE", *WHOLE_WRITES)


class AuditError(ValueError):
    """A table, version, run or row that the audit cannot find."""


def _model(name: str) -> type[TableModel]:
    if name not in MODELS:
        raise AuditError(f"unknown table {name!r}; known: {', '.join(MODELS)}")
    return MODELS[name]


def _commits(tables: Tables, name: str) -> DataFrame:
    _model(name)
    if not tables.exists(name):
        raise AuditError(f"table {name} has not been written yet at {tables.where()}")
    return tables.history(name)


def version_range(tables: Tables, name: str) -> tuple[int, int]:
    """The first and last version of a table that its history holds."""
    row = _commits(tables, name).agg(F.min("version"), F.max("version")).first()
    return int(row[0]), int(row[1])


def _check_version(name: str, version: int, versions: tuple[int, int]) -> None:
    first, last = versions
    if not first <= version <= last:
        raise AuditError(f"table {name} has versions {first}..{last}; version {version} is out of range")


# ---- history ----------------------------------------------------------------------
def _metric(*names: str) -> Column:
    return F.coalesce(*[F.col("operationMetrics")[name].cast("long") for name in names])


def table_history(tables: Tables, names: Iterable[str] | None = None) -> DataFrame:
    """Every commit of the tables (all written tables by default), oldest first: table,
    version, timestamp, run_id (the commit's user metadata), operation, and the rows
    it inserted, updated and deleted (Delta's operation metrics)."""
    chosen = list(names) if names is not None else [n for n in MODELS if tables.exists(n)]
    if not chosen:
        raise AuditError(f"no table has been written yet at {tables.where()}")
    frames = [
        _commits(tables, name).select(
            F.lit(name).alias("table"), "version", "timestamp", F.col("userMetadata").alias("run_id"), "operation",
            F.coalesce(_metric("numTargetRowsInserted"), F.when(F.col("operation").isin(*WHOLE_WRITES), _metric("numOutputRows"))).alias("rows_inserted"),
            _metric("numTargetRowsUpdated", "numUpdatedRows").alias("rows_updated"),
            _metric("numTargetRowsDeleted", "numDeletedRows").alias("rows_deleted"),
        )
        for name in chosen
    ]
    return reduce(DataFrame.unionByName, frames).orderBy("timestamp", "table", "version")


def runs_side_by_side(tables: Tables, names: Iterable[str] | None = None) -> DataFrame:
    """One row per run id, one column per table: the versions the run committed and
    the rows it changed there, e.g. `v7..9 +120 ~4` (a restore shows as `restore`)."""
    history = table_history(tables, names)
    chosen = [n for n in MODELS if n in {r["table"] for r in history.select("table").distinct().collect()}]
    per_table = history.groupBy(F.coalesce("run_id", F.lit("(none)")).alias("run_id"), "table").agg(
        F.min("timestamp").alias("started"), F.min("version").alias("first"), F.max("version").alias("last"),
        F.sum("rows_inserted").alias("inserted"), F.sum("rows_updated").alias("updated"), F.sum("rows_deleted").alias("deleted"),
        F.collect_set(F.when(~F.col("operation").isin(*ROUTINE_OPERATIONS), F.lower("operation"))).alias("other"),
    )
    cell = F.concat_ws(
        " ",
        F.when(F.col("first") == F.col("last"), F.concat(F.lit("v"), "last")).otherwise(F.concat(F.lit("v"), "first", F.lit(".."), "last")),
        F.when(F.col("inserted") > 0, F.concat(F.lit("+"), "inserted")),
        F.when(F.col("updated") > 0, F.concat(F.lit("~"), "updated")),
        F.when(F.col("deleted") > 0, F.concat(F.lit("-"), "deleted")),
        F.array_join(F.array_sort("other"), ","),
    )
    started = per_table.groupBy("run_id").agg(F.min("started").alias("started"))
    grid = per_table.groupBy("run_id").pivot("table", chosen).agg(F.first(cell))
    return grid.join(started, "run_id").select("run_id", "started", *chosen).orderBy("started")


def run_versions(tables: Tables, name: str, run_id: str) -> tuple[int, int]:
    """The version of a table before a run's first commit to it and after its last."""
    row = _commits(tables, name).where(F.col("userMetadata") == run_id).agg(F.min("version"), F.max("version")).first()
    if row[0] is None:
        raise AuditError(f"run {run_id!r} made no commit to table {name}")
    first = version_range(tables, name)[0]
    return max(int(row[0]) - 1, first), int(row[1])


# ---- values to compare and to show ---------------------------------------------------
def _has_map(data_type: T.DataType) -> bool:
    if isinstance(data_type, T.MapType):
        return True
    if isinstance(data_type, T.ArrayType):
        return _has_map(data_type.elementType)
    if isinstance(data_type, T.StructType):
        return any(_has_map(f.dataType) for f in data_type.fields)
    return False


def _comparable(column: Column, data_type: T.DataType) -> Column:
    # Spark neither compares nor hashes maps; their JSON it does.
    return F.to_json(column) if _has_map(data_type) else column


def _shown(column: Column, data_type: T.DataType) -> Column:
    if isinstance(data_type, T.BinaryType):
        return F.concat(F.length(column).cast("string"), F.lit(" bytes"))
    if isinstance(data_type, (T.ArrayType, T.StructType, T.MapType)):
        return F.to_json(column)
    return column.cast("string")


def _fingerprint(df: DataFrame) -> Column:
    return F.xxhash64(*[_comparable(F.col(f.name), f.dataType) for f in df.schema.fields])


def _fingerprints(tables: Tables, name: str, keys: DataFrame, first: int, upto: int) -> DataFrame:
    """(key, version, fingerprint) for each key and each version in [first, upto]; the
    fingerprint is null at a version where the key has no row."""
    key = MODELS[name].key
    snapshots = []
    for version in range(first, upto + 1):
        rows = tables.read(name, version).join(F.broadcast(keys), key, "left_semi")
        snapshots.append(rows.select(key, F.lit(version).alias("version"), _fingerprint(rows).alias("fingerprint")))
    every_version = tables.spark.range(first, upto + 1).select(F.col("id").alias("version"))
    return keys.crossJoin(every_version).join(reduce(DataFrame.unionByName, snapshots), [key, "version"], "left")


def _first_with_content(tables: Tables, name: str, keys: DataFrame, upto: int) -> DataFrame:
    """(key, version): the first version whose row held the content the key has at `upto`.
    A restore brings back rows an earlier commit made; that commit is the one found."""
    key = MODELS[name].key
    grid = _fingerprints(tables, name, keys, version_range(tables, name)[0], upto)
    current = grid.where(F.col("version") == upto).select(key, F.col("fingerprint").alias("current"))
    return grid.join(current, key).where(F.col("fingerprint") == F.col("current")).groupBy(key).agg(F.min("version").alias("version"))


# ---- diff -------------------------------------------------------------------------
def _short(value: Any, width: int = 60) -> str:
    text = str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


@dataclass
class VersionDiff:
    """The rows of one table that differ between two versions, by the table's key.

    `rows`: the key, `change` (added | removed | changed), `changed_columns`, `before`
    and `after` (the changed columns' values as text), and the commit that last changed
    the row between the two versions: its `version`, `run_id` and `operation`.
    """

    table: str
    key: str
    from_version: int
    to_version: int
    rows: DataFrame

    def counts(self) -> dict[str, int]:
        found = {r["change"]: r["n"] for r in self.rows.groupBy("change").agg(F.count("*").alias("n")).collect()}
        return {change: found.get(change, 0) for change in ("added", "removed", "changed")}

    def render(self, limit: int = 20) -> str:
        counts = self.counts()
        lines = [
            f"{self.table}: version {self.from_version} -> {self.to_version}: "
            + ", ".join(f"{n} {change}" for change, n in counts.items())
        ]
        for row in self.rows.orderBy("change", "version", self.key).limit(limit).collect():
            what = ""
            if row["change"] == "changed":
                what = "; ".join(
                    f"{c}: {_short(row['before'][c], 30)} -> {_short(row['after'][c], 30)}" for c in row["changed_columns"]
                )
            lines.append(
                f"  {row['change']:<8} {self.key}={row[self.key]}  by run {row['run_id']} (v{row['version']} {row['operation']})"
                + (f"  {what}" if what else "")
            )
        total = sum(counts.values())
        if total > limit:
            lines.append(f"  ... {total - limit} more")
        return "\n".join(lines)


CHANGE_COLUMNS = ("_change_type", "_commit_version", "_commit_timestamp")
BEFORE_IMAGES = ("update_preimage", "delete")  # a row as it was before the commit
AFTER_IMAGES = ("update_postimage", "insert")  # a row as the commit left it


def _change_feed(tables: Tables, name: str, first: int, last: int) -> DataFrame:
    try:
        feed = tables.changes(name, first, last)
        feed.isEmpty()  # the feed's versions are checked when it is read
        return feed
    except Exception as exc:  # Delta's error: the feed was off for some version
        if "change data" not in str(exc).lower() and "DELTA_MISSING_CHANGE_DATA" not in str(exc):
            raise
        raise AuditError(f"table {name} has no change data feed for all of versions {first}..{last} (it was made before the "
                         "feed was on; `jobs.maintain` turns it on for later commits)") from None


def diff(tables: Tables, name: str, from_version: int, to_version: int | None = None) -> VersionDiff:
    """The rows added, removed and changed from one version of a table to a later one
    (default: the latest), each with the run whose commit last changed it.

    Read from the table's change data feed: only the rows the commits in between touched.
    A row's state before is its pre-image at the first commit that touched it, its state after
    the post-image at the last one; the commit named is the last that changed its content (a
    MERGE update that wrote the same values is not)."""
    key = _model(name).key
    versions = version_range(tables, name)
    to_version = versions[1] if to_version is None else to_version
    _check_version(name, from_version, versions)
    _check_version(name, to_version, versions)
    if from_version >= to_version:
        raise AuditError(f"table {name}: from version {from_version} must be below to version {to_version}")
    events = _change_feed(tables, name, from_version + 1, to_version)
    shared = [f for f in events.schema.fields if f.name != key and f.name not in CHANGE_COLUMNS]
    row = F.struct(*[f.name for f in shared])
    is_before, is_after = F.col("_change_type").isin(*BEFORE_IMAGES), F.col("_change_type").isin(*AFTER_IMAGES)
    # One line per key and commit: the row before and after it (null: absent), and their fingerprints.
    fingerprint = F.xxhash64(*[_comparable(F.col(f.name), f.dataType) for f in shared])
    commits_per_key = events.groupBy(key, F.col("_commit_version").alias("version")).agg(
        F.first(F.when(is_before, row), ignorenulls=True).alias("o"), F.first(F.when(is_after, row), ignorenulls=True).alias("n"),
        F.first(F.when(is_before, fingerprint), ignorenulls=True).alias("o_fp"), F.first(F.when(is_after, fingerprint), ignorenulls=True).alias("n_fp"),
    )
    per_key = commits_per_key.groupBy(key).agg(
        F.min_by("o", "version").alias("o"), F.max_by("n", "version").alias("n"),
        F.max(F.when(~F.col("o_fp").eqNullSafe(F.col("n_fp")), F.col("version"))).alias("version"),
    )
    differing = F.array_compact(F.array(*[
        F.when(~_comparable(F.col(f"o.{f.name}"), f.dataType).eqNullSafe(_comparable(F.col(f"n.{f.name}"), f.dataType)), F.lit(f.name))
        for f in shared
    ]))
    change = (
        F.when(F.col("o").isNull() & F.col("n").isNotNull(), "added").when(F.col("n").isNull() & F.col("o").isNotNull(), "removed")
        .when(F.col("o").isNotNull() & (F.size(differing) > 0), "changed")
    )

    def values(side: str) -> Column:
        pairs = [item for f in shared for item in (F.lit(f.name), _shown(F.col(f"{side}.{f.name}"), f.dataType))]
        return F.when(change == "changed", F.map_filter(F.create_map(*pairs), lambda k, _: F.array_contains(differing, k)))

    rows = per_key.select(
        key, change.alias("change"), F.when(change == "changed", differing).alias("changed_columns"),
        values("o").alias("before"), values("n").alias("after"), "version",
    ).where(F.col("change").isNotNull())
    commits = tables.history(name).select("version", F.col("userMetadata").alias("run_id"), "operation")
    attributed = rows.join(commits, "version", "left").select(
        key, "change", "changed_columns", "before", "after", "version", "run_id", "operation"
    )
    return VersionDiff(name, key, from_version, to_version, attributed)


def diff_run(tables: Tables, name: str, run_id: str) -> VersionDiff:
    """What one run changed in a table: from before its first commit to after its last."""
    before, after = run_versions(tables, name, run_id)
    return diff(tables, name, before, after)


# ---- lineage ----------------------------------------------------------------------
LINEAGE_COLUMNS = {
    "final_qas": ("final_id", "qa_id", "source_qa_ids", "status", "reason", "question", "answer", "answer_source",
                  "web_answer", "decided_by", "answer_ids", "subject", "page_id", "url", "image_ids", "hit_ids", "seed_ids", "round",
                  "verified", "duplicate_of", "benchmark_item", "match_kind", "match_score", "run_id"),
    "aligned_qas": ("final_id", "status", "reason", "answer", "answer_source", "web_answer", "decided_by", "run_id"),
    "answers": ("answer_id", "final_id", "k", "status", "short_answer", "request_id", "run_id"),
    "valid_qas": ("final_id", "qa_id", "status", "reason", "validated_by", "answer", "run_id"),
    "candidate_qas": ("qa_id", "page_id", "url", "pattern", "engine", "run_id"),
    "pages": ("url_id", "url", "status", "http_status", "title", "text_chars", "run_id"),
    "urls": ("url_id", "url", "status", "reason", "hit_ids", "seed_ids", "round", "run_id"),
    "search_hits": ("hit_id", "seed_id", "provider", "round", "rank", "distance", "url", "matched_image_url", "run_id"),
    "seeds": ("seed_id", "source", "subject", "round", "status", "width", "height", "format", "image_url", "run_id"),
    "images": ("image_id", "url", "status", "sha256", "width", "height", "run_id"),
}


@dataclass
class LineageStep:
    table: str
    version: int
    rows: list[dict[str, Any]]


@dataclass
class Lineage:
    """A final QA and the rows it came from, each table read at the version it had
    when the final QA's row was written (`version`, by run `run_id`)."""

    final_id: str
    version: int
    run_id: str | None
    steps: list[LineageStep]

    def step(self, table: str) -> LineageStep:
        return next(s for s in self.steps if s.table == table)

    def render(self) -> str:
        lines = [f"final QA {self.final_id}: written at final_qas v{self.version} by run {self.run_id}"]
        for step in self.steps:
            lines.append(f"  {step.table} v{step.version}: {len(step.rows)} row{'' if len(step.rows) == 1 else 's'}")
            for row in step.rows:
                lines.append("    " + "  ".join(f"{c}={_short(v, 72)}" for c, v in row.items() if v not in (None, [])))
        return "\n".join(lines)


def _version_at(tables: Tables, name: str, micros: int) -> int | None:
    """The table's last version committed at or before a moment (microseconds since the epoch)."""
    row = _commits(tables, name).where(F.unix_micros("timestamp") <= micros).agg(F.max("version")).first()
    return None if row[0] is None else int(row[0])


def lineage(tables: Tables, final_id: str, as_of: int | None = None) -> Lineage:
    """Trace a final QA (by final_id, in final_qas at version as_of, default the latest; a row
    curation dropped as well) back through alignment, its synthesized answers (LLM engine), validation, candidate QAs, pages,
    URLs and search hits to its seed images, and to its images, reading each table as of the commit that wrote the final QA's row as it
    is (the first version that held it so)."""
    versions = version_range(tables, "final_qas")
    as_of = versions[1] if as_of is None else as_of
    _check_version("final_qas", as_of, versions)
    if tables.read("final_qas", as_of).where(F.col("final_id") == final_id).isEmpty():
        raise AuditError(f"final QA {final_id!r} not found in final_qas at version {as_of}")
    key = tables.spark.createDataFrame([(final_id,)], "final_id string")
    written = int(_first_with_content(tables, "final_qas", key, as_of).first()["version"])
    commit = (
        _commits(tables, "final_qas").where(F.col("version") == written)
        .select("userMetadata", F.unix_micros("timestamp").alias("micros")).first()
    )

    def read(name: str, key_column: str, ids: Iterable[str]) -> LineageStep:
        version = _version_at(tables, name, commit["micros"]) if name != "final_qas" else written
        wanted = sorted(set(ids))
        if version is None or not wanted:
            return LineageStep(name, -1 if version is None else version, [])
        rows = tables.read(name, version).where(F.col(key_column).isin(wanted)).select(*LINEAGE_COLUMNS[name]).orderBy(key_column)
        return LineageStep(name, version, [r.asDict(recursive=True) for r in rows.collect()])

    final = read("final_qas", "final_id", [final_id])
    qa = final.rows[0]
    aligned = read("aligned_qas", "final_id", [final_id])
    answers = read("answers", "answer_id", qa["answer_ids"])
    valid = read("valid_qas", "final_id", [final_id])
    candidates = read("candidate_qas", "qa_id", [qa["qa_id"], *qa["source_qa_ids"]])
    page_ids = [c["page_id"] for c in candidates.rows]
    pages = read("pages", "url_id", page_ids)
    urls = read("urls", "url_id", page_ids)
    hits = read("search_hits", "hit_id", [h for u in urls.rows for h in u["hit_ids"]])
    seeds = read("seeds", "seed_id", [h["seed_id"] for h in hits.rows])
    images = read("images", "image_id", qa["image_ids"])
    steps = [final, aligned, answers, valid, candidates, pages, urls, hits, seeds, images]
    return Lineage(final_id, written, commit["userMetadata"], [step for step in steps if step.rows or step.table != "answers"])


# ---- restore ----------------------------------------------------------------------
def restore(tables: Tables, name: str, version: int, run_id: str) -> dict[str, int]:
    """Bring a table back to an earlier version as a new commit stamped with run_id.

    Only that table moves: `stage_progress` still counts the input of the undone commits
    as processed, so restore it to the same moment when a rerun should redo that work.
    """
    _check_version(name, version, version_range(tables, name))
    with tables.stamped(run_id):
        return tables.restore(name, version)


# ---- LLM costs --------------------------------------------------------------------
def llm_costs(tables: Tables) -> DataFrame | None:
    """Calls, tokens and cost by task and model from the LLM call ledger; None when no
    call was recorded (no ledger, or an empty one: the offline rule engine calls none)."""
    calls = tables.find(LLM_LEDGER)
    if calls is None or calls.isEmpty():
        return None
    missing = [c for c in LEDGER_COLUMNS if c not in calls.columns]
    if missing:
        raise AuditError(f"table {LLM_LEDGER} has no column {', '.join(missing)}")
    return (
        calls.groupBy("task", "model")
        .agg(F.count("*").alias("calls"), F.sum("tokens_in").alias("tokens_in"), F.sum("tokens_out").alias("tokens_out"),
             F.round(F.sum("cost_usd"), 4).alias("cost_usd"))
        .orderBy(F.desc("cost_usd"), "task", "model")
    )
