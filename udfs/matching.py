"""Deterministic answer matching: symbolic equivalence of short answers, no LLM.

Numbers, expressions and units-bearing values are compared with math-verify; multiple-choice
letters by equality. `None` means undecidable here: the LLM judge decides those.
"""
from __future__ import annotations

import re

from math_verify import parse, verify

from udfs.questions import tokens

CHOICE = re.compile(r"^\(?([A-Ha-h])\)?\.?$")


def parse_answer(text: str | None):
    """A comparable form of a short answer, or None when it does not parse."""
    if not text or not text.strip():
        return None
    choice = CHOICE.match(text.strip())
    if choice:
        return ("choice", choice.group(1).upper())
    try:
        parsed = parse(text, parsing_timeout=2)
    except Exception:  # math-verify raises a variety of parser errors on odd input
        return None
    return parsed or None


def equivalent(a: str | None, b: str | None) -> bool | None:
    left, right = parse_answer(a), parse_answer(b)
    if left is None or right is None:
        return None
    if isinstance(left, tuple) or isinstance(right, tuple):
        return left == right
    try:
        return bool(verify(left, right, timeout_seconds=2))
    except Exception:
        return None


def group_answers(answers: list[str | None]) -> list[list[int]] | None:
    """Indices grouped by equivalence, or None if any answer cannot be decided symbolically."""
    groups: list[list[int]] = []
    for i, answer in enumerate(answers):
        for members in groups:
            same = equivalent(answers[members[0]], answer)
            if same is None:
                return None
            if same:
                members.append(i)
                break
        else:
            if parse_answer(answer) is None:
                return None
            groups.append([i])
    return groups


def majority(groups: list[list[int]], total: int) -> list[int] | None:
    """The group holding more than half of all candidates, if there is one."""
    best = max(groups, key=len, default=[])
    return best if len(best) * 2 > total else None


def answers_agree(final: str | None, web: str | None) -> bool:
    """The final answer and the page's are the same: symbolically, else as normalised text."""
    if not final or not web:
        return False
    if final.strip() == web.strip():
        return True
    same = equivalent(final, web)
    return same if same is not None else (tokens(final) or [final.strip().lower()]) == (tokens(web) or [web.strip().lower()])
