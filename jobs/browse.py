"""Write the dataset browser (static HTML) for the tables as they are now:

    python -m jobs.browse --conf conf/local.yaml     # or: webmine browse

into <run.work_dir>/reports/<run id>/browse/index.html; every pipeline run that curates
writes one too. The MLflow run gets it as the `browse` artifact.
"""
from __future__ import annotations

import sys

from runtime.cli import browse_section, run_tool
from runtime.report import funnel


def main(argv=None) -> int:
    return run_tool("browse", argv, lambda ctx: print(browse_section(ctx, funnel(ctx.tables)).strip(), flush=True))


if __name__ == "__main__":
    sys.exit(main())
