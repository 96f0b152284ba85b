"""The funnel and the end-of-run summary, read from the tables themselves."""
from __future__ import annotations

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from runtime.stage import StageStats
from runtime.tables import Tables

STATUS_TABLES = ("seeds", "urls", "pages", "images", "final_qas")


def funnel(tables: Tables) -> dict[str, int]:
    def count(name: str, condition: str | None = None) -> int:
        df = tables.read(name)
        return df.where(condition).count() if condition else df.count()

    return {
        "seeds": count("seeds"),
        "seeds_ok": count("seeds", "status = 'ok'"),
        "search_hits": count("search_hits"),
        "unique_urls": count("urls"),
        "urls_kept": count("urls", "status = 'ok'"),
        "pages_ok": count("pages", "status = 'ok'"),
        "pages_failed": count("pages", "status != 'ok'"),
        "images_ok": count("images", "status = 'ok'"),
        "images_failed": count("images", "status != 'ok'"),
        "candidate_qas": count("candidate_qas"),
        "candidate_qas_with_images": count("candidate_qas", "size(question_images) + size(solution_images) > 0"),
        "final_qas": count("final_qas", "status = 'ok'"),
        "final_qas_with_images": count("final_qas", "status = 'ok' AND has_images"),
        "final_qas_rejected": count("final_qas", "status != 'ok'"),
    }


def failures(tables: Tables) -> list[tuple[str, str, int, str]]:
    """(table, status, rows, an example reason) for every non-ok status."""
    out = []
    for name in STATUS_TABLES:
        rows = (
            tables.read(name).where("status != 'ok'").groupBy("status")
            .agg(F.count("*").alias("n"), F.first("reason", ignorenulls=True).alias("reason")).orderBy("status").collect()
        )
        out += [(name, r["status"], r["n"], (r["reason"] or "")[:90]) for r in rows]
    return out


def summary(run_id: str, stats: list[StageStats], tables: Tables, figures: dict[str, int], tracking: str) -> str:
    lines = [f"run {run_id}", "", "stages:"]
    lines += ["  " + s.line() for s in stats]
    lines += ["", "funnel (all rows in the tables):"]
    lines += [f"  {key:<26} {value:>8}" for key, value in figures.items()]
    problems = failures(tables)
    if problems:
        lines += ["", "not ok, by reason:"]
        lines += [f"  {table:<10} {status:<12} {n:>6}  e.g. {reason}" for table, status, n, reason in problems]
    lines += ["", f"tables: {tables.where()}", f"mlflow: {tracking}"]
    return "\n".join(lines)


def as_text(frame: DataFrame | pd.DataFrame, limit: int = 50, width: int = 60) -> str:
    """A table as aligned text: its first `limit` rows, cells cut at `width` characters."""
    table = frame.limit(limit).toPandas() if isinstance(frame, DataFrame) else frame.head(limit)
    if table.empty:
        return "(no rows)"
    return table.to_string(index=False, max_colwidth=width)
