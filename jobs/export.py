"""Export final_qas at a Delta version as LLaVA-style JSONL + images + data YAML and as Parquet.

    python -m jobs.export --conf conf/local.yaml [--set train.table_version=3]
"""
from __future__ import annotations

import json
import sys
from dataclasses import asdict

from runtime.cli import load_or_exit
from runtime.context import pipeline_run
from training import storage
from training.export import export_final_qas


def main(argv=None) -> int:
    args, config = load_or_exit("export", argv)
    if config is None:
        return 2
    with pipeline_run(config, "export", args.run_id, serve_sample_web=False) as ctx:
        version = config.train.table_version
        version = ctx.tables.version("final_qas") if version is None else version
        out = storage.join(storage.absolute(config.train.output_dir), f"final_qas-v{version}", "export")
        result = export_final_qas(ctx.tables, out, version)
        ctx.tracker.log_params({"export": asdict(result)})
        print(json.dumps(asdict(result), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
