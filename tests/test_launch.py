"""Jobs start the ways the README documents: spark-submit exactly as shown."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from tests.conftest import REPO, settings_for

pytestmark = pytest.mark.e2e


def test_spark_submit_runs_a_stage_as_the_readme_shows(spark, tmp_path):
    seeds = tmp_path / "seeds" / "geometry"
    seeds.mkdir(parents=True)
    # Two different figures (a half-filled square, a ring): 29 pHash bits apart, no near duplicates.
    half, ring = Image.new("RGB", (64, 64), "white"), Image.new("RGB", (64, 64), "white")
    ImageDraw.Draw(half).rectangle((0, 0, 32, 64), fill="black")
    ImageDraw.Draw(ring).ellipse((8, 8, 56, 56), outline="black", width=6)
    half.save(seeds / "half.png")
    ring.save(seeds / "ring.png")
    settings = settings_for(tmp_path, **{"seeds.source": tmp_path / "seeds", "spark.master": "local[1]", "spark.driver_memory": "1g"})
    # The README: the venv's bin/ first on PATH, then the line as written, from the checkout.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "PYTHONPATH": str(REPO)}
    env.pop("PYSPARK_PYTHON", None)
    env.pop("PYSPARK_DRIVER_PYTHON", None)
    command = ["spark-submit", "jobs/ingest_seeds.py", "--conf", "conf/local.yaml", *[f"--set={k}={v}" for k, v in settings.items()]]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "ClassNotFoundException" not in done.stderr
    assert "2 new rows in seeds" in done.stdout
    seeds_table = spark.read.format("delta").load(str(tmp_path / "tables" / "seeds"))
    assert sorted(r["status"] for r in seeds_table.collect()) == ["ok", "ok"]


def test_the_wheel_carries_the_command_conf_and_prompts(tmp_path):
    wheels, target, elsewhere = tmp_path / "wheels", tmp_path / "site", tmp_path / "elsewhere"
    elsewhere.mkdir()
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", wheels, REPO], check=True, timeout=300,
                   cwd=tmp_path, env={**os.environ, "PIP_NO_INDEX": "1"})
    [wheel] = wheels.glob("webmine-*.whl")
    subprocess.run([*pip, "install", "--no-deps", "--no-index", "--target", target, wheel], check=True, timeout=300)
    # Run from a folder that is not the checkout, with the installed packages first on the path.
    env = {**os.environ, "PYTHONPATH": str(target)}

    def run(*command: str) -> subprocess.CompletedProcess:
        return subprocess.run(command, cwd=elsewhere, env=env, capture_output=True, text=True, timeout=120)

    shown = run(str(target / "bin" / "webmine"), "--help")
    assert shown.returncode == 0 and "webmine stage NAME" in shown.stdout and "render_pages" in shown.stdout
    stage_help = run(str(target / "bin" / "webmine"), "stage", "render_pages", "--help")
    assert stage_help.returncode == 0 and "--conf" in stage_help.stdout
    wrong = run(str(target / "bin" / "webmine"), "stage", "render_page")
    assert wrong.returncode == 2 and "name one of" in wrong.stderr
    # The default --conf, the files it names and the prompts resolve inside the installed package.
    probe = ("import jobs.webmine, runtime.config as c; cfg = c.load_config('conf/local.yaml');"
             "print(jobs.webmine.__file__); print(cfg.urls.blocklist_file); print(cfg.llm.prompts_dir);"
             "print(len(cfg.blocked_hosts()) > 0, (cfg.llm.prompts_dir / 'extract.yaml').is_file())")
    found = run(sys.executable, "-c", probe)
    assert found.returncode == 0, found.stderr
    module, blocklist, prompts, readable = found.stdout.splitlines()
    assert all(Path(p).is_relative_to(target) for p in (module, blocklist, prompts)), found.stdout
    assert readable == "True True"
