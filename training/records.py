"""The two record shapes trainers read, and reading either into training examples.

- LLaVA: `{"id", "image": path | [paths], "conversations": [{"from": "human" | "gpt", "value"}]}`,
  one `<image>` placeholder per image in the human turn (LLaVA-NeXT style trainers);
- messages: `{"id", "images": [paths], "messages": [{"role", "content": [{"type": "image"} |
  {"type": "text", "text"}]}]}`, what TRL's SFTTrainer and processors' chat templates take.

Image paths are relative to the export folder (or absolute, or URIs).
"""
from __future__ import annotations

import json

from training import storage

IMAGE_PLACEHOLDER = "<image>"
ROLES = {"human": "user", "gpt": "assistant", "system": "system"}


def reply_text(solution: str | None, answer: str | None) -> str:
    reply = (solution or "").strip()
    if answer and answer not in reply:
        reply = f"{reply}\nAnswer: {answer}".strip()
    return reply


def conversation(question: str, solution: str | None, answer: str | None, n_images: int) -> list[dict]:
    return [
        {"from": "human", "value": f"{IMAGE_PLACEHOLDER}\n" * n_images + question},
        {"from": "gpt", "value": reply_text(solution, answer)},
    ]


def messages(question: str, solution: str | None, answer: str | None, n_images: int) -> list[dict]:
    return [
        {"role": "user", "content": [{"type": "image", "text": None}] * n_images + [{"type": "text", "text": question}]},
        {"role": "assistant", "content": [{"type": "text", "text": reply_text(solution, answer)}]},
    ]


def conversation_to_messages(turns: list[dict]) -> list[dict]:
    """LLaVA turns as chat messages: each `<image>` placeholder becomes an image part where it stood."""
    out = []
    for turn in turns:
        role = ROLES.get(turn.get("from"), turn.get("from"))
        pieces = str(turn.get("value", "")).split(IMAGE_PLACEHOLDER)
        content = []
        for number, piece in enumerate(pieces):
            if number:
                content.append({"type": "image", "text": None})
            if piece.strip():
                content.append({"type": "text", "text": piece.strip()})
        out.append({"role": role, "content": content})
    return out


def read_examples(data: str, image_root: str) -> list[dict]:
    """Training examples `{"id", "messages", "images"}` from a JSONL file of either shape."""
    examples = []
    for number, line in enumerate(storage.read_text(data).splitlines(), 1):
        if not line.strip():
            continue
        record = json.loads(line)
        if "messages" in record:
            turns, images = record["messages"], record.get("images") or []
        elif "conversations" in record:
            turns = conversation_to_messages(record["conversations"])
            images = record.get("image") or []
            images = [images] if isinstance(images, str) else images
        else:
            raise ValueError(f"{data}:{number}: a record needs messages or conversations")
        wanted = sum(part["type"] == "image" for turn in turns for part in turn["content"] if isinstance(turn["content"], list))
        if wanted != len(images):
            raise ValueError(f"{data}:{number}: {wanted} image placeholders for {len(images)} images")
        if not turns or turns[-1]["role"] != "assistant":
            raise ValueError(f"{data}:{number}: the last turn must be the assistant's")
        examples.append({
            "id": str(record.get("id", number)), "messages": turns,
            "images": [storage.resolve(str(ref), image_root) for ref in images],
        })
    return examples
