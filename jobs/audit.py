"""Audit the tables with Delta time travel. Also a spark-submit entry point:

    python -m jobs.audit history [--table final_qas]     # every commit, by run and table
    python -m jobs.audit diff final_qas 4 [9]            # rows added / removed / changed
    python -m jobs.audit diff final_qas --run RUN_ID     # what one run changed
    python -m jobs.audit lineage FINAL_ID [--as-of 9]    # a final QA back to its seed images
    python -m jobs.audit restore final_qas 4 [--run-id ID]
    python -m jobs.audit costs                           # LLM calls, tokens and cost
"""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

from runtime import audit
from runtime.cli import config_options
from runtime.config import ConfigError, load_config
from runtime.context import new_run_id
from runtime.report import as_text
from runtime.session import build_session
from runtime.tables import Tables


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="audit", description="Audit the pipeline's Delta tables.")
    commands = parser.add_subparsers(dest="command", required=True)
    options = config_options()
    history = commands.add_parser("history", parents=[options], help="commits of every table, side by side by run")
    history.add_argument("--table", action="append", help="list this table's commits one by one (repeatable)")
    diff = commands.add_parser("diff", parents=[options], help="rows added, removed and changed between two versions")
    diff.add_argument("table")
    diff.add_argument("from_version", type=int, nargs="?")
    diff.add_argument("to_version", type=int, nargs="?", help="default: the latest version")
    diff.add_argument("--run", help="instead of versions: what this run changed")
    diff.add_argument("--limit", type=int, default=20, help="rows to list (default 20)")
    lineage = commands.add_parser("lineage", parents=[options], help="a final QA back to its page, URL, search hits and seeds")
    lineage.add_argument("final_id")
    lineage.add_argument("--as-of", type=int, help="final_qas version to look in (default: the latest)")
    restore = commands.add_parser("restore", parents=[options], help="bring a table back to an earlier version")
    restore.add_argument("table")
    restore.add_argument("version", type=int)
    restore.add_argument("--run-id", help="run id to stamp the restore commit with (default: a new one)")
    commands.add_parser("costs", parents=[options], help="LLM calls, tokens and cost by task and model")
    args = parser.parse_args(argv)
    if args.command == "diff" and (args.run is None) == (args.from_version is None):
        parser.error("diff: give either FROM_VERSION [TO_VERSION] or --run RUN_ID")
    return args


def report(tables: Tables, args: argparse.Namespace) -> str:
    if args.command == "history":
        if args.table:
            return as_text(audit.table_history(tables, args.table), limit=10_000)
        return as_text(audit.runs_side_by_side(tables), limit=10_000, width=24)
    if args.command == "diff":
        if args.run:
            return audit.diff_run(tables, args.table, args.run).render(args.limit)
        return audit.diff(tables, args.table, args.from_version, args.to_version).render(args.limit)
    if args.command == "lineage":
        return audit.lineage(tables, args.final_id, args.as_of).render()
    if args.command == "restore":
        run_id = args.run_id or new_run_id()
        metrics = audit.restore(tables, args.table, args.version, run_id)
        done = ", ".join(f"{k} {v}" for k, v in metrics.items())
        return f"restored {args.table} to version {args.version} as version {tables.version(args.table)} (run {run_id}): {done}"
    costs = audit.llm_costs(tables)
    if costs is None:
        return "No LLM calls were recorded (the offline rule engine makes none)."
    return as_text(costs, limit=10_000)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        config = load_config(args.conf, args.set)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    tables = Tables(build_session(config.spark), config.tables, config.staging_root())
    try:
        print(report(tables, args), flush=True)
    except audit.AuditError as exc:
        print(f"audit {args.command}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
