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


def test_bundle_is_current_databricks_practice():
    text = (REPO / "databricks.yml").read_text()
    assert "/Workspace${workspace.file_path}" not in text  # the deprecated prefix: file_path has it already
    bundle = yaml.safe_load(text)
    prod = bundle["targets"]["prod"]
    assert prod["mode"] == "production" and prod["workspace"]["root_path"] and prod["run_as"]["service_principal_name"]
    job = bundle["resources"]["jobs"]["webmine_pipeline"]
    # Databricks Runtime 18 ships Spark 4.1, the Spark pinned in setup.py and tested here.
    assert job["job_clusters"][0]["new_cluster"]["spark_version"].startswith("18.")
    setup = (REPO / "setup.py").read_text()
    assert '"pyspark==4.1.1"' in setup
    tasks = {t["task_key"]: t for t in job["tasks"]}
    assert tasks["maintain"]["python_wheel_task"]["parameters"][0] == "maintain"
    widgets = tasks["audit"]["notebook_task"]["base_parameters"]
    assert set(widgets) == {"conf", "overrides"}
    # The conf file names its files relative to itself: the job passes no paths for them.
    config = load_config(REPO / "conf" / "databricks.yaml")
    assert config.urls.blocklist_file == REPO / "conf" / "url_blocklist.txt" and config.blocked_hosts()


def test_notebooks_read_widgets_on_databricks_and_the_environment_elsewhere():
    from runtime.notebook import settings

    class Widgets:  # the part of dbutils.widgets a notebook uses
        def __init__(self, values):
            self.values, self.made = values, {}

        def text(self, name, default, label):
            self.made[name] = default

        def get(self, name):
            return self.values.get(name, self.made[name])

    class DbUtils:
        def __init__(self, values):
            self.widgets = Widgets(values)

    environ = {"WEBMINE_CONF": "conf/cluster.yaml", "WEBMINE_SET": "tables.root=/data/t\nsearch.top_k=5"}
    assert settings({}, environ) == ("conf/cluster.yaml", ["tables.root=/data/t", "search.top_k=5"])
    assert settings({}, {}) == ("conf/local.yaml", [])
    given = DbUtils({"conf": "/Workspace/b/conf/databricks.yaml", "overrides": "tables.catalog=main.x; search.top_k=5"})
    assert settings({"dbutils": given}, {}) == ("/Workspace/b/conf/databricks.yaml", ["tables.catalog=main.x", "search.top_k=5"])
    defaults = DbUtils({})
    assert settings({"dbutils": defaults}, {}) == ("conf/databricks.yaml", [])
    assert set(defaults.widgets.made) == {"conf", "overrides"}
