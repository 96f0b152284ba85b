"""The whole pipeline, every stage in order. Also a spark-submit entry point:

    python -m jobs.run_pipeline --conf conf/local.yaml
    spark-submit jobs/run_pipeline.py --conf conf/cluster.yaml
"""
from __future__ import annotations

import sys

from jobs import (
    align_answers, check_consistency, curate_qas, extract_qas, fetch_images, ingest_seeds, next_round, normalize_urls, publish_seeds,
    render_pages, sample_web, search, synthesize_answers, validate_qas,
)
from jobs.estimate_cost import estimate
from runtime.cli import main
from runtime.config import PipelineConfig
from runtime.context import Context


def before(ctx: Context) -> None:
    if ctx.config.sample_web.enabled:
        sample_web.generate_sample_web(ctx)


def pipeline(config: PipelineConfig) -> tuple:
    """The stages in order, each engine's where there are two (`llm.engine`). Answer synthesis
    and consistency run with the LLM engine only:
    with the rule-based engine the page's own answer is the answer. After the first round, each
    further round (`search.rounds`) seeds itself from the images of the QAs validated so far and
    runs the stages again: a stage only takes up input it has not processed, so a round does the
    new work only. Curation (de-duplication, decontamination) runs once, over every round's QAs."""
    head = sample_web.STAGES if config.sample_web.enabled else ()
    # Seeds get signed URLs (renewed when close to expiry) before every search round.
    publish = publish_seeds.STAGES if config.seeds.publish.uri else ()
    answering = synthesize_answers.STAGES + check_consistency.STAGES if config.llm.engine == "llm" else ()
    one_round = (
        publish + search.STAGES + normalize_urls.STAGES + render_pages.STAGES + fetch_images.STAGES + extract_qas.stages(config)
        + validate_qas.stages(config) + answering + align_answers.stages(config)
    )
    rounds = one_round + (next_round.STAGES + one_round) * (config.search.rounds - 1)
    return head + ingest_seeds.STAGES + rounds + curate_qas.STAGES


if __name__ == "__main__":
    sys.exit(main("run_pipeline", pipeline, before=before, estimate=estimate))
