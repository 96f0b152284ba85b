"""Keep the Delta tables in shape: run it between pipeline runs (nightly, or after a big run).

    python -m jobs.maintain --conf conf/local.yaml

For every pipeline table: the settings a table made before them lacks (change data feed,
retention, clustering on the key), OPTIMIZE (compacts the small files that MERGE leaves
and clusters the rows by key), and VACUUM within the table's retention, so every version
that `tables.deleted_file_retention_days` covers stays readable. Then the staging folders that
killed runs left (nothing written in them for `tables.staging_retention_hours`) are removed; a
run removes its own when it ends. Each commit carries the run id.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field

from runtime.cli import run_tool
from runtime.context import Context
from runtime.tables import MODELS


@dataclass
class Maintained:
    settled: dict[str, list[str]] = field(default_factory=dict)  # table -> settings it was given
    optimized: dict[str, dict[str, int]] = field(default_factory=dict)  # table -> files added / removed
    vacuumed: dict[str, int] = field(default_factory=dict)  # table -> files deleted
    staging_removed: dict[str, int] = field(default_factory=dict)  # a killed run's staging folder -> files in it

    def text(self) -> str:
        lines = ["table              optimize (files +/-)   vacuum (files deleted)"]
        for name, files in self.optimized.items():
            settled = f"  now {', '.join(self.settled[name])}" if self.settled.get(name) else ""
            lines.append(f"{name:<18} +{files['files_added']:<4} -{files['files_removed']:<14} {self.vacuumed[name]:<6}{settled}")
        lines.append(f"staging: {len(self.staging_removed)} folders of killed runs, {sum(self.staging_removed.values())} files removed")
        return "\n".join(lines)

    def metrics(self) -> dict[str, float]:
        return {
            "maintain.files_compacted": sum(f["files_removed"] for f in self.optimized.values()),
            "maintain.files_vacuumed": sum(self.vacuumed.values()),
            "maintain.staging_files_removed": sum(self.staging_removed.values()),
        }


def maintain(ctx: Context) -> Maintained:
    tables = ctx.tables
    done = Maintained()
    for name in MODELS:
        if not tables.exists(name):
            continue
        done.settled[name] = tables.settle(name)
        done.optimized[name] = tables.optimize(name)
        done.vacuumed[name] = tables.vacuum(name)
    done.staging_removed = tables.remove_stale_staging(ctx.config.staging_root(), ctx.config.tables.staging_retention_hours)
    return done


def report(ctx: Context) -> None:
    done = maintain(ctx)
    ctx.tracker.log_metrics(done.metrics())
    print(done.text(), flush=True)


def main(argv=None) -> int:
    return run_tool("maintain", argv, report)


if __name__ == "__main__":
    sys.exit(main())
