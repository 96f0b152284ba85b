"""QA extraction on real saved problem pages, per page kind and in all.

    PYTHONPATH=$PWD .venv/bin/python -m benchmarks.real_web_quality [--corpus ../shared/realweb]

Every page of the corpus (`sampleweb/realweb.py`) is rendered by the renderer and read by
the rule engine; the figures are QA recall and precision, stated answers kept and question
image recall (definitions in `sampleweb.realweb`). Trees are kept under
`<work>/realweb_trees.json`, reused while the tree builder and the corpus are unchanged
(`--render` renders again). Results are printed and written as JSON (--out).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

from sampleweb import realweb
from udfs.extraction import extract_pairs

REPO = Path(__file__).resolve().parent.parent
TREE_BUILDER = REPO / "udfs" / "tree.js"


def trees(pages: list[dict], work: Path, again: bool = False) -> dict[str, dict]:
    """{id: pages row}, rendered once for this tree builder and these pages."""
    digest = hashlib.sha256(TREE_BUILDER.read_bytes() + b"".join(p["html"] for p in pages)).hexdigest()
    cache = work / "realweb_trees.json"
    if cache.is_file() and not again:
        kept = json.loads(cache.read_text())
        if kept.get("digest") == digest:
            return kept["rows"]
    rows = realweb.render(pages, work / "realweb_site")
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps({"digest": digest, "rows": rows}))
    return rows


def extract(rows: dict[str, dict]) -> dict[str, list[dict]]:
    out = {}
    for page_id, row in rows.items():
        pairs = extract_pairs(row["tree"], row["posts"], row["structured_data"], row["title"] or "") if row["status"] == "ok" else []
        out[page_id] = [{"question": p.question.text, "solution": p.solution.text, "answer": p.final_answer,
                         "question_images": p.question.images, "pattern": p.pattern} for p in pairs]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", default=str(realweb.REALWEB))
    parser.add_argument("--work", default=str(REPO / "work" / "bench"))
    parser.add_argument("--render", action="store_true", help="render the pages again")
    parser.add_argument("--out", default=None, help="JSON file (default: <work>/real_web_quality.json)")
    parser.add_argument("--show", default=None, help="print the pairs of pages whose id contains this")
    args = parser.parse_args(argv)
    work = Path(args.work).resolve()
    pages = realweb.load(Path(args.corpus))
    rows = trees(pages, work, again=args.render)
    failed = {k: f"{r['status']}: {r['reason']}" for k, r in rows.items() if r["status"] != "ok"}
    for page_id, why in failed.items():
        print(f"  {page_id}: {why}")
    extracted = extract(rows)
    result = realweb.score(pages, extracted)
    if args.show:
        for page in pages:
            if args.show in page["id"]:
                print(f"== {page['id']} ({page['kind']})")
                for pair in extracted[page["id"]]:
                    print(f"  [{pair['pattern']}] Q: {pair['question'][:300]!r}\n      S: {(pair['solution'] or '')[:200]!r}"
                          f"\n      A: {pair['answer']!r} imgs: {pair['question_images']}")
    columns = ("pages", "qas", "found", "recall", "extracted", "precision", "answers_kept", "question_images")
    print(f"\n{'kind':<20}" + "".join(f"{c:>16}" for c in columns))
    for kind, figures in result["summary"].items():
        print(f"{kind:<20}" + "".join(f"{'-' if figures[c] is None else figures[c]:>16}" for c in columns))
    missed = [r for r in result["records"] if not r["found"]]
    print(f"\nmissed: {len(missed)} ({', '.join(sorted({r['page'] for r in missed}))})")
    out = Path(args.out) if args.out else work / "real_web_quality.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({**result, "pairs": extracted, "failed": failed}, indent=1, ensure_ascii=False))
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
