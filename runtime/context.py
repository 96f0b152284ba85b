"""What a job runs with: config, Spark, tables, the run id and its MLflow run."""
from __future__ import annotations

import datetime as dt
import uuid
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Iterator

from pyspark.sql import SparkSession

from runtime.config import PipelineConfig
from runtime.session import build_session
from runtime.tables import Tables, join_location
from runtime.tracking import Tracker


@dataclass
class Context:
    config: PipelineConfig
    spark: SparkSession
    tables: Tables
    run_id: str
    tracker: Tracker


def new_run_id() -> str:
    return f"run-{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


@contextmanager
def pipeline_run(
    config: PipelineConfig, job: str, run_id: str | None = None, spark: SparkSession | None = None, serve_sample_web: bool = True
) -> Iterator[Context]:
    """Open a run: Spark, tables stamped with the run id, MLflow run, sample web if enabled."""
    run_id = run_id or new_run_id()
    spark = spark or build_session(config.spark)
    # Staging per run: two runs at once never overwrite each other's batches.
    tables = Tables(spark, config.tables, join_location(config.staging_root(), run_id))
    tracker = Tracker(config.tracking)
    tables.set_run_id(run_id)
    failed = True
    with ExitStack() as stack:
        if config.sample_web.enabled and serve_sample_web:
            from sampleweb.server import serve

            stack.enter_context(serve(config.sample_web.dir, config.sample_web.bind, config.sample_web.port))
        tracker.start(run_id, config, job)
        try:
            yield Context(config, spark, tables, run_id, tracker)
            failed = False
        finally:
            tracker.end(failed=failed)
            tables.set_run_id(None)
            tables.drop_staging()  # what a batch staged is in its output table, or redone by a rerun
