"""Write the dataset browser (static HTML) for the tables as they are now:

    python -m jobs.browse --conf conf/local.yaml     # or: webmine browse

into <run.work_dir>/reports/<run id>/browse/index.html; every pipeline run that curates
writes one too. The MLflow run gets it as the `browse` artifact.
"""
from __future__ import annotations

import sys

from runtime.cli import browse_section, load_or_exit
from runtime.context import pipeline_run
from runtime.report import funnel


def main(argv=None) -> int:
    args, config = load_or_exit("browse", argv)
    if config is None:
        return 2
    with pipeline_run(config, "browse", args.run_id, serve_sample_web=False) as ctx:
        print(browse_section(ctx, funnel(ctx.tables)).strip(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
