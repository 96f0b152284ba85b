"""The one place that builds the SparkSession."""
from __future__ import annotations

import os
import sys

from py4j.protocol import Py4JJavaError
from pyspark import SparkContext
from pyspark.sql import SparkSession

from runtime.config import SparkConfig
from runtime.jars import jar_paths, missing_jars


DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
# Set by spark-submit for the Python program it starts: the JVM runs already.
SUBMITTED = "PYSPARK_GATEWAY_PORT"


def _require_jars() -> None:
    absent = missing_jars()
    if absent:
        raise RuntimeError(
            "Delta JARs are missing: " + ", ".join(str(p) for p in absent) + " (run `make install` or `python -m runtime.jars`)"
        )


def _delta_on_submitted_class_path() -> str | None:
    """Under spark-submit the driver's JVM started before this code ran, so `spark.jars` set
    now would reach the executors but not the driver, which must load the Delta extension
    when the session starts. Without --jars / --packages, add the local Delta JARs to the
    class loader spark-submit gave the driver's program; returns spark.jars with them, for
    the executors (None: Delta was there already).
    """
    SparkContext._ensure_initialized()
    jvm = SparkContext._jvm
    loader = jvm.java.lang.Thread.currentThread().getContextClassLoader()
    try:
        jvm.java.lang.Class.forName(DELTA_EXTENSION, False, loader)
        return None  # --jars, --packages or the cluster's own Delta
    except Py4JJavaError:
        pass
    _require_jars()
    jars = [str(p.resolve()) for p in jar_paths()]
    for jar in jars:
        loader.addURL(jvm.java.io.File(jar).toURI().toURL())
    given = jvm.java.lang.System.getProperty("spark.jars")  # what spark-submit was given
    return ",".join([*(given.split(",") if given else []), *jars])


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
    local = config.master.startswith("local")
    builder = (
        SparkSession.builder.master(config.master)
        .appName(config.app_name)
        .config("spark.sql.extensions", DELTA_EXTENSION)
        .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
        .config("spark.driver.memory", config.driver_memory)
        # A cluster's users watch its jobs in the Spark UI; one machine's runs print their own progress.
        .config("spark.ui.enabled", str(not local).lower())
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.databricks.delta.snapshotPartitions", "2")
        # Blocks of checkpointed frames are freed only when the driver's JVM collects them; a long
        # run on a quiet heap would otherwise keep every stage's blocks and starve later joins.
        .config("spark.cleaner.periodicGC.interval", "5min")
        # MERGE sources are always staged Delta tables already, so MERGE need not copy them again.
        .config("spark.databricks.delta.merge.materializeSource", "none")
    )
    if os.environ.get(SUBMITTED) and SparkContext._active_spark_context is None:
        jars = _delta_on_submitted_class_path()
        if jars:
            builder = builder.config("spark.jars", jars)
    elif local:
        _require_jars()
        builder = builder.config("spark.jars", ",".join(str(p) for p in jar_paths()))
    for key, value in session_settings.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark
