"""Kill -9 anywhere: the pipeline killed at random moments, then rerun, against an uninterrupted run.

Each trial runs the whole pipeline on the sample web in a process session of its own and kills it:
either the whole process tree with SIGKILL at a random moment, or the driver with SIGKILL at a
named point of a random stage (after the batch is staged, between the output's MERGE and the
progress MERGE, after the progress MERGE; `WEBMINE_CRASH_AT`), and then the rest of its tree.
Then it reruns the pipeline to completion and compares every table with the reference run's, by
key and by a hash of each row's content (run ids and timings left out): rows lost, duplicated and
different. It also counts the Chromium processes that outlived the kill and the staging folders
left behind.

    flock /tmp/webmine-spark.lock .venv/bin/python -m benchmarks.chaos [--trials 20] [--content-pages 20]

Figures go to work/bench/chaos.json.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pyspark.sql import functions as F  # noqa: E402

from runtime.config import SparkConfig  # noqa: E402
from runtime.session import build_session  # noqa: E402
from runtime.tables import MODELS  # noqa: E402

# Differ between any two runs; `attempts` counts the runs that retried a failure in passing.
VOLATILE = {"run_id", "render_ms", "latency_ms", "attempts"}
POINTS = ("staged", "merged", "marked")
STAGES = ("search", "urls", "pages", "images", "extract", "validate", "align", "curate")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def settings(work: Path, sample_web: Path, port: int, content_pages: int) -> list[str]:
    pairs = {
        "run.work_dir": work, "tables.root": work / "tables", "tracking.enabled": "false",
        "sample_web.dir": sample_web, "sample_web.port": port, "sample_web.content_pages": content_pages,
        "network.allow_private": f"['*.localhost:{port}']", "render.page_timeout_s": 8, "stages.batch_rows": 40,
    }
    return [f"--set={key}={value}" for key, value in pairs.items()]


def start(work: Path, args: list[str], crash_at: str | None = None) -> subprocess.Popen:
    env = {**os.environ, **({"WEBMINE_CRASH_AT": crash_at} if crash_at else {})}
    log = open(work.parent / f"{work.name}.log", "ab")
    command = [sys.executable, "-m", "jobs.run_pipeline", "--conf", str(REPO / "conf" / "local.yaml"), *args]
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def chromium_pids() -> set[int]:
    pids = set()
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if b"chromium" in (proc / "cmdline").read_bytes().split(b"\0")[0]:
                    pids.add(int(proc.name))
            except OSError:
                continue
    return pids


def kill_tree(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


def table_hashes(spark, root: Path) -> dict[str, list[tuple[str, str]]]:
    """Each table's (key, content hash) pairs."""
    out = {}
    for name, model in MODELS.items():
        path = root / name
        if not (path / "_delta_log").is_dir():
            continue
        df = spark.read.format("delta").load(str(path))
        kept = sorted(c for c in df.columns if c not in VOLATILE)
        content = F.sha2(F.to_json(F.struct(*kept)), 256)
        out[name] = [(r[0], r[1]) for r in df.select(F.col(model.key).cast("string"), content).collect()]
    return out


def compare(reference: dict, trial: dict) -> dict[str, int]:
    lost = duplicated = different = 0
    for name, rows in reference.items():
        want = dict(rows)
        got: dict[str, list[str]] = {}
        for key, digest in trial.get(name, []):
            got.setdefault(key, []).append(digest)
        lost += sum(1 for key in want if key not in got)
        duplicated += sum(len(v) - 1 for v in got.values()) + sum(1 for key in got if key not in want)
        different += sum(1 for key, digest in want.items() if key in got and got[key][0] != digest)
    return {"lost": lost, "duplicated": duplicated, "different": different}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--content-pages", type=int, default=20)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    root = REPO / "work" / "bench" / "chaos"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    port = free_port()
    sample_web = root / "sample_web"
    spark = build_session(SparkConfig(master="local[1]", shuffle_partitions=2, driver_memory="2g"))

    reference = root / "reference"
    began = time.monotonic()
    assert start(reference, settings(reference, sample_web, port, args.content_pages)).wait() == 0, "the reference run failed"
    reference_s = time.monotonic() - began
    expected = table_hashes(spark, reference / "tables")
    print(f"reference run: {reference_s:.0f} s, {sum(map(len, expected.values()))} rows in {len(expected)} tables", flush=True)

    trials = []
    for index in range(args.trials):
        work = root / f"trial-{index:02d}"
        run_args = settings(work, sample_web, port, args.content_pages)
        crash_at = f"{rng.choice(STAGES)}:{rng.choice(POINTS)}" if index % 2 else None
        before = chromium_pids()
        process = start(work, run_args, crash_at)
        if crash_at:
            process.wait()  # the driver kills itself at the point (or the stage never reaches it)
            how = f"SIGKILL at {crash_at}"
        else:
            delay = rng.uniform(0.05, 0.95) * reference_s
            time.sleep(delay)
            how = f"SIGKILL of the tree at {delay:.0f} s"
        kill_tree(process)
        time.sleep(3)
        orphans = chromium_pids() - before
        for pid in orphans:
            os.kill(pid, signal.SIGKILL)
        left = sorted(p.name for p in (work / "_staging").iterdir()) if (work / "_staging").is_dir() else []
        assert start(work, run_args).wait() == 0, f"trial {index}: the rerun failed"
        result = {"trial": index, "kill": how, **compare(expected, table_hashes(spark, work / "tables")),
                  "chromium_left": len(orphans), "staging_left": len(left)}
        trials.append(result)
        print(json.dumps(result), flush=True)
        shutil.rmtree(work / "tables", ignore_errors=True)
    totals = {key: sum(t[key] for t in trials) for key in ("lost", "duplicated", "different", "chromium_left", "staging_left")}
    report = {"trials": args.trials, "content_pages": args.content_pages, "reference_s": round(reference_s, 1), "totals": totals,
              "runs": trials}
    (REPO / "work" / "bench").mkdir(parents=True, exist_ok=True)
    (REPO / "work" / "bench" / "chaos.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(totals))


if __name__ == "__main__":
    main()
