"""What runs the pipeline on a cluster: the Databricks bundle, its init script, the session."""
import os
import subprocess

import yaml

from runtime.config import SparkConfig, load_config
from runtime.session import build_session
from tests.conftest import REPO


def test_bundle_runs_the_pipeline_job_with_shipped_files():
    bundle = yaml.safe_load((REPO / "databricks.yml").read_text())
    job = bundle["resources"]["jobs"]["webmine_pipeline"]
    cluster = job["job_clusters"][0]["new_cluster"]
    script = cluster["init_scripts"][0]["workspace"]["destination"].replace("${workspace.file_path}/", "")
    assert (REPO / script).is_file() and os.access(REPO / script, os.X_OK)
    tasks = {t["task_key"]: t for t in job["tasks"]}
    pipeline = tasks["pipeline"]["spark_python_task"]
    assert (REPO / pipeline["python_file"]).is_file()
    conf = pipeline["parameters"][pipeline["parameters"].index("--conf") + 1].split("${workspace.file_path}/")[1]
    load_config(REPO / conf)
    assert (REPO / tasks["audit"]["notebook_task"]["notebook_path"]).is_file()
    assert cluster["spark_env_vars"]["WEBMINE_CONF"].endswith(conf)


def test_init_script_is_valid_bash():
    subprocess.run(["bash", "-n", str(REPO / "scripts" / "databricks_init_chromium.sh")], check=True)


def test_on_databricks_the_session_there_is_used_with_the_session_settings(spark, monkeypatch):
    monkeypatch.setenv("DATABRICKS_RUNTIME_VERSION", "17.3")
    before = spark.conf.get("spark.sql.shuffle.partitions")
    try:
        session = build_session(SparkConfig(master="databricks", shuffle_partitions=3, extra={"spark.sql.caseSensitive": "true"}))
        assert session is spark
        assert spark.conf.get("spark.sql.shuffle.partitions") == "3"
        assert spark.conf.get("spark.sql.caseSensitive") == "true"
    finally:
        spark.conf.set("spark.sql.shuffle.partitions", before)
        spark.conf.unset("spark.sql.caseSensitive")
