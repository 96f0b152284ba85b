"""The real-web corpus: saved problem pages with hand-read ground truth, outside the repo.

`../shared/realweb/` (or `$WEBMINE_REALWEB`) holds `pages/<id>.html` and `manifest.jsonl`
(one page a line: kind, site, and its QA records with question, answer and question
image `src`s as written in the HTML). Each page is served on loopback and rendered by
the product's renderer with public addresses switched off, so what its scripts and
images point at elsewhere is refused before any look-up; the extraction engine then
reads the trees, and `score` compares its pairs with the ground truth:

- a ground-truth question is found by an extracted one that holds >= 60 % of its words
  and is at most 3x its length plus 60 words (a whole-page blob finds nothing);
- precision: the extracted pairs that find a ground-truth question;
- stated answers kept: of the records whose page states an answer, those whose finding
  pair's solution holds >= 50 % of the answer's words (its label, "Accepted answer:", aside);
- question images: the ground-truth `src`s found among the finding pair's question images.
"""
from __future__ import annotations

import html
import json
import os
import re
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

REALWEB = Path(os.environ.get("WEBMINE_REALWEB", Path(__file__).resolve().parents[2] / "shared" / "realweb"))
WORD = re.compile(r"\w+")
# Scripts written without spaces between words are counted by character.
UNSPACED = re.compile(r"[\u0e00-\u0e7f\u1000-\u109f\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]")
# "Accepted answer:", "最佳回答：", "Top-voted (self-)answer:": the record's label, not the page's words.
ANSWER_LABEL = re.compile(r"^[^:：]{0,40}(?:answer|solution|回答|回复|答案)[^:：]{0,20}[:：]\s*", re.I)


def words(text: str) -> Counter:
    bag: Counter = Counter()
    for word in WORD.findall(text.lower()):
        if UNSPACED.search(word):
            bag.update(word)
        else:
            bag[word] += 1
    return bag


def load(corpus: Path = REALWEB) -> list[dict]:
    """The manifest's pages, each with its HTML bytes; a clear error when the corpus is missing."""
    manifest = corpus / "manifest.jsonl"
    if not manifest.is_file():
        raise FileNotFoundError(f"real-web corpus not found: {manifest} (set WEBMINE_REALWEB)")
    pages = [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]
    for page in pages:
        page["html"] = (corpus / "pages" / f"{page['id']}.html").read_bytes()
    return pages


def render(pages: list[dict], site_root: Path, timeout_s: float = 30, mode: str = "auto") -> dict[str, dict]:
    """{id: pages row} for every page, each served from a local file on loopback (`render.mode` as given)."""
    from runtime.config import NetworkConfig, RenderConfig
    from sampleweb.server import serve
    from udfs.browser import Renderer

    for page in pages:
        target = site_root / "site" / "127.0.0.1" / page["id"] / "index.html"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(page["html"])
    with serve(site_root) as port:
        # Images cannot be fetched offline; SVGs keep their URLs for the same reason.
        render_conf = RenderConfig(mode=mode, page_timeout_s=timeout_s, settle_timeout_s=2, concurrency=4, obey_robots=False,
                                   per_host_concurrency=4, per_host_delay_s=0, rasterize_svg=False,
                                   max_page_bytes=20_000_000, block_resource_types=["media", "font", "image"])
        network = NetworkConfig(allow_private=[f"127.0.0.1:{port}"], allow_public=False)
        with Renderer(render_conf, network) as renderer:
            rows = renderer.render_many([(p["id"], f"http://127.0.0.1:{port}/{p['id']}/") for p in pages])
    return {row["url_id"]: row for row in rows}


def held(truth: Counter, got: Counter) -> float:
    """The share of the words of `truth` that `got` holds."""
    return sum((truth & got).values()) / max(1, sum(truth.values()))


def finds(truth_question: str, question: str) -> float:
    """How much of a ground-truth question an extracted one holds (0: it does not find it)."""
    truth, got = words(truth_question), words(question)
    share = held(truth, got)
    return share if share >= 0.6 and sum(got.values()) <= 3 * sum(truth.values()) + 60 else 0.0


def _image_key(src: str) -> str:
    """A URL as written in the page or resolved by the browser, without scheme and dot segments."""
    src = html.unescape(src).strip()
    if urlsplit(src).scheme:
        src = src.split(":", 1)[1]
    return re.sub(r"^(//|\./)", "", src)


RESIZE_QUERY = re.compile(r"\?(?:(?:w|h|width|height|s|size|resize|fit|crop|quality|q)=[^&]*&?)+$")


def image_found(truth_src: str, extracted: list[str]) -> bool:
    """Found as written, or as another size of the same picture (a `srcset` candidate that
    differs only in its resize parameters, `?w=150` against `?w=300`)."""
    key = _image_key(truth_src)
    keys = [_image_key(src) for src in extracted]
    return any(k.endswith(key) for k in keys) or (
        bool(RESIZE_QUERY.search(key)) and any(RESIZE_QUERY.sub("", k).endswith(RESIZE_QUERY.sub("", key)) for k in keys))


def score(pages: list[dict], extracted: dict[str, list[dict]]) -> dict:
    """Figures per page kind and in all. `extracted[id]` is a list of
    {question, solution, question_images} for that page."""
    records, pair_hits = [], []
    for page in pages:
        pairs = extracted.get(page["id"], [])
        hit = [False] * len(pairs)
        for qa in page["qa"]:
            matching = [i for i, pair in enumerate(pairs) if finds(qa["question"], pair["question"])]
            for i in matching:
                hit[i] = True
            best = max(matching, key=lambda i: finds(qa["question"], pairs[i]["question"]), default=None)
            pair = pairs[best] if best is not None else None
            answer = ANSWER_LABEL.sub("", qa["answer"]) if qa["answer"] else None
            records.append({
                "page": page["id"], "kind": page["kind"], "found": pair is not None,
                "answer": answer is not None,
                "answer_kept": bool(pair and answer and held(words(answer), words(pair.get("solution") or "")) >= 0.5),
                "images": len(qa["image_srcs"]),
                "images_found": sum(image_found(src, pair["question_images"]) for src in qa["image_srcs"]) if pair else 0,
            })
        pair_hits += [(page["kind"], h) for h in hit]

    def figures(chosen: list[dict], hits: list[tuple[str, bool]]) -> dict:
        answered = [r for r in chosen if r["answer"]]
        images = sum(r["images"] for r in chosen)
        return {
            "pages": len({r["page"] for r in chosen}), "qas": len(chosen), "found": sum(r["found"] for r in chosen),
            "recall": round(sum(r["found"] for r in chosen) / max(1, len(chosen)), 3),
            "extracted": len(hits),
            "precision": round(sum(h for _, h in hits) / len(hits), 3) if hits else None,
            "answers_kept": round(sum(r["answer_kept"] for r in answered) / len(answered), 3) if answered else None,
            "question_images": round(sum(r["images_found"] for r in chosen) / images, 3) if images else None,
        }

    kinds = sorted({p["kind"] for p in pages})
    summary = {kind: figures([r for r in records if r["kind"] == kind], [h for h in pair_hits if h[0] == kind])
               for kind in kinds}
    summary["all"] = figures(records, pair_hits)
    return {"summary": summary, "records": records}
