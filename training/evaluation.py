"""Scoring a checkpoint on benchmark files as published, where lmms-eval cannot reach a hub.

Each item (udfs/benchmarks.py reads MMMU, MMMU-Pro, MathVista, MathVerse, DynaMath from their
own columns) is asked through the checkpoint's chat template, with its images and lettered
options; the reply's final answer is compared with the item's answer: a choice letter with the
letter, anything else symbolically, else as normalised text (the rule curation verifies with).
"""
from __future__ import annotations

import io
import re
import string
from dataclasses import asdict, dataclass

from udfs.answers import final_answer
from udfs.benchmarks import NAMES, PublishedItem, read_published
from udfs.matching import answers_agree

LETTER = re.compile(r"\b([A-J])\b")


@dataclass
class Scored:
    benchmark: str
    item_id: str
    answer: str | None
    reply: str
    predicted: str | None
    correct: bool
    status: str  # ok | unreadable (an image that does not decode)


def prompt_text(item: PublishedItem) -> str:
    if not item.options:
        return item.question
    letters = "\n".join(f"{string.ascii_uppercase[k]}. {option}" for k, option in enumerate(item.options))
    return f"{item.question}\n{letters}\nAnswer with the option's letter.".strip()


def predicted_answer(reply: str, item: PublishedItem) -> str | None:
    stated = final_answer(reply) or reply.strip() or None
    if item.options and stated:
        found = LETTER.search(stated.upper())
        return found.group(1) if found else stated
    return stated


def score_items(model, processor, benchmark: str, items, max_new_tokens: int) -> list[Scored]:
    import torch
    from PIL import Image

    scored = []
    for item in items:
        try:
            images = [Image.open(io.BytesIO(content)).convert("RGB") for content in item.images if not isinstance(content, Exception)]
            if len(images) != len(item.images):
                raise OSError("an image could not be read")
        except OSError:
            scored.append(Scored(NAMES[benchmark], item.id, item.answer, "", None, False, "unreadable"))
            continue
        messages = [{"role": "user", "content": [{"type": "image"}] * len(images) + [{"type": "text", "text": prompt_text(item)}]}]
        text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        inputs = processor(text=[text], images=[images] if images else None, return_tensors="pt").to(model.device)
        with torch.no_grad():
            output = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
        reply = processor.decode(output[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
        predicted = predicted_answer(reply, item)
        correct = bool(item.answer) and (
            predicted == str(item.answer).strip().upper() if item.options else answers_agree(predicted, item.answer)
        )
        scored.append(Scored(NAMES[benchmark], item.id, item.answer, reply, predicted, correct, "ok"))
    return scored


def score_published(checkpoint: str, files: dict[str, list[str]], limit: int | None, max_new_tokens: int) -> tuple[dict, list[dict]]:
    """Accuracy per benchmark over its files' items (the first `limit` of each file), and every answer."""
    import itertools

    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    processor = AutoProcessor.from_pretrained(checkpoint)
    model = AutoModelForImageTextToText.from_pretrained(checkpoint, dtype="auto").eval()
    if torch.cuda.is_available():
        model = model.to("cuda")
    summary, rows = {}, []
    for benchmark, paths in sorted(files.items()):
        scored = []
        for path in paths:
            scored += score_items(model, processor, benchmark, itertools.islice(read_published(benchmark, path), limit), max_new_tokens)
        answered = [s for s in scored if s.status == "ok"]
        summary[NAMES[benchmark]] = {
            "items": len(scored), "unreadable": len(scored) - len(answered),
            "accuracy": sum(s.correct for s in answered) / len(answered) if answered else None,
        }
        rows += [asdict(s) for s in scored]
    return summary, rows
