"""Keep a question only when more than half of its candidate answers agree: `consistent_qas`.

Short answers that parse (numbers, expressions, choices) are grouped by symbolic
equivalence with no LLM call; the LLM judge groups the rest.

    python -m jobs.check_consistency --conf conf/llm.yaml
"""
from __future__ import annotations

import sys
from typing import Iterator

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from runtime import judging
from runtime.cli import main
from runtime.context import Context
from runtime.llm_replies import parse_choices
from schemas.consistent_qas import ConsistentQA
from udfs.llm import build_request, load_prompt
from udfs.matching import group_answers, majority

OUTPUT = ConsistentQA.transform_schema()


def _usable(answers) -> list[dict]:
    return sorted((dict(a) for a in answers if a["status"] == "ok"), key=lambda a: a["k"])


def verdict(final_id: str, usable: list[dict], groups: list[list[int]] | None, total: int, decided_by: str, request_id=None) -> dict:
    base = {"final_id": final_id, "candidates": total, "decided_by": decided_by, "request_id": request_id}
    if groups is None:
        return ConsistentQA.row(**base, status="rejected", reason="the judge's answer was unusable")
    agreeing = majority(groups, total)
    if agreeing is None:
        largest = max((len(g) for g in groups), default=0)
        return ConsistentQA.row(**base, status="rejected", reason=f"no majority: at most {largest} of {total} candidates agree", votes=largest)
    chosen = [usable[i] for i in agreeing]
    return ConsistentQA.row(
        **base, status="ok", majority_answer=chosen[0]["short_answer"], majority_text=chosen[0]["text"],
        agreeing_answer_ids=[a["answer_id"] for a in chosen], votes=len(chosen),
    )


def first_pass(prompt, llm):
    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            rows = []
            for final_id, question, answers in zip(batch["input_key"], batch["question"], batch["answers"]):
                usable = _usable(answers)
                groups = group_answers([a["short_answer"] for a in usable])
                if groups is not None:
                    rows.append({"input_key": final_id, **verdict(final_id, usable, groups, len(answers), "symbolic")})
                    continue
                listing = "\n".join(f"{i}. {a['short_answer']}" for i, a in enumerate(usable, 1))
                rows.append(judging.asking_row(OUTPUT, final_id, build_request(prompt, llm, question=question, answers=listing)))
            yield judging.first_pass_frame(rows, OUTPUT)

    return run


def second_pass(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    for batch in batches:
        rows = []
        for final_id, request_id, status, response, answers in zip(
                batch["input_key"], batch["request_id"], batch["judge_status"], batch["response"], batch["answers"]):
            usable = _usable(answers)
            replies = parse_choices("consistency", response) if status == "ok" else []
            groups = [[i - 1 for i in group if 0 < i <= len(usable)] for group in replies[0].groups] if replies else None
            rows.append(verdict(final_id, usable, groups, len(answers), "llm_judge", request_id))
        yield pd.DataFrame(rows, columns=OUTPUT.fieldNames())


class CheckConsistency(judging.JudgedStage):
    name = "consistency"
    inputs = ("answers", "valid_qas")
    output = ConsistentQA
    second_pass = staticmethod(second_pass)

    def source(self, ctx: Context) -> DataFrame:
        n = ctx.config.llm.answers_per_question
        answers = ctx.tables.read("answers").groupBy("final_id").agg(
            F.collect_list(F.struct("answer_id", "k", "status", "short_answer", "text")).alias("answers")
        ).where(F.size("answers") == n)
        questions = ctx.tables.read("valid_qas").select("final_id", "question")
        return answers.join(questions, "final_id").withColumn("input_key", F.col("final_id"))

    def judged_rows(self, batch: DataFrame) -> DataFrame:
        return batch.select("input_key", "question", "answers")

    def first_pass(self, ctx: Context) -> judging.Pass:
        llm = ctx.config.llm
        return first_pass(load_prompt(llm.prompts_dir, "consistency"), llm)


STAGES = (CheckConsistency(),)

if __name__ == "__main__":
    sys.exit(main("check_consistency", STAGES))
