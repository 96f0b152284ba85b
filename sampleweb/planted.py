"""Planted quality cases in the sample web, with their ground truth.

- `copies.localhost` repeats two problems of other sites reworded, with numbers written another
  way ("40.0", "1,000"), one of them over its figure re-encoded as JPEG and resized: near
  duplicates the pipeline must drop, keeping the originals;
- `leaks.localhost` holds a benchmark item's question copied word for word, and a new question
  over a benchmark item's image: contamination the pipeline must drop;
- each planted page also holds a fresh problem opening with a phrase the other shares: rows
  that must be kept.

The benchmark items (those planted and some that appear nowhere) are written as JSONL with their
images under `benchmarks/`, the folder decontamination reads by default.
"""
from __future__ import annotations

import hashlib
import io
import json
import random
import re
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from sampleweb.problems import Problem, make_problem, render_diagram

if TYPE_CHECKING:
    from sampleweb.corpus import Generator, PageRecord

HOSTS = {"copies": "copies.localhost", "leaks": "leaks.localhost"}
COMMON_PHRASE = "Study the figure carefully before you answer the question below."
REWORDINGS = (("Calculate", "Work out"), ("What is", "Find"), ("what is", "what will be"), ("Determine", "Find"),
              ("Find", "Determine"), ("How many", "Find how many"), ("What length", "How much length"))
# Written for the sample web, in the style of visual math benchmarks; no template of the corpus
# makes questions like them, so only the copies planted on purpose share their n-grams.
BENCHMARK_ITEMS = (
    ("MathVista", "sw-101", "In the figure, lines AB and CD are parallel and the transversal meets AB at an angle of 65 degrees. "
     "What is the measure of the angle marked x?", "115"),
    ("MathVista", "sw-102", "Which of the bars in the chart has the greatest value, and by how much does it exceed the smallest bar?", "B, 7"),
    ("MMMU", "sw-201", "The graph shows the velocity of a cart against time. Over which interval is the cart slowing down?", "C"),
    ("DynaMath", "sw-301", "How many of the shaded unit squares in the grid lie strictly inside the drawn polygon?", "12"),
)
LEAKED_TEXT, LEAKED_IMAGE = "sw-101", "sw-102"
NEW_QUESTION_ON_LEAKED_IMAGE = "Estimate the total of the two tallest bars in the picture, to the nearest whole unit."


def reword(question: str) -> str:
    """The same problem in other words: one phrase swapped, the first whole number written with a
    decimal point and large numbers with thousands separators."""
    for old, new in REWORDINGS:
        if old in question:
            question = question.replace(old, new, 1)
            break
    else:
        question += " Show your working."
    question = re.sub(r"(?<![\d.,])(\d{4,})(?![\d.,])", lambda m: f"{int(m.group(1)):,}", question)
    return re.sub(r"(?<=\s)(\d+)(?=\s)", r"\1.0", question, count=1)


def _png(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def _figure(rng: random.Random, subject: str = "geometry") -> bytes:
    return _png(render_diagram(make_problem(subject, rng, True), rng))


def _resized_jpeg(png: bytes) -> bytes:
    image = Image.open(io.BytesIO(png)).convert("RGB")
    return _png(image.resize((int(image.width * 0.8), int(image.height * 0.8))), "JPEG", quality=80)


def _qa(question: str, steps: list[str], answer: str, subject: str, images: list[str], **truth) -> dict:
    return {"question": question, "answer": answer, "solution": " ".join(steps), "subject": subject,
            "question_images": images, "solution_images": [], **truth}


def _sheet(gen: "Generator", kind: str, title: str, entries: list[tuple[dict, bytes | None]]) -> "PageRecord":
    """A worksheet page (problems, then a solutions section) on a planted host; each entry is a
    ground-truth QA (its images filled in here) and the bytes of its figure, if any."""
    from sampleweb.corpus import PageRecord, _chrome, _e

    host, path = HOSTS[kind], f"/{kind}/sheet.html"
    blocks, solutions, qas = [], [], []
    for i, (qa, figure) in enumerate(entries, 1):
        img = ""
        if figure is not None:
            name = hashlib.sha1(figure).hexdigest()[:12] + (".jpg" if figure[:2] == b"\xff\xd8" else ".png")
            gen.site.write(host, f"/{kind}/img/{name}", figure)
            img = f'<img src="img/{name}" alt="Figure for problem {i}">'
            qa = {**qa, "question_images": [gen.site.url(host, f"/{kind}/img/{name}")]}
        blocks.append(f'<div class="problem"><p><b>Problem {i}.</b> {_e(qa["question"])}</p>{img}</div>')
        solutions.append(f"<li><p>{_e(qa['solution'])}</p><p>Answer: {_e(qa['answer'])}</p></li>")
        qas.append(qa)
    body = f"""<h1>{_e(title)}</h1>
<p>Answer all questions. Show your working.</p>
{''.join(blocks)}
<h2>Solutions</h2>
<ol class="solutions">{''.join(solutions)}</ol>"""
    gen.site.write(host, path, _chrome(title, body, title, gen.rng))
    return PageRecord(gen.site.url(host, path), kind, qas[0]["subject"], qas)


def _fresh(gen: "Generator", subject: str) -> tuple[Problem, bytes]:
    """A problem no page holds, opening with the common phrase, and its figure (a possible seed)."""
    problem = gen.problem(subject, True)
    buffer = io.BytesIO()
    render_diagram(problem, gen.rng).save(buffer, format="PNG")
    return problem, buffer.getvalue()


def plant(gen: "Generator", content: list["PageRecord"]) -> tuple[list["PageRecord"], list[str], dict]:
    """The planted pages, the URLs of figures that must be seeds (so the pages are found), and the
    planted counts. Nothing is planted in a corpus too small to hold the originals."""
    # Layouts of one problem stated alone. A thread's question carries its title and the asker's
    # words around the problem, which the question de-duplication does not see through.
    single = ("textbook", "tutor")
    illustrated = [p for p in content if p.layout in single and not p.fault and p.qas[0]["question_images"]]
    text_only = [qa for p in content if p.layout == "worksheet" and not p.fault for qa in p.qas if not qa["question_images"]]
    if not illustrated or not text_only:
        return [], [], {"duplicates": 0, "image_duplicates": 0, "contaminated_text": 0, "contaminated_image": 0}
    original, original_text = illustrated[0].qas[0], text_only[0]
    original_png = next(png for _, url, png in gen.site.diagrams if url == original["question_images"][0])
    copy_fig = _qa(reword(original["question"]), [original["solution"]], original["answer"], original["subject"], [],
                   duplicate_of=original["question"])
    copy_text = _qa(reword(original_text["question"]), [original_text["solution"]], original_text["answer"],
                    original_text["subject"], [], duplicate_of=original_text["question"])
    fresh_a, fresh_a_png = _fresh(gen, original["subject"])
    fresh_b, fresh_b_png = _fresh(gen, original["subject"])
    keep_a = _qa(f"{COMMON_PHRASE} {fresh_a.question}", fresh_a.steps, fresh_a.answer, fresh_a.subject, [])
    keep_b = _qa(f"{COMMON_PHRASE} {fresh_b.question}", fresh_b.steps, fresh_b.answer, fresh_b.subject, [])
    copies = _sheet(gen, "copies", "Homework help: copied problems", [
        (copy_fig, _resized_jpeg(original_png)), (copy_text, None), (keep_a, fresh_a_png),
    ])
    items = {item_id: (benchmark, question, answer) for benchmark, item_id, question, answer in BENCHMARK_ITEMS}
    leaked_png = _figure(random.Random(LEAKED_IMAGE))
    text_leak = _qa(items[LEAKED_TEXT][1], ["Co-interior angles add up to 180 degrees."], items[LEAKED_TEXT][2], "geometry", [],
                    contaminated_by=f"{items[LEAKED_TEXT][0]}/{LEAKED_TEXT}")
    image_leak = _qa(NEW_QUESTION_ON_LEAKED_IMAGE, ["Read the two tallest bars and add them."], "19", "geometry", [],
                     contaminated_by=f"{items[LEAKED_IMAGE][0]}/{LEAKED_IMAGE}")
    leaks = _sheet(gen, "leaks", "Exam practice: visual reasoning", [
        (text_leak, fresh_b_png), (image_leak, leaked_png), (keep_b, None),
    ])
    # The leaked text's page is found through the fresh figure shown with it.
    seeds = [original["question_images"][0], copies.qas[2]["question_images"][0], leaks.qas[0]["question_images"][0]]
    gen.site.diagrams += [(copies.subject, seeds[1], fresh_a_png), (leaks.subject, seeds[2], fresh_b_png)]
    counts = {"duplicates": 2, "image_duplicates": 1, "contaminated_text": 1, "contaminated_image": 1}
    return [copies, leaks], seeds, counts


def write_benchmarks(root: Path) -> int:
    """The benchmark items as JSONL, their figures beside it; returns how many."""
    folder = root / "benchmarks"
    (folder / "images").mkdir(parents=True, exist_ok=True)
    lines = []
    for benchmark, item_id, question, answer in BENCHMARK_ITEMS:
        name = f"images/{item_id}.png"
        (folder / name).write_bytes(_figure(random.Random(item_id)))
        lines.append(json.dumps({"id": item_id, "benchmark": benchmark, "question": question, "answer": answer, "images": [name]}))
    (folder / "items.jsonl").write_text("\n".join(lines) + "\n")
    return len(lines)
