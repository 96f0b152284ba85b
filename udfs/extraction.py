"""The rule-based extraction engine: question / solution / answer pairs from a content tree.

It reads the structures problem pages use, tried in this order:
1. `solutions-section`: numbered problems, then a "Solutions" / "Answers" heading with
   numbered solutions (worksheets, answer keys);
2. `anchored`: "Example 3.2" / "Problem 4" / "Question" anchors, each followed by a
   "Solution" anchor (textbooks, exercise pages);
3. `posts`: a question post followed by posts, the accepted / best / marked one taken,
   else the first that states an answer (forums, Q&A sites, tutor pages).
It is the offline default; an LLM engine replaces it by configuration.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterator

import pandas as pd

from runtime.keys import stable_id
from schemas.candidate_qas import CandidateQA
from udfs.answers import final_answer

ENGINE = "rules@1"
Q_ANCHOR = re.compile(r"^(?:problem|question|exercise|example|task)\s*(\d+(?:\.\d+)*)?\s*[.:)]?\s*(.*)$", re.I | re.S)
S_ANCHOR = re.compile(r"^(?:worked\s+)?(?:solution|explanation)\s*(\d+)?\s*[.:)]?\s*(.*)$", re.I | re.S)
SOLUTIONS_HEADING = re.compile(r"^(?:solutions|answers|answer key|worked solutions)\b", re.I)
NUMBERED = re.compile(r"^(\d+)\s*[.)]\s*(.*)$", re.S)
ANSWER_LINE = re.compile(r"(?:final answer|answer|ans)\s*[:=]\s*(.+?)\s*$", re.I)
ACCEPTED = re.compile(r"accepted answer|best answer|marked as (?:the )?solution|[\u2713\u2714]\s*(?:solution|accepted)|^\s*[\u2713\u2714]", re.I)
QUESTION_CUE = re.compile(r"\?|\b(?:find|calculate|determine|compute|what|how many|how much|solve|evaluate|show that|prove|estimate)\b", re.I)
TOGGLE = re.compile(r"^(?:show|hide|reveal|view|see)\s+(?:the\s+)?(?:solution|answer|working)s?\b", re.I)
META = re.compile(r"\bposted\b|\bago\b|^\d+\s+votes?$|^\s*thanks?\b|thank you|^tags?:", re.I)


@dataclass
class Segment:
    texts: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)

    def add(self, node: dict) -> None:
        if node["kind"] == "image":
            if node.get("src"):
                self.images.append(node["src"])
        elif node["text"] and not TOGGLE.match(node["text"]):
            self.texts.append(node["text"])

    @property
    def text(self) -> str:
        return " ".join(self.texts).strip()


@dataclass
class Pair:
    question: Segment
    solution: Segment
    pattern: str


def _solutions_section(nodes: list[dict]) -> list[Pair]:
    split = next((i for i, n in enumerate(nodes) if n["kind"] == "heading" and SOLUTIONS_HEADING.match(n["text"])), None)
    if split is None:
        return []
    problems: dict[str, Segment] = {}
    current: Segment | None = None
    for node in nodes[:split]:
        match = Q_ANCHOR.match(node["text"]) if node["kind"] != "image" else None
        number = NUMBERED.match(node["text"]) if node["kind"] == "list_item" else None
        if match and match.group(1):
            current = problems.setdefault(match.group(1), Segment())
            if match.group(2):
                current.texts.append(match.group(2))
            continue
        if number:
            current = problems.setdefault(number.group(1), Segment())
            if number.group(2):
                current.texts.append(number.group(2))
            continue
        if current is not None and node["kind"] != "heading":
            current.add(node)
    solutions: dict[str, Segment] = {}
    current, block = None, None
    for node in nodes[split + 1:]:
        if node["kind"] == "heading":
            break
        match = NUMBERED.match(node["text"]) if node["kind"] != "image" else None
        anchor = S_ANCHOR.match(node["text"]) if node["kind"] != "image" else None
        key = (match and match.group(1)) or (anchor and anchor.group(1))
        if key:
            current, block = solutions.setdefault(key, Segment()), node["block"]
            rest = (match or anchor).group(2)
            if rest:
                current.texts.append(rest)
        elif current is not None and node["block"] == block:
            current.add(node)
    return [Pair(problems[k], solutions[k], "solutions-section") for k in problems if k in solutions and problems[k].text]


def _anchored(nodes: list[dict]) -> list[Pair]:
    pairs: list[Pair] = []
    question: Segment | None = None
    solution: Segment | None = None
    answer_block: int | None = None
    for node in nodes:
        text = node["text"] if node["kind"] != "image" else ""
        q = Q_ANCHOR.match(text) if text else None
        s = S_ANCHOR.match(text) if text else None
        if q and (node["kind"] == "heading" or q.group(1)):
            if question is not None and question.text:
                pairs.append(Pair(question, solution or Segment(), "anchored"))
            question, solution, answer_block = Segment(), None, None
            if q.group(2):
                question.texts.append(q.group(2))
            continue
        if question is None:
            continue
        if s and solution is None:
            solution = Segment()
            if s.group(2):
                solution.texts.append(s.group(2))
            continue
        if solution is None:
            question.add(node)
        elif answer_block is None or node["block"] == answer_block:
            solution.add(node)
            if text and ANSWER_LINE.search(text):
                answer_block = node["block"]  # the solution ends with its block once it has stated the answer
    if question is not None and question.text:
        pairs.append(Pair(question, solution or Segment(), "anchored"))
    return pairs


def _posts(nodes: list[dict]) -> list[Pair]:
    blocks: dict[int, list[dict]] = {}
    for node in nodes:
        if node["block"]:
            blocks.setdefault(node["block"], []).append(node)
    order = list(blocks)
    question_block = next(
        (b for b in order if any(n["kind"] != "heading" and QUESTION_CUE.search(n["text"]) for n in blocks[b])), None
    )
    if question_block is None:
        return []
    later = order[order.index(question_block) + 1:]
    accepted = [b for b in later if any(ACCEPTED.search(n["text"]) for n in blocks[b] if n["kind"] != "image")]
    answered = [b for b in later if any(ANSWER_LINE.search(n["text"]) for n in blocks[b] if n["kind"] != "image")]
    chosen = (accepted or answered or [None])[0]
    if chosen is None:
        return []
    question = Segment()
    for node in blocks[question_block]:
        if node["kind"] == "image" or (node["kind"] != "heading" and len(node["text"]) >= 25 and not META.search(node["text"])):
            question.add(node)
    solution = Segment()
    for node in blocks[chosen]:
        if node["kind"] == "image" or not (ACCEPTED.search(node["text"]) or META.search(node["text"]) or re.fullmatch(r"[\w.-]+", node["text"])):
            solution.add(node)
    return [Pair(question, solution, "posts")] if question.text else []


def extract_pairs(nodes: list[dict]) -> list[Pair]:
    for strategy in (_solutions_section, _anchored, _posts):
        pairs = strategy(nodes)
        if pairs:
            return pairs
    return []


def tree_text(nodes: list[dict]) -> tuple[str, list[str]]:
    """A page's tree as prompt text: blocks apart, headings marked, images numbered.
    Returns the text and the image URLs in number order."""
    lines, images, block = [], [], None
    for node in nodes:
        if block is not None and node["block"] != block:
            lines.append("")
        block = node["block"]
        if node["kind"] == "image":
            images.append(node["src"])
            lines.append(f"[image {len(images)}: {node.get('alt') or ''}]")
        elif node["kind"] == "heading":
            lines.append("#" * max(1, node["level"]) + " " + node["text"])
        else:
            lines.append(node["text"])
    return "\n".join(lines), images


def extract_partitions():
    """A mapInPandas function: pages (url_id, url, tree) in, candidate QA rows out."""

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            rows = []
            for url_id, url, tree in zip(batch["url_id"], batch["url"], batch["tree"]):
                nodes = [dict(node) for node in tree]
                for pair in extract_pairs(nodes):
                    question, solution = pair.question.text, pair.solution.text or None
                    rows.append(CandidateQA.row(
                        qa_id=stable_id(url_id, question), page_id=url_id, url=url, question=question,
                        solution=solution, answer=final_answer(solution or ""),
                        question_images=list(dict.fromkeys(pair.question.images)),
                        solution_images=list(dict.fromkeys(pair.solution.images)),
                        pattern=pair.pattern, engine=ENGINE,
                    ))
            # Two identical questions on one page are one pair.
            unique = list({row["qa_id"]: row for row in rows}.values())
            yield pd.DataFrame(unique, columns=CandidateQA.transform_schema().fieldNames())

    return run
