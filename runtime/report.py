"""The funnel and the end-of-run summary, read from the tables themselves."""
from __future__ import annotations

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from runtime.stage import StageStats
from runtime.tables import Tables

STATUS_TABLES = ("seeds", "search_responses", "urls", "pages", "images", "valid_qas", "answers", "consistent_qas", "final_qas", "llm_calls")


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
        "valid_qas": count("valid_qas", "status = 'ok'"),
        "valid_qas_rejected": count("valid_qas", "status != 'ok'"),
        "answers": count("answers", "status = 'ok'"),
        "consistent_qas": count("consistent_qas", "status = 'ok'"),
        "final_qas": count("final_qas", "status = 'ok'"),
        "final_qas_with_images": count("final_qas", "status = 'ok' AND has_images"),
        "final_qas_rejected": count("final_qas", "status != 'ok'"),
    }


ROUND_FUNNEL = (
    ("seeds", "seeds", None), ("seeds_ok", "seeds", "status = 'ok'"), ("search_hits", "search_hits", None),
    ("unique_urls", "urls", None), ("urls_kept", "urls", "status = 'ok'"), ("valid_qas", "valid_qas", "status = 'ok'"),
    ("final_qas", "final_qas", "status = 'ok'"),
)


def funnel_by_round(tables: Tables) -> dict[int, dict[str, int]]:
    """The funnel per search round: seeds of the round, the hits they got, the URLs first found
    in it, and the QAs of those URLs' pages."""
    counts: dict[int, dict[str, int]] = {}
    for key, name, condition in ROUND_FUNNEL:
        df = tables.read(name)
        for row in (df.where(condition) if condition else df).groupBy("round").count().collect():
            counts.setdefault(int(row["round"]), {k: 0 for k, _, _ in ROUND_FUNNEL})[key] = row["count"]
    return dict(sorted(counts.items()))


def round_metrics(rounds: dict[int, dict[str, int]]) -> dict[str, int]:
    return {f"round{r}.{key}": value for r, figures in rounds.items() for key, value in figures.items()}


def llm_costs(tables: Tables, run_id: str) -> list[dict]:
    """Requests, tokens and dollars per task: sent by this run, and in the ledger overall."""
    calls = tables.read("llm_calls")
    this_run = F.col("run_id") == run_id
    rows = calls.groupBy("task").agg(
        F.count("*").alias("requests"), F.sum("tokens_in").alias("tokens_in"), F.sum("tokens_out").alias("tokens_out"),
        F.sum("cost_usd").alias("cost_usd"), F.sum(F.when(this_run, 1).otherwise(0)).alias("sent_this_run"),
        F.sum(F.when(this_run, F.col("tokens_in")).otherwise(0)).alias("tokens_in_this_run"),
        F.sum(F.when(this_run, F.col("tokens_out")).otherwise(0)).alias("tokens_out_this_run"),
        F.sum(F.when(this_run, F.col("cost_usd")).otherwise(0.0)).alias("cost_this_run"),
    ).orderBy("task").collect()
    return [row.asDict() for row in rows]


def estimate_lines(estimate: list[dict], costs: list[dict]) -> list[str]:
    """The dry run made at the start of the run beside what the run then sent (the ledger)."""
    sent = {c["task"]: c for c in costs}
    judge = [sent[t] for t in ("consistency", "align") if t in sent]
    sent["judge"] = {key: sum(c[key] for c in judge) for key in ("sent_this_run", "tokens_in_this_run", "tokens_out_this_run", "cost_this_run")}
    lines = ["", "LLM dry run at the start (pages rendered by then) beside this run's ledger rows:",
             f"  {'task':<12} {'est. requests':>13} {'est. prompt tok':>15} {'est. max $':>10}   {'sent':>6} {'prompt tok':>10} {'output tok':>10} {'$':>9}"]
    for row in estimate:
        actual = sent.get(row["task"], {})
        lines.append(
            f"  {row['task']:<12} {row['requests']:>13} {row['prompt_tokens']:>15} {row['max_cost_usd']:>10.4f}   {actual.get('sent_this_run', 0):>6} "
            f"{actual.get('tokens_in_this_run', 0):>10} {actual.get('tokens_out_this_run', 0):>10} {actual.get('cost_this_run', 0.0):>9.4f}"
        )
    return lines


def search_spend(tables: Tables, run_id: str) -> list[dict]:
    """Billed requests and dollars per search provider: in the table overall, and by this run."""
    responses = tables.read("search_responses").where(F.col("provider") != "local")
    this_run = F.col("run_id") == run_id
    rows = responses.groupBy("provider").agg(
        F.sum(F.when(F.col("cost_usd") > 0, 1).otherwise(0)).alias("billed"), F.sum("cost_usd").alias("cost_usd"),
        F.sum(F.when(this_run & (F.col("cost_usd") > 0), 1).otherwise(0)).alias("billed_this_run"),
        F.sum(F.when(this_run, F.col("cost_usd")).otherwise(0.0)).alias("cost_this_run"),
    ).orderBy("provider").collect()
    return [row.asDict() for row in rows]


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


def cost_per_final_qa(costs: list[dict], figures: dict[str, int]) -> float:
    return sum(c["cost_usd"] for c in costs) / max(1, figures["final_qas"])


def summary(run_id: str, stats: list[StageStats], tables: Tables, figures: dict[str, int], costs: list[dict], tracking: str,
            rounds: dict[int, dict[str, int]] | None = None, estimate: list[dict] | None = None,
            spend: list[dict] | None = None) -> str:
    lines = [f"run {run_id}", "", "stages:"]
    lines += ["  " + s.line() for s in stats]
    lines += ["", "funnel (all rows in the tables):"]
    lines += [f"  {key:<26} {value:>8}" for key, value in figures.items()]
    if rounds:
        lines += ["", "funnel by search round:", "  " + f"{'round':<6}" + "".join(f"{key:>13}" for key, _, _ in ROUND_FUNNEL)]
        lines += ["  " + f"{r:<6}" + "".join(f"{row[key]:>13}" for key, _, _ in ROUND_FUNNEL) for r, row in rounds.items()]
    problems = failures(tables)
    if problems:
        lines += ["", "not ok, by reason:"]
        lines += [f"  {table:<10} {status:<12} {n:>6}  e.g. {reason}" for table, status, n, reason in problems]
    if costs:
        lines += ["", "LLM calls (ledger total; sent by this run):"]
        lines += [
            f"  {c['task']:<12} {c['requests']:>6} requests  {c['tokens_in']:>9} in  {c['tokens_out']:>8} out  "
            f"${c['cost_usd']:.4f}  (this run: {c['sent_this_run']} requests, ${c['cost_this_run']:.4f})"
            for c in costs
        ]
        lines.append(f"  cost per final QA: ${cost_per_final_qa(costs, figures):.5f} over {figures['final_qas']} final QAs")
    if estimate is not None:
        lines += estimate_lines(estimate, costs)
    if spend:
        lines += ["", "search spend (table total; this run):"]
        lines += [f"  {s['provider']:<12} {s['billed']:>6} billed requests  ${s['cost_usd']:.4f}  "
                  f"(this run: {s['billed_this_run']} requests, ${s['cost_this_run']:.4f})" for s in spend]
    lines += ["", f"tables: {tables.where()}", f"mlflow: {tracking}"]
    return "\n".join(lines)


def as_text(frame: DataFrame | pd.DataFrame, limit: int = 50, width: int = 60) -> str:
    """A table as aligned text: its first `limit` rows, cells cut at `width` characters."""
    table = frame.limit(limit).toPandas() if isinstance(frame, DataFrame) else frame.head(limit)
    if table.empty:
        return "(no rows)"
    return table.to_string(index=False, max_colwidth=width)
