"""How much of the real-web corpus's ground truth the content tree holds, page by page.

    PYTHONPATH=$PWD .venv/bin/python -m benchmarks.realweb_tree [--out FILE]

Every page of `../shared/realweb/` is rendered by the renderer on loopback; per page:

- question: the share of the ground-truth questions' words found in the tree's text;
- answer: the same for the stated answers (their label, "Accepted answer:", aside);
- images: ground-truth question image `src`s present as image nodes, of those listed;
- words: the tree's text length in words (what else it holds).

This measures the tree only (what the extraction stage can see), not extraction.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path

from sampleweb.realweb import ANSWER_LABEL, held, image_found, load, render, words


def check(pages: list[dict], rows: dict[str, dict]) -> list[dict]:
    out = []
    for page in pages:
        tree = rows[page["id"]]["tree"] or []
        got = words("\n".join(n["text"] or "" for n in tree if n["kind"] != "image"))
        srcs = [n["src"] for n in tree if n["kind"] == "image" and n["src"]]
        question = sum((words(qa["question"]) for qa in page["qa"]), Counter())
        answer = sum((words(ANSWER_LABEL.sub("", qa["answer"])) for qa in page["qa"] if qa["answer"]), Counter())
        truth_srcs = [s for qa in page["qa"] for s in qa["image_srcs"]]
        out.append({"id": page["id"], "question": round(held(question, got), 3),
                    "answer": round(held(answer, got), 3) if answer else None,
                    "images": sum(image_found(s, srcs) for s in truth_srcs), "images_total": len(truth_srcs),
                    "words": sum(got.values())})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=None, help="JSON file for the per-page figures")
    parser.add_argument("--trees", default=None, help="JSON file for the rendered trees")
    args = parser.parse_args(argv)
    pages = load()
    with tempfile.TemporaryDirectory() as tmp:
        rows = render(pages, Path(tmp))
    results = check(pages, rows)
    print(f"{'page':<40}{'question':>9}{'answer':>8}{'images':>8}{'words':>7}")
    for r in results:
        answer = f"{r['answer']:.2f}" if r["answer"] is not None else "-"
        images = f"{r['images']}/{r['images_total']}" if r["images_total"] else "-"
        print(f"{r['id']:<40}{r['question']:>9.2f}{answer:>8}{images:>8}{r['words']:>7}")
    answered = [r for r in results if r["answer"] is not None]
    print(f"{'mean':<40}{sum(r['question'] for r in results) / len(results):>9.3f}"
          f"{sum(r['answer'] for r in answered) / len(answered):>8.3f}"
          f"{sum(r['images'] for r in results):>5}/{sum(r['images_total'] for r in results)}"
          f"{sum(r['words'] for r in results):>7}")
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))
    if args.trees:
        Path(args.trees).write_text(json.dumps({k: v["tree"] for k, v in rows.items()}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
