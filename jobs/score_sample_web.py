"""Score the final QAs of a sample-web run against the corpus's ground truth, logged to MLflow:
QA extraction precision and recall, image linking, final-answer accuracy, and how many of the
planted duplicates and benchmark leaks were removed.

    python -m jobs.score_sample_web --conf conf/local.yaml
"""
from __future__ import annotations

import sys

from runtime.cli import load_or_exit
from runtime.context import pipeline_run
from sampleweb.evaluate import score


def main(argv=None) -> int:
    _, config = load_or_exit("score_sample_web", argv)
    if config is None:
        return 2
    if not (config.sample_web.dir / "ground_truth.json").is_file():
        print(f"sample_web.dir: no ground truth under {config.sample_web.dir}; run the pipeline on the sample web first", file=sys.stderr)
        return 2
    with pipeline_run(config, "score_sample_web", serve_sample_web=False) as ctx:
        result = score(ctx.tables, config.sample_web.dir, config.urls.tracking_params)
        metrics = result.metrics()
        ctx.tracker.log_metrics({f"eval.{name}": float(value) for name, value in metrics.items()})
        ctx.tracker.log_params({"final_qas.version": ctx.tables.version("final_qas")}, "eval")
        for name, value in metrics.items():
            print(f"{name:<16} {value:.3f}" if isinstance(value, float) else f"{name:<16} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
