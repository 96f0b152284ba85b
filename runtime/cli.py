"""The command line every job shares: --conf, --set key.path=value, --run-id."""
from __future__ import annotations

import argparse
import sys
from collections import Counter
from typing import Callable, Sequence

from runtime.config import ConfigError, PipelineConfig, load_config
from runtime.context import Context, pipeline_run
from runtime.quality import quality_report, write_report
from runtime.report import funnel, funnel_by_round, llm_costs, round_metrics, search_spend, summary
from runtime.stage import Stage, StageStats, run_stage


def config_options() -> argparse.ArgumentParser:
    """--conf and --set, for every command line (a parent parser)."""
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument("--conf", default="conf/local.yaml", help="YAML configuration (default: conf/local.yaml)")
    options.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override one setting, e.g. render.concurrency=8")
    return options


def parse_args(job: str, argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=job, description=f"Run the {job} job.", parents=[config_options()])
    parser.add_argument("--run-id", default=None, help="reuse a run id (default: a new one)")
    return parser.parse_args(argv)


class StageFailed(RuntimeError):
    pass


def run_stages(ctx: Context, stages: Sequence[Stage]) -> list[StageStats]:
    results = []
    passes: Counter = Counter()
    for stage in stages:
        passes[stage.name] += 1
        # A stage run again in one job (a further search round) reports as its own pass.
        label = stage.name if passes[stage.name] == 1 else f"{stage.name}.pass{passes[stage.name]}"
        print(f"[{label}] -> {stage.output.table}", flush=True)
        try:
            stats = run_stage(ctx, stage)
        except Exception as exc:
            raise StageFailed(f"stage {label} (run {ctx.run_id}) failed: {type(exc).__name__}: {exc}") from exc
        stats.stage = label
        ctx.tracker.log_stage(stats)
        print("  " + stats.line(), flush=True)
        results.append(stats)
    return results


def load_or_exit(job: str, argv: Sequence[str] | None) -> tuple[argparse.Namespace, PipelineConfig | None]:
    args = parse_args(job, argv)
    try:
        return args, load_config(args.conf, args.set)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return args, None


def run_tool(job: str, argv: Sequence[str] | None, work: Callable[[Context], object]) -> int:
    """A job that is no stage (an estimate, maintenance, the browser): its command line, then
    `work` inside a run of its own (MLflow, run id), without the sample web."""
    args, config = load_or_exit(job, argv)
    if config is None:
        return 2
    with pipeline_run(config, job, args.run_id, serve_sample_web=False) as ctx:
        work(ctx)
    return 0


def quality_section(ctx: Context) -> str:
    """The quality report of the tables as they are now: its text, PNGs under the run's work dir, MLflow."""
    report = quality_report(ctx.tables, ctx.config.quality.dedup.image_distance)
    folder = ctx.config.run.work_dir / "reports" / ctx.run_id
    write_report(report, folder)
    ctx.tracker.log_metrics(report.metrics())
    ctx.tracker.log_artifacts(str(folder), "quality")
    return f"{report.text()}\n  report and figures: {folder}"


def browse_section(ctx: Context, figures: dict[str, int]) -> str:
    """The dataset browser of the tables as they are now, beside the run's report, and in MLflow."""
    from runtime.browse import write_browser

    report = ctx.config.run.work_dir / "reports" / ctx.run_id
    index = write_browser(ctx.tables, report / "browse", figures, report, title=f"WebMine dataset, run {ctx.run_id}")
    ctx.tracker.log_artifacts(str(index.parent), "browse")
    return f"  dataset browser: {index}"


def main(job: str, stages: Sequence[Stage] | Callable[[PipelineConfig], Sequence[Stage]], argv: Sequence[str] | None = None,
         before: Callable[[Context], object] | None = None, estimate: Callable[[Context], list[dict]] | None = None) -> int:
    """Run the stages and print the summary. With the LLM engine, `estimate` (the dry run) is made
    first and shown beside what the run sent."""
    args, config = load_or_exit(job, argv)
    if config is None:
        return 2
    with pipeline_run(config, job, args.run_id) as ctx:
        if before is not None:
            before(ctx)
        estimated = estimate(ctx) if estimate is not None and config.llm.engine == "llm" else None
        if estimated is not None:
            ctx.tracker.log_params({"estimate": {row["task"]: row for row in estimated}})
        results = run_stages(ctx, stages(config) if callable(stages) else stages)
        figures = funnel(ctx.tables)
        rounds = funnel_by_round(ctx.tables)
        costs = llm_costs(ctx.tables, ctx.run_id)
        spend = search_spend(ctx.tables, ctx.run_id)
        tracking = f"{ctx.tracker.uri} (run {ctx.tracker.run.info.run_id})" if ctx.tracker.run else "disabled"
        text = summary(ctx.run_id, results, ctx.tables, figures, costs, tracking, rounds, estimated, spend)
        if any(stats.output == "final_qas" for stats in results):
            text += "\n\n" + quality_section(ctx) + "\n" + browse_section(ctx, figures)
        ctx.tracker.log_summary({**figures, **round_metrics(rounds)}, costs, text, spend)
        print("\n" + text, flush=True)
    return 0
