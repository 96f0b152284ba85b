"""What each LLM task's answer must look like, and how it is read.

The JSON tasks' pydantic models double as the JSON schema sent as `response_format` to an
endpoint that takes one; synthesis is free text that ends with a 'Final answer:' line.
"""
from __future__ import annotations

import json
import re
from typing import Callable

from pydantic import BaseModel, ValidationError

TASKS = ("extract", "validate", "synthesize", "consistency", "align")


class ExtractedPair(BaseModel):
    question: str
    question_images: list[int] = []
    solution: str | None = None
    solution_images: list[int] = []


class ExtractReply(BaseModel):
    pairs: list[ExtractedPair]


class ValidateReply(BaseModel):
    valid: bool
    reason: str = ""
    relevant_images: list[int] = []


class ConsistencyReply(BaseModel):
    groups: list[list[int]]


class AlignReply(BaseModel):
    aligned: bool
    reason: str = ""


class SynthesizedAnswer(BaseModel):
    text: str
    short_answer: str


JSON_REPLIES: dict[str, type[BaseModel]] = {
    "extract": ExtractReply, "validate": ValidateReply, "consistency": ConsistencyReply, "align": AlignReply,
}
FINAL_ANSWER = re.compile(r"final answer\s*[:：]\s*(.+?)\s*$", re.I | re.M)
JSON_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.M)


def _synthesized(text: str) -> SynthesizedAnswer:
    matches = FINAL_ANSWER.findall(text)
    if not matches:
        raise ValueError("no 'Final answer:' line")
    return SynthesizedAnswer(text=text.strip(), short_answer=matches[-1].strip().rstrip("."))


def _json_reply(model: type[BaseModel]) -> Callable[[str], BaseModel]:
    # Fences and prose around the object: what an endpoint without structured output writes.
    return lambda text: model.model_validate_json(JSON_FENCE.sub("", text.strip()))


REPLIES: dict[str, Callable[[str], BaseModel]] = {task: _json_reply(model) for task, model in JSON_REPLIES.items()} | {"synthesize": _synthesized}


def parse_reply(task: str, text: str) -> BaseModel:
    return REPLIES[task](text)


def reply_problem(task: str, text: str) -> str | None:
    """Why one answer text is unusable for its task, or None."""
    try:
        parse_reply(task, text)
    except (ValidationError, ValueError) as exc:
        return f"unparseable {task} answer: {str(exc).splitlines()[0][:200]}"
    return None


def parse_choices(task: str, response: str | None) -> list[BaseModel]:
    """The parsed choices of a ledger row's response (those that parse)."""
    out = []
    for text in json.loads(response or "[]"):
        try:
            out.append(parse_reply(task, text))
        except (ValidationError, ValueError):
            continue
    return out


def response_format(task: str, kind: str) -> dict | None:
    """The `response_format` of a JSON task's request in the endpoint's dialect (`kind`):
    json_schema (OpenAI, vLLM: the reply model's schema, strict), json_object (llama.cpp's
    server: the schema beside the type), none (the reply is parsed from free text)."""
    model = JSON_REPLIES.get(task)
    if model is None or kind == "none":
        return None
    schema = _strict(model.model_json_schema())
    if kind == "json_object":
        return {"type": "json_object", "schema": schema}
    return {"type": "json_schema", "json_schema": {"name": f"{task}_reply", "schema": schema, "strict": True}}


def _strict(schema: dict) -> dict:
    """OpenAI's strict mode: every property required, no others, no defaults."""
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items() if k not in ("default", "title")}
        if out.get("type") == "object" and "properties" in out:
            out["required"] = list(out["properties"])
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema
