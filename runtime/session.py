"""The one place that builds the SparkSession."""
from __future__ import annotations

import os
import sys

from pyspark.sql import SparkSession

from runtime.config import SparkConfig
from runtime.jars import jar_paths, missing_jars


def build_session(config: SparkConfig) -> SparkSession:
    """Local mode by default; Delta extensions and catalog; JARs from the local folder.

    On a cluster the Delta JARs come with spark-submit (--jars or --packages), so a
    master other than local[...] does not insist on the local folder. On Databricks
    the session exists already and only its session settings are applied.
    """
    session_settings = {
        "spark.sql.shuffle.partitions": str(config.shuffle_partitions),
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        **config.extra,
    }
    if os.environ.get("DATABRICKS_RUNTIME_VERSION"):
        # Databricks made the session, Delta included; only session settings can change.
        spark = SparkSession.builder.getOrCreate()
        for key, value in session_settings.items():
            spark.conf.set(key, value)
        return spark
    # Executors run this interpreter, so UDFs see the same packages as the driver.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = (
        SparkSession.builder.master(config.master)
        .appName(config.app_name)
        .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
        .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
        .config("spark.driver.memory", config.driver_memory)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.databricks.delta.snapshotPartitions", "2")
        # MERGE sources are always staged Delta tables already, so MERGE need not copy them again.
        .config("spark.databricks.delta.merge.materializeSource", "none")
    )
    if config.master.startswith("local"):
        absent = missing_jars()
        if absent:
            raise RuntimeError(
                "Delta JARs are missing: " + ", ".join(str(p) for p in absent) + " (run `make install` or `python -m runtime.jars`)"
            )
        builder = builder.config("spark.jars", ",".join(str(p) for p in jar_paths()))
    for key, value in session_settings.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark
