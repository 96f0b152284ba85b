"""Score the final QAs of a sample-web run against the corpus's ground truth."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from pyspark.sql import functions as F

from runtime.tables import Tables
from sampleweb.realweb import finds
from udfs.urls import normalize

TOKEN = re.compile(r"[a-z0-9]+(?:\.[0-9]+)?")


def tokens(text: str) -> list[str]:
    return TOKEN.findall(text.lower())


@dataclass
class Score:
    expected: int
    predicted: int
    matched: int
    answers_correct: int
    images_correct: int
    planted: int = 0  # planted duplicates and benchmark leaks on pages the pipeline kept
    # of those, how many were removed: a leak when no final QA (status ok) has its words; a
    # duplicate when it and its original are not both final QAs (either may be the one kept)
    planted_removed: int = 0

    @property
    def precision(self) -> float:
        return self.matched / self.predicted if self.predicted else 1.0

    @property
    def recall(self) -> float:
        return self.matched / self.expected if self.expected else 1.0

    @property
    def answer_accuracy(self) -> float:
        return self.answers_correct / self.matched if self.matched else 1.0

    @property
    def image_accuracy(self) -> float:
        return self.images_correct / self.matched if self.matched else 1.0

    @property
    def planted_recall(self) -> float:
        return self.planted_removed / self.planted if self.planted else 1.0

    def metrics(self) -> dict[str, float]:
        return {
            "expected": self.expected, "predicted": self.predicted, "matched": self.matched, "precision": self.precision,
            "recall": self.recall, "answer_accuracy": self.answer_accuracy, "image_accuracy": self.image_accuracy,
            "planted": self.planted, "planted_removed": self.planted_removed, "planted_recall": self.planted_recall,
        }


NUMBER = re.compile(r"\d+(?:\.\d+)?")


def found_by(truth: str, question: str) -> float:
    """The real-web corpus's rule (`sampleweb.realweb.finds`: most of the words, not a whole
    page), and every number of the problem: the sample web draws many problems from one
    template, which differ in their numbers only."""
    return finds(truth, question) if set(NUMBER.findall(truth)) <= set(NUMBER.findall(question)) else 0.0


def score(tables: Tables, sample_web_dir: Path, tracking_params: list[str]) -> Score:
    """Expected: the ground-truth QAs of every page the pipeline kept a URL for, less the pages
    built to fail and the planted duplicates and benchmark leaks. Predicted: the final QAs with
    status ok."""
    manifest = json.loads((sample_web_dir / "ground_truth.json").read_text())
    kept = {r["url"] for r in tables.read("urls").where("status = 'ok'").select("url").collect()}
    sha_by_url = {r["url"]: r["sha256"] for r in tables.read("images").where("status = 'ok'").select("url", "sha256").collect()}
    expected: dict[str, dict] = {}
    planted: list[tuple[str, str, str | None]] = []  # (question, its page, its original's question; None: a leak)
    for page in manifest["pages"]:
        if page["fault"] or normalize(page["url"], tracking_params) not in kept:
            continue
        for qa in page["qas"]:
            if qa.get("duplicate_of") or qa.get("contaminated_by"):
                planted.append((qa["question"], normalize(page["url"], tracking_params), qa.get("duplicate_of")))
                continue
            expected.setdefault(" ".join(tokens(qa["question"])), qa)  # a mirrored copy is the same QA
    predicted = tables.read("final_qas").where(F.col("status") == "ok").select("question", "answer", "image_sha256", "url").collect()
    # A planted row is told from its original by its page.

    def kept(question: str, on_page: str | None = None, elsewhere: str | None = None) -> bool:
        return any(found_by(question, row["question"]) and (on_page is None or row["url"] == on_page)
                   and (elsewhere is None or row["url"] != elsewhere) for row in predicted)

    removed = sum(1 for question, page, original in planted
                  if not kept(question, on_page=page) or (original and not kept(original, elsewhere=page)))
    unmatched = dict(expected)
    matched = answers = images = 0
    for row in predicted:
        best_key, best = None, 0.0
        for key, qa in unmatched.items():
            similarity = found_by(qa["question"], row["question"])
            if similarity > best:
                best_key, best = key, similarity
        if best_key is None:
            continue
        qa = unmatched.pop(best_key)
        matched += 1
        answers += tokens(row["answer"] or "") == tokens(qa["answer"])
        truth = sorted(sha_by_url.get(u) for u in qa["question_images"] + qa["solution_images"])
        images += sorted(row["image_sha256"]) == truth
    return Score(len(expected), len(predicted), matched, answers, images, len(planted), removed)
