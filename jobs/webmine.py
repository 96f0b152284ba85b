"""The `webmine` command (the wheel's console entry point): one word per job.

    webmine run [--conf ...] [--set k=v]       # the whole pipeline (jobs.run_pipeline)
    webmine stage NAME [--conf ...]            # one stage's job, e.g. render_pages
    webmine audit history | diff | lineage | restore | costs
    webmine estimate                           # the LLM cost bound of the next run
    webmine browse                             # the dataset browser (static HTML)
    webmine maintain                           # OPTIMIZE, VACUUM, table settings
    webmine export | train | evaluate | score

Every command takes the options its job takes (`webmine stage render_pages --help`).
"""
from __future__ import annotations

import importlib
import sys
from typing import Sequence

# stage jobs: `webmine stage NAME` runs jobs/NAME.py's STAGES
STAGE_JOBS = ("sample_web", "build_index", "ingest_seeds", "search", "normalize_urls", "render_pages", "fetch_images",
              "extract_qas", "validate_qas", "synthesize_answers", "check_consistency", "align_answers", "next_round",
              "curate_qas")
# commands whose job module has its own main(argv)
COMMANDS = {"audit": "audit", "browse": "browse", "estimate": "estimate_cost", "maintain": "maintain", "export": "export", "train": "train",
            "evaluate": "evaluate", "score": "score_sample_web"}


def usage() -> str:
    return (__doc__ or "").strip() + "\n\nStages: " + ", ".join(STAGE_JOBS)


def main(argv: Sequence[str] | None = None) -> int:
    from runtime.cli import main as run_job

    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(usage())
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command == "run":
        from jobs.run_pipeline import before, pipeline

        return run_job("run_pipeline", pipeline, rest, before=before)
    if command == "stage":
        if not rest or rest[0] not in STAGE_JOBS:
            print(f"webmine stage: name one of {', '.join(STAGE_JOBS)}", file=sys.stderr)
            return 2
        job = importlib.import_module(f"jobs.{rest[0]}")
        before = job.generate_sample_web if rest[0] == "sample_web" else None
        return run_job(rest[0], job.STAGES, rest[1:], before=before)
    if command in COMMANDS:
        return importlib.import_module(f"jobs.{COMMANDS[command]}").main(rest)
    print(f"webmine: unknown command {command!r}\n\n{usage()}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
