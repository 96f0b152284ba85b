"""The dataset browser: a static HTML site over the tables, for people to look at the data.

`index.html` shows every final QA (the dataset and the dropped rows, with their reasons) as a
card with its images, question, answer, verified flag, subject, round and source page, with
filters by status, subject and round, and the funnel and quality figures on top. Each QA has
a page, `qa/<final_id>.html`, with its lineage: the candidate QAs merged into it, the page,
the search hits and the seed images that found it. Images are written beside the pages, so
the folder can be opened from disk, copied, or logged as an MLflow artifact.
"""
from __future__ import annotations

import html
import json
import shutil
from pathlib import Path
from typing import Any, Iterable

from pyspark.sql import functions as F

from runtime.tables import Tables

FINAL_COLUMNS = ("final_id", "qa_id", "source_qa_ids", "status", "reason", "question", "solution", "answer", "answer_source",
                 "verified", "subject", "round", "url", "page_id", "image_ids", "hit_ids", "seed_ids", "duplicate_of",
                 "benchmark_item", "match_kind", "match_score")
STYLE = """
body{font:15px/1.45 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d2330}
header{background:#1d2b4f;color:#fff;padding:16px 24px}header a{color:#cfe0ff}
main{padding:16px 24px}h1{margin:0 0 4px;font-size:22px}
.figures{display:flex;gap:16px;flex-wrap:wrap;align-items:flex-start}
table.funnel{border-collapse:collapse;background:#fff}table.funnel td{padding:2px 10px;border-bottom:1px solid #e3e6ea}
.figures img{max-height:220px;background:#fff;border:1px solid #d8dce2}
.filters{margin:16px 0;display:flex;gap:16px;align-items:center}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:14px}
.card{background:#fff;border:1px solid #d8dce2;border-radius:8px;padding:12px;border-top:5px solid #2f7d4f}
.card.dropped{border-top-color:#b3412f}.card[hidden]{display:none}
.card img,.qa img{max-width:100%;max-height:180px;display:block;margin:6px 0;background:#fafafa}
.meta{font-size:13px;color:#5b6270}.reason{color:#b3412f;font-size:13px}
.q{white-space:pre-wrap}.yes{color:#2f7d4f;font-weight:600}.no{color:#8a8f99}
section.step{background:#fff;border:1px solid #d8dce2;border-radius:8px;padding:10px 14px;margin:12px 0}
"""
FILTER_SCRIPT = """
const selects = [...document.querySelectorAll('.filters select')];
function apply() {
  let shown = 0;
  for (const card of document.querySelectorAll('.card')) {
    const ok = selects.every(s => s.value === '*' || card.dataset[s.name] === s.value);
    card.hidden = !ok; shown += ok;
  }
  document.getElementById('shown').textContent = shown;
}
selects.forEach(s => s.addEventListener('change', apply)); apply();
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _image_file(content: bytes) -> str:
    return "jpg" if content[:2] == b"\xff\xd8" else "png"


def _write_images(rows: Iterable[Any], folder: Path, prefix: str) -> dict[str, str]:
    """id -> file name under folder, for rows (id, content)."""
    folder.mkdir(parents=True, exist_ok=True)
    names = {}
    for row in rows:
        if row["content"]:
            name = f"{prefix}{row['id']}.{_image_file(row['content'])}"
            (folder / name).write_bytes(row["content"])
            names[row["id"]] = name
    return names


def _page(title: str, body: str, root: str = "") -> str:
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{_e(title)}</title>"
            f"<link rel=stylesheet href='{root}style.css'></head><body>{body}</body></html>")


def _card(qa: dict, images: dict[str, str]) -> str:
    dropped = qa["status"] != "ok"
    pictures = "".join(f"<img src='img/{images[i]}' alt='image {_e(i)}'>" for i in qa["image_ids"] if i in images)
    question = qa["question"] if len(qa["question"]) <= 400 else qa["question"][:399] + "…"
    verified = "<span class=yes>verified</span>" if qa["verified"] else "<span class=no>not verified</span>"
    reason = f"<div class=reason>{_e(qa['status'])}: {_e(qa['reason'])}</div>" if dropped else ""
    return (
        f"<article class='card{' dropped' if dropped else ''}' data-status='{_e(qa['status'])}' "
        f"data-subject='{_e(qa['subject'] or 'none')}' data-round='{qa['round']}' id='{_e(qa['final_id'])}'>"
        f"{reason}{pictures}<div class=q>{_e(question)}</div>"
        f"<p><b>Answer:</b> {_e(qa['answer'] or '—')} · {verified}</p>"
        f"<div class=meta>{_e(qa['subject'] or 'no subject')} · round {qa['round']} · "
        f"<a href='{_e(qa['url'])}' rel=noreferrer>source page</a> · "
        f"<a class=lineage href='qa/{_e(qa['final_id'])}.html'>lineage</a></div></article>"
    )


def _options(name: str, label: str, values: Iterable[str], default: str = "*") -> str:
    choices = "".join(f"<option value='{_e(v)}'{' selected' if v == default else ''}>{_e(v)}</option>" for v in values)
    return f"<label>{label} <select name={name}><option value='*'>all</option>{choices}</select></label>"


def _index(qas: list[dict], images: dict[str, str], funnel: dict[str, int], figures: list[str], title: str) -> str:
    statuses = sorted({q["status"] for q in qas}, key=lambda s: (s != "ok", s))
    subjects = sorted({q["subject"] or "none" for q in qas})
    rounds = sorted({str(q["round"]) for q in qas}, key=int)
    kept = sum(q["status"] == "ok" for q in qas)
    rows = "".join(f"<tr><td>{_e(k.replace('_', ' '))}</td><td>{v}</td></tr>" for k, v in funnel.items())
    pictures = "".join(f"<img src='figures/{_e(f)}' alt='{_e(f)}'>" for f in figures)
    return _page(title, (
        f"<header><h1>{_e(title)}</h1>{kept} QAs in the dataset, {len(qas) - kept} dropped</header><main>"
        f"<div class=figures><table class=funnel>{rows}</table>{pictures}</div>"
        f"<div class=filters>{_options('status', 'Status', statuses, 'ok')}{_options('subject', 'Subject', subjects)}"
        f"{_options('round', 'Round', rounds)}<span><b id=shown>{kept}</b> shown</span></div>"
        f"<div class=cards>{''.join(_card(q, images) for q in qas)}</div></main><script>{FILTER_SCRIPT}</script>"
    ))


def _rows_table(rows: list[dict], columns: Iterable[str]) -> str:
    columns = list(columns)
    head = "".join(f"<th>{_e(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_e(r.get(c))}</td>" for c in columns) + "</tr>" for r in rows)
    return f"<table class=funnel><tr>{head}</tr>{body}</table>"


def _qa_page(qa: dict, lineage: dict[str, list[dict]], images: dict[str, str], seeds: dict[str, str]) -> str:
    pictures = "".join(f"<img src='../img/{images[i]}' alt='image {_e(i)}'>" for i in qa["image_ids"] if i in images)
    status = "in the dataset" if qa["status"] == "ok" else f"dropped: {qa['status']} ({qa['reason']})"
    duplicate = f" of <a href='{_e(qa['duplicate_of'])}.html'>{_e(qa['duplicate_of'])}</a>" if qa["duplicate_of"] else ""
    seed_cards = "".join(
        f"<div><img class=seed src='../img/{seeds[s['seed_id']]}' alt='seed {_e(s['seed_id'])}'>"
        f"<div class=meta>{_e(s['source'])} · {_e(s['subject'])} · round {s['round']}</div></div>"
        for s in lineage["seeds"] if s["seed_id"] in seeds
    )
    steps = [
        ("Candidate QAs merged into it", _rows_table(lineage["candidate_qas"], ("qa_id", "pattern", "engine", "url"))),
        ("Page", _rows_table(lineage["pages"], ("url_id", "url", "title", "status"))),
        ("Search hits that found the page", _rows_table(lineage["search_hits"], ("hit_id", "seed_id", "provider", "round", "rank", "distance"))),
        ("Seed images", seed_cards or "<p class=meta>no seed image stored</p>"),
    ]
    body = (
        f"<header><a href='../index.html'>← all QAs</a><h1>QA {_e(qa['final_id'])}</h1>{_e(status)}{duplicate}</header>"
        f"<main class=qa><section class=step>{pictures}<p class=q>{_e(qa['question'])}</p>"
        f"<p><b>Solution:</b> <span class=q>{_e(qa['solution'] or '—')}</span></p>"
        f"<p><b>Answer:</b> {_e(qa['answer'] or '—')} ({_e(qa['answer_source'])}) · {'verified' if qa['verified'] else 'not verified'}</p>"
        f"<p class=meta>{_e(qa['subject'])} · round {qa['round']} · <a href='{_e(qa['url'])}' rel=noreferrer>{_e(qa['url'])}</a></p></section>"
        + "".join(f"<section class=step><h3>{_e(title)}</h3>{content}</section>" for title, content in steps)
        + "</main>"
    )
    return _page(f"QA {qa['final_id']}", body, root="../")


def _collect(tables: Tables, name: str, key: str, ids: set[str], columns: Iterable[str]) -> list[dict]:
    if not ids or not tables.exists(name):
        return []
    df = tables.read(name)
    wanted = [c for c in columns if c in df.columns]
    return [r.asDict(recursive=True) for r in df.where(F.col(key).isin(sorted(ids))).select(*wanted).collect()]


def _image_contents(tables: Tables, ids: set[str]) -> Iterable[Any]:
    """(id, content) of the images, streamed to the driver one partition at a time."""
    if not ids or not tables.exists("images"):
        return []
    images = tables.read("images")
    wanted = images.where(F.col("image_id").isin(sorted(ids))).alias("i")
    # A repeated picture is stored once, on the row it duplicates.
    held = images.select("image_id", "content").alias("h")
    joined = wanted.join(held, F.col("i.duplicate_of") == F.col("h.image_id"), "left")
    return joined.select(F.col("i.image_id").alias("id"), F.coalesce("i.content", "h.content").alias("content")).toLocalIterator()


def write_browser(tables: Tables, folder: Path, funnel: dict[str, int], figures_from: Path | None = None,
                  title: str = "WebMine dataset", max_qas: int = 2000) -> Path:
    """Write the site into folder (replacing what was there) and return its index.html.
    At most max_qas final QAs (the dataset's first, by final_id, then the dropped ones)."""
    if folder.exists():
        shutil.rmtree(folder)
    (folder / "qa").mkdir(parents=True)
    (folder / "style.css").write_text(STYLE)
    final = tables.read("final_qas").select(*FINAL_COLUMNS).orderBy(F.col("status") != "ok", "final_id").limit(max_qas)
    qas = [r.asDict(recursive=True) for r in final.collect()]
    images = _write_images(_image_contents(tables, {i for q in qas for i in q["image_ids"]}), folder / "img", "")
    candidates = _collect(tables, "candidate_qas", "qa_id", {i for q in qas for i in [q["qa_id"], *q["source_qa_ids"]]},
                          ("qa_id", "pattern", "engine", "url", "page_id"))
    pages = _collect(tables, "pages", "url_id", {q["page_id"] for q in qas}, ("url_id", "url", "title", "status"))
    hits = _collect(tables, "search_hits", "hit_id", {h for q in qas for h in q["hit_ids"]},
                    ("hit_id", "seed_id", "provider", "round", "rank", "distance", "url"))
    seed_rows = _collect(tables, "seeds", "seed_id", {s for q in qas for s in q["seed_ids"]} | {h["seed_id"] for h in hits},
                         ("seed_id", "source", "subject", "round", "content"))
    seeds = _write_images(({"id": s["seed_id"], "content": s.pop("content")} for s in seed_rows), folder / "img", "seed-")
    figures = []
    if figures_from is not None and figures_from.is_dir():
        (folder / "figures").mkdir()
        for png in sorted(figures_from.glob("*.png")):
            shutil.copy(png, folder / "figures" / png.name)
            figures.append(png.name)
    (folder / "index.html").write_text(_index(qas, images, funnel, figures, title))
    for qa in qas:
        mine = {i for i in [qa["qa_id"], *qa["source_qa_ids"]]}
        my_hits = [h for h in hits if h["hit_id"] in set(qa["hit_ids"])]
        my_seeds = set(qa["seed_ids"]) | {h["seed_id"] for h in my_hits}
        lineage = {
            "candidate_qas": [c for c in candidates if c["qa_id"] in mine],
            "pages": [p for p in pages if p["url_id"] == qa["page_id"]],
            "search_hits": sorted(my_hits, key=lambda h: (h["round"], h["rank"])),
            "seeds": [s for s in seed_rows if s["seed_id"] in my_seeds],
        }
        (folder / "qa" / f"{qa['final_id']}.html").write_text(_qa_page(qa, lineage, images, seeds))
    (folder / "browse.json").write_text(json.dumps({"qas": len(qas), "images": len(images), "seeds": len(seeds)}))
    return folder / "index.html"
