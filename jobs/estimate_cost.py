"""Dry run of the paid calls: build every LLM request the next run would send, count its prompt
tokens and price it, and count the search queries it would send, before any call is made.

Extraction requests are built from the pages not extracted yet. Validation and synthesis
requests are built from what those pages will give, foreseen with the rule-based engine
(plus the candidates and valid QAs already waiting). Output tokens are bounded by each
task's max_tokens; judge calls (consistency, alignment) are bounded by two per question,
most of which symbolic matching saves. Search queries are the (seed, remote provider) pairs
without an answer, each at the provider's price per request, within `search.max_spend_usd`;
seeds of later rounds are counted at most `search.max_seeds_per_round` a round.

    python -m jobs.estimate_cost --conf conf/local.yaml --set llm.engine=llm
"""
from __future__ import annotations

import json
import sys

import pandas as pd
from pyspark.sql import functions as F
from pyspark.sql import types as T

from jobs.extract_qas import LlmExtractQAs, RuleExtractQAs
from jobs.search import ANSWERED, SearchSeeds, askable, response_id, spent_usd
from jobs.synthesize_answers import SynthesizeAnswers
from jobs.validate_qas import LlmValidateQAs, RuleValidateQAs
from runtime.cli import load_or_exit
from runtime.context import Context, pipeline_run
from runtime.ledger import unanswered
from runtime.llm_client import cost_usd, prompt_tokens
from runtime.stage import pending
from schemas.candidate_qas import CandidateQA
from udfs.search import PROVIDER_LOCAL


@F.pandas_udf(T.LongType())
def billed_prompt_tokens(bodies: pd.Series) -> pd.Series:
    return bodies.map(lambda body: prompt_tokens(json.loads(body)))


def estimate(ctx: Context) -> list[dict]:
    """Per task: the requests the next run would send (built by the stages themselves, less those
    the ledger has answered), their prompt tokens and the cost bound."""
    llm = ctx.config.llm
    extract, validate, synthesize = LlmExtractQAs(), LlmValidateQAs(), SynthesizeAnswers()
    pages = pending(ctx, extract)
    foreseen = RuleExtractQAs().transform(ctx, pages)
    candidates = pending(ctx, validate).select(*CandidateQA.transform_schema().fieldNames()).unionByName(foreseen)
    candidates = candidates.withColumn("input_key", F.col("qa_id"))
    valid = RuleValidateQAs().transform(ctx, candidates).where(F.col("status") == "ok")
    waiting = pending(ctx, synthesize).select(*valid.columns)
    questions = valid.unionByName(waiting).dropDuplicates(["final_id"]).withColumn("input_key", F.col("final_id"))
    plans = [
        ("extract", extract.requests(ctx, pages), 1),
        ("validate", validate.requests(ctx, candidates), 1),
        ("synthesize", synthesize.requests(ctx, questions), llm.answers_per_question),
    ]
    rows = []
    for task, requests, choices in plans:
        settings = llm.task(task)
        found = unanswered(ctx, requests).select(billed_prompt_tokens("body").alias("t")).agg(F.count("*").alias("n"), F.sum("t").alias("t")).first()
        n, tokens_in = found["n"], found["t"] or 0
        tokens_out = n * settings.max_tokens * choices
        rows.append({"task": task, "model": settings.model, "requests": n, "prompt_tokens": tokens_in, "max_output_tokens": tokens_out,
                     "max_cost_usd": cost_usd(llm.prices.get(settings.model), tokens_in, tokens_out)})
    judged = rows[-1]["requests"] * 2
    judge = llm.judge
    rows.append({"task": "judge", "model": judge.model, "requests": judged, "prompt_tokens": judged * 300,
                 "max_output_tokens": judged * judge.max_tokens,
                 "max_cost_usd": cost_usd(llm.prices.get(judge.model), judged * 300, judged * judge.max_tokens)})
    return rows


def estimate_search(ctx: Context) -> list[dict]:
    """Per remote provider: the queries the next run would send for the seeds in the table, those of
    later rounds at most, and their price (what the budget leaves, when one is set)."""
    search = ctx.config.search
    remote = [p for p in search.providers if p != PROVIDER_LOCAL]
    if not remote:
        return []
    answered = ctx.tables.read("search_responses").where(F.col("status").isin(*ANSWERED)).select("response_id")
    wanted = SearchSeeds().source(ctx).where(F.col("provider").isin(*remote) & askable(F.col("provider")))
    counts = {r["provider"]: r["count"] for r in
              wanted.withColumn("response_id", response_id()).join(answered, "response_id", "left_anti").groupBy("provider").count().collect()}
    left = None if search.max_spend_usd is None else max(0.0, search.max_spend_usd - spent_usd(ctx))
    rows = []
    for provider in remote:
        price = search.remote(provider).price_per_request_usd
        requests, later = counts.get(provider, 0), (search.rounds - 1) * search.max_seeds_per_round
        cost = requests * price
        capped = cost if left is None else min(cost, left)
        if left is not None:
            left -= capped
        rows.append({"provider": provider, "requests": requests, "price_usd": price, "cost_usd": cost, "within_budget_usd": capped,
                     "later_rounds_requests": later, "later_rounds_cost_usd": later * price})
    return rows


def main(argv=None) -> int:
    args, config = load_or_exit("estimate_cost", argv)
    if config is None:
        return 2
    with pipeline_run(config, "estimate_cost", args.run_id, serve_sample_web=False) as ctx:
        rows = estimate(ctx)
        searches = estimate_search(ctx)
        ctx.tracker.log_params({"estimate": {r["task"]: r for r in rows}})
        ctx.tracker.log_params({"estimate_search": {r["provider"]: r for r in searches}})
    print(f"{'task':<18} {'model':<14} {'requests':>9} {'prompt tok':>11} {'max out tok':>12} {'max cost':>10}")
    for r in rows:
        print(f"{r['task']:<18} {r['model']:<14} {r['requests']:>9} {r['prompt_tokens']:>11} {r['max_output_tokens']:>12} ${r['max_cost_usd']:>9.4f}")
    questions = next(r["requests"] for r in rows if r["task"] == "synthesize")
    total = sum(r["max_cost_usd"] for r in rows)
    print("judge: consistency and alignment calls, at most two a question; symbolic matching saves most")
    print(f"total at most ${total:.4f}; at most ${total / max(1, questions):.5f} per question sent to synthesis")
    if searches:
        print(f"\n{'search':<14} {'requests':>9} {'$/request':>10} {'cost':>11} {'in budget':>11} {'later rounds':>13} {'their cost':>11}")
        for r in searches:
            print(f"{r['provider']:<14} {r['requests']:>9} {r['price_usd']:>10.4f} ${r['cost_usd']:>10.2f} ${r['within_budget_usd']:>10.2f} "
                  f"{r['later_rounds_requests']:>13} ${r['later_rounds_cost_usd']:>10.2f}")
        print(f"search: at most ${sum(r['within_budget_usd'] for r in searches):.2f} for the seeds in the table"
              f"{'' if ctx.config.search.max_spend_usd is None else f' (search.max_spend_usd ${ctx.config.search.max_spend_usd:.2f})'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
