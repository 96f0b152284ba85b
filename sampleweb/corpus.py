"""A deterministic sample web of problem pages with known ground truth.

Layouts follow what the web holds: forum threads, worksheets with a solutions
section, Q&A pages with an accepted answer, textbook worked examples (solutions in
collapsed <details>), tutor pages whose solution arrives by JavaScript after load,
plus shop, news and video pages, mirrored copies under a second URL, and two faulty
pages (HTTP 500 and one that never answers). Every page carries the usual chrome:
navigation, cookie banner, sidebar, advert and footer.
"""
from __future__ import annotations

import csv
import hashlib
import html
import io
import json
import posixpath
import random
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from sampleweb.planted import write_benchmarks
from sampleweb.problems import SUBJECTS, Problem, make_problem, render_diagram

LAYOUTS = ("forum", "worksheet", "qa", "textbook", "tutor")
HOSTS = {
    "forum": "forum.localhost",
    "worksheet": "worksheets.localhost",
    "qa": "qa.localhost",
    "textbook": "textbook.localhost",
    "tutor": "tutor.localhost",
    "shop": "shop.localhost",
    "news": "news.localhost",
    "video": "video.localhost",
    "mirror": "mirror.localhost",
    "sets": "sets.localhost",
    "benchmark": "benchmark.localhost",
}
PLACEHOLDER_GIF = bytes.fromhex("47494638396101000100800000ffffff00000021f90401000000002c00000000010001000002024401003b")


@dataclass
class PageRecord:
    url: str
    layout: str
    subject: str
    qas: list[dict] = field(default_factory=list)
    fault: str | None = None
    duplicate_of: str | None = None


@dataclass
class Site:
    root: Path
    port: int
    pages: list[PageRecord] = field(default_factory=list)
    faults: dict[str, dict] = field(default_factory=dict)
    diagrams: list[tuple[str, str, bytes]] = field(default_factory=list)  # (subject, url, png)
    required_seeds: list[str] = field(default_factory=list)  # figure URLs that must be seeds
    planted: dict[str, int] = field(default_factory=dict)  # planted quality cases by kind
    seed_always: set[str] = field(default_factory=set)  # figure URLs that are always seeds
    seed_never: set[str] = field(default_factory=set)  # and never

    def url(self, host: str, path: str) -> str:
        return f"http://{host}:{self.port}{path}"

    def write(self, host: str, path: str, body: bytes | str) -> None:
        rel = path.lstrip("/")
        if not rel or rel.endswith("/") or "." not in rel.rsplit("/", 1)[-1]:
            rel = rel.rstrip("/") + "/index.html" if rel else "index.html"
        target = self.root / "site" / host / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(body.encode() if isinstance(body, str) else body)

    def add_image(self, host: str, dir_path: str, problem: Problem, rng: random.Random) -> str:
        """Write the problem's figure under dir_path on host; return its file name."""
        buffer = io.BytesIO()
        render_diagram(problem, rng).save(buffer, format="PNG")
        png = buffer.getvalue()
        name = hashlib.sha1(png).hexdigest()[:12] + ".png"
        self.write(host, f"{dir_path.rstrip('/')}/{name}", png)
        self.diagrams.append((problem.subject, self.url(host, f"{dir_path.rstrip('/')}/{name}"), png))
        return name


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _chrome(title: str, body: str, site_name: str, rng: random.Random) -> str:
    related = "".join(f'<li><a href="/t/{rng.randint(1, 999)}">Related question #{rng.randint(1, 999)}</a></li>' for _ in range(4))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>
<style>.cookie-banner{{position:fixed;bottom:0;background:#eee}} .hidden-print{{display:none}}</style></head>
<body>
<header class="site-header"><a class="logo" href="/">{_e(site_name)}</a>
<nav><a href="/">Home</a> <a href="/topics">Topics</a> <a href="/search">Search</a> <a href="/login">Log in</a></nav></header>
<div class="cookie-banner" id="cookie-consent">We use cookies to improve your experience on {_e(site_name)}. <button>Accept all</button></div>
<main>
{body}
</main>
<aside class="sidebar"><h3>Related questions</h3><ul>{related}</ul></aside>
<div class="ad-slot" aria-label="advertisement">Advertisement: the best graphing calculators, 20% off this week only!</div>
<div class="hidden-print">Print this page for your records.</div>
<footer><p>&copy; 2026 {_e(site_name)}. All rights reserved. <a href="/privacy">Privacy</a> &middot; <a href="/terms">Terms</a></p></footer>
</body></html>
"""


def _steps_html(problem: Problem) -> str:
    return "".join(f"<p>{_e(s)}</p>" for s in problem.steps)


def _qa(problem: Problem, question_images: list[str]) -> dict:
    return {
        "question": problem.question,
        "answer": problem.answer,
        "solution": " ".join(problem.steps),
        "subject": problem.subject,
        "question_images": question_images,
        "solution_images": [],
    }


class Generator:
    def __init__(self, root: Path, port: int, content_pages: int, seed: int):
        self.site = Site(root=root, port=port)
        self.rng = random.Random(seed)
        self.content_pages = content_pages
        self.seen_questions: set[str] = set()

    def problem(self, subject: str, with_diagram: bool) -> Problem:
        while True:
            problem = make_problem(subject, self.rng, with_diagram)
            if problem.question not in self.seen_questions:
                self.seen_questions.add(problem.question)
                return problem

    # ---- layouts -------------------------------------------------------------------
    def forum(self, n: int, subject: str) -> PageRecord:
        host, path = HOSTS["forum"], f"/t/{1000 + n}/need-help-with-{subject}"
        p = self.problem(subject, True)
        img = ""
        images = []
        if p.diagram:
            name = self.site.add_image(host, "/img", p, self.rng)
            img = f'<img src="/img/{name}" alt="my sketch of the problem">'
            images = [self.site.url(host, f"/img/{name}")]
        body = f"""<h1>Need help with a {subject} question</h1>
<article class="post" id="post-1"><div class="author">student{n} &middot; posted 3 days ago</div>
<div class="post-body"><p>{_e(p.question)}</p>{img}<p class="signature">Thanks in advance!</p></div></article>
<article class="post" id="post-2"><div class="author">helper{n % 7}</div><div class="post-body"><p>What have you tried so far? Post your working.</p></div></article>
<article class="post accepted" id="post-3"><div class="badge">&#10004; Solution</div><div class="author">tutor_{n % 5}</div>
<div class="post-body">{_steps_html(p)}<p>Answer: {_e(p.answer)}</p></div></article>
<article class="post" id="post-4"><div class="author">student{n}</div><div class="post-body"><p>Got it, thank you so much!</p></div></article>"""
        self.site.write(host, path, _chrome(f"Need help with a {subject} question", body, "StudyForum", self.rng))
        return PageRecord(self.site.url(host, path), "forum", subject, [_qa(p, images)])

    def worksheet(self, n: int, subject: str) -> PageRecord:
        host, path = HOSTS["worksheet"], f"/sheets/{subject}-{n}.html"
        problems = [self.problem(subject, i != 1) for i in range(3)]
        return self.problem_sheet(host, path, n, subject, problems, shown=lambda i: i != 2)

    def problem_sheet(self, host: str, path: str, n: int, subject: str, problems: list[Problem], shown) -> PageRecord:
        """A worksheet of problems with a solutions section; shown(i) says whether problem i's figure is on the page."""
        figures = posixpath.dirname(path) + "/img"  # the page refers to its figures relatively
        qas, blocks, solutions = [], [], []
        for i, p in enumerate(problems, 1):
            img, images = "", []
            if p.diagram and shown(i):
                name = self.site.add_image(host, figures, p, self.rng)
                img = f'<img src="img/{name}" alt="Figure for problem {i}">'  # relative path
                images = [self.site.url(host, f"{figures}/{name}")]
            blocks.append(f'<div class="problem"><p><b>Problem {i}.</b> {_e(p.question)}</p>{img}</div>')
            solutions.append(f"<li>{_steps_html(p)}<p>Answer: {_e(p.answer)}</p></li>")
            qas.append(_qa(p, images))
        body = f"""<h1>{subject.title()} practice worksheet {n}</h1>
<p>Answer all questions. Show your working and give units.</p>
{''.join(blocks)}
<h2>Solutions</h2>
<ol class="solutions">{''.join(solutions)}</ol>"""
        self.site.write(host, path, _chrome(f"{subject.title()} worksheet {n}", body, "Free Worksheets", self.rng))
        return PageRecord(self.site.url(host, path), "worksheet" if host == HOSTS["worksheet"] else "sheet", subject, qas)

    def qa(self, n: int, subject: str) -> PageRecord:
        host, path = HOSTS["qa"], f"/questions/{5000 + n}/{subject}-problem"
        p = self.problem(subject, True)
        img, images = "", []
        if p.diagram:
            name = self.site.add_image(host, "/img", p, self.rng)
            # Lazy-loaded: the real source sits in data-src until the image scrolls into view.
            img = f'<img class="lazy" src="/static/placeholder.gif" data-src="/img/{name}" loading="lazy" alt="figure">'
            images = [self.site.url(host, f"/img/{name}")]
        wrong = "I think it is 42, but I am not sure about the units."
        body = f"""<div class="question"><h1>How do I solve this {subject} problem?</h1><div class="votes">{n % 17} votes</div>
<div class="q-body"><p>{_e(p.question)}</p>{img}</div><div class="tags">{subject} homework</div></div>
<h2>2 Answers</h2>
<div class="answer"><div class="votes">1 vote</div><p>{_e(wrong)}</p></div>
<div class="answer accepted-answer"><span class="accepted-badge" title="Accepted answer">&#10003; Accepted answer</span><div class="votes">{n % 9 + 3} votes</div>
{_steps_html(p)}<p>Final answer: {_e(p.answer)}</p></div>"""
        self.site.write(host, path, _chrome(f"How do I solve this {subject} problem?", body, "AskScience Q&A", self.rng))
        return PageRecord(self.site.url(host, path), "qa", subject, [_qa(p, images)])

    def textbook(self, n: int, subject: str) -> PageRecord:
        chapter = n % 9 + 1
        host, path = HOSTS["textbook"], f"/{subject}/ch{chapter}/example-{n}.html"
        p = self.problem(subject, n % 3 != 0)
        img, images = "", []
        if p.diagram:
            name = self.site.add_image(host, f"/{subject}/figures", p, self.rng)
            img = f'<img src="../figures/{name}" alt="Figure {chapter}.{n}">'  # relative to the chapter folder
            images = [self.site.url(host, f"/{subject}/figures/{name}")]
        solution = f"{_steps_html(p)}<p>Answer: {_e(p.answer)}</p>"
        if n % 2:
            solution_block = f"<details><summary>Show solution</summary><h4>Solution</h4>{solution}</details>"
        else:
            solution_block = f"<h4>Solution</h4>{solution}"
        body = f"""<h1>Chapter {chapter}: worked examples in {subject}</h1>
<p>In this section we apply the ideas of the chapter to a typical exercise. Read the statement carefully before looking at the worked solution.</p>
<section class="example"><h3>Example {chapter}.{n}</h3><p>{_e(p.question)}</p>{img}
{solution_block}</section>
<p>Practise more exercises like this one at the end of the chapter.</p>"""
        self.site.write(host, path, _chrome(f"Chapter {chapter} examples", body, "Open Textbook", self.rng))
        return PageRecord(self.site.url(host, path), "textbook", subject, [_qa(p, images)])

    def tutor(self, n: int, subject: str) -> PageRecord:
        host, path = HOSTS["tutor"], f"/problems/{700 + n}"
        p = self.problem(subject, True)
        img, images = "", []
        if p.diagram:
            name = self.site.add_image(host, "/img", p, self.rng)
            img = f'<img srcset="/img/{name} 1x" src="/img/{name}" alt="problem figure">'
            images = [self.site.url(host, f"/img/{name}")]
        solution_html = f"<h2>Solution</h2>{_steps_html(p)}<p>Answer: {_e(p.answer)}</p>"
        self.site.write(host, f"/api/solutions/{700 + n}.json", json.dumps({"html": solution_html}))
        body = f"""<h1>Practice problem {700 + n}</h1>
<div class="problem-statement"><p>{_e(p.question)}</p>{img}</div>
<div id="solution-box"><p class="loading">Loading solution...</p></div>
<script>
window.addEventListener('load', function () {{
  fetch('/api/solutions/{700 + n}.json').then(function (r) {{ return r.json(); }}).then(function (s) {{
    document.getElementById('solution-box').innerHTML = s.html;
  }});
}});
</script>"""
        self.site.write(host, path, _chrome(f"Practice problem {700 + n}", body, "TutorNow", self.rng))
        return PageRecord(self.site.url(host, path), "tutor", subject, [_qa(p, images)])

    # ---- noise -----------------------------------------------------------------------
    def noise(self, n: int, kind: str) -> PageRecord:
        host = HOSTS[kind]
        subject, figure_url, _ = self.rng.choice(self.site.diagrams)
        if kind == "shop":
            path, title = f"/product/{n}", f"{subject.title()} classroom poster"
            body = f"""<h1>{title}</h1><img src="{figure_url}" alt="poster">
<p class="price">$12.99</p><button>Add to cart</button>
<h2>Customer questions</h2><p>Q: Does it come framed? A: No, frames are sold separately.</p>"""
        elif kind == "news":
            path, title = f"/2026/school-story-{n}.html", f"Local students shine in {subject} competition"
            body = f"""<h1>{title}</h1><img src="{figure_url}" alt="competition task">
<p>Students from twelve schools met on Saturday for the regional {subject} challenge. Organisers said the tasks were harder than last year.</p>
<p>The winning team will travel to the national final in spring.</p>"""
        else:
            path, title = f"/watch/{n}", f"{subject.title()} explained in 5 minutes"
            body = f"""<h1>{title}</h1><img src="{figure_url}" alt="video thumbnail">
<p>1,204 views &middot; Subscribe for more videos.</p>"""
        self.site.write(host, path, _chrome(title, body, kind.title(), self.rng))
        return PageRecord(self.site.url(host, path), kind, subject)

    def mirror(self, original: PageRecord) -> PageRecord:
        """Copy a page, with its relative figures, under a second URL."""
        src_host = original.url.split("//")[1].split(":")[0]
        src_path = "/" + original.url.split("//")[1].split("/", 1)[1]
        path = f"/archive/{src_host.split('.')[0]}{src_path}"
        src_file = self.site.root / "site" / src_host / src_path.lstrip("/")
        self.site.write(HOSTS["mirror"], path, src_file.read_bytes())
        qas = []
        for qa in original.qas:
            moved = []
            for image_url in qa["question_images"]:
                image_path = "/" + image_url.split("//")[1].split("/", 1)[1]
                rel = posixpath.relpath(image_path, posixpath.dirname(src_path))
                target = posixpath.normpath(posixpath.join(posixpath.dirname(path), rel))
                self.site.write(HOSTS["mirror"], target, (self.site.root / "site" / src_host / image_path.lstrip("/")).read_bytes())
                moved.append(self.site.url(HOSTS["mirror"], target))
            qas.append({**qa, "question_images": moved})
        return PageRecord(self.site.url(HOSTS["mirror"], path), "mirror", original.subject, qas, duplicate_of=original.url)

    # ---- the whole corpus ------------------------------------------------------------
    def build(self) -> Site:
        for host in HOSTS.values():
            self.site.write(host, "/static/placeholder.gif", PLACEHOLDER_GIF)
        pages = []
        for n in range(self.content_pages):
            layout = LAYOUTS[n % len(LAYOUTS)]
            subject = SUBJECTS[(n // len(LAYOUTS)) % len(SUBJECTS)]
            pages.append(getattr(self, layout)(n, subject))
        content = list(pages)
        for n in range(max(3, self.content_pages // 8)):
            pages.append(self.noise(n, ("shop", "news", "video")[n % 3]))
        static_layouts = [p for p in content if p.layout in ("worksheet", "textbook") and p.qas[0]["question_images"]]
        for original in static_layouts[: max(2, self.content_pages // 8)]:
            pages.append(self.mirror(original))
        illustrated = [p for p in content if p.layout in ("forum", "qa") and p.qas[0]["question_images"]]
        for page, fault in zip(illustrated[:2], ("http_500", "timeout")):
            page.fault = fault
            key = page.url.split("//")[1].split(":")[0] + "/" + page.url.split("//")[1].split("/", 1)[1]
            self.site.faults[key] = {"status": 500} if fault == "http_500" else {"delay_s": 3600}
        pages += self.plant_search_rounds()
        from sampleweb.planted import plant  # planted pages are built from the pages above

        planted, self.site.required_seeds, self.site.planted = plant(self, content)
        self.site.pages = pages + planted
        return self.site

    # ---- pages for the second search round and for the benchmark filter ------------------------
    def plant_search_rounds(self) -> list[PageRecord]:
        """Problem sets of two illustrated problems whose first figure is always a seed and whose
        second is never one; a forum thread asks about that second figure: round 1 cannot find
        the thread, round 2 (seeded by the set's QAs) can. A benchmark host shows the first figure:
        found in round 1, dropped by the benchmark filter."""
        pages = []
        for n in range(max(1, self.content_pages // 30)):
            subject = SUBJECTS[n % len(SUBJECTS)]
            problems = [self.problem(subject, True), self.problem(subject, True)]
            sheet = self.problem_sheet(HOSTS["sets"], f"/sets/{subject}-{n}.html", 900 + n, subject, problems, shown=lambda i: True)
            first, second = (qa["question_images"][0] for qa in sheet.qas)
            self.site.seed_always.add(first)
            self.site.seed_never.add(second)
            pages += [sheet, self.follow_up(n, subject, second), self.benchmark_item(n, subject, first)]
        return pages

    def _copy_image(self, image_url: str, host: str, path: str) -> str:
        src = image_url.split("//")[1]
        data = (self.site.root / "site" / src.split(":")[0] / src.split("/", 1)[1]).read_bytes()
        self.site.write(host, path, data)
        return self.site.url(host, path)

    def follow_up(self, n: int, subject: str, figure_url: str) -> PageRecord:
        host, path = HOSTS["forum"], f"/t/{3000 + n}/same-figure-another-question"
        p = self.problem(subject, False)
        image = self._copy_image(figure_url, host, f"/img/follow-up-{n}.png")
        body = f"""<h1>Another question about this {subject} figure</h1>
<article class="post" id="post-1"><div class="author">student{n} &middot; posted yesterday</div>
<div class="post-body"><p>{_e(p.question)}</p><img src="/img/follow-up-{n}.png" alt="the figure"></div></article>
<article class="post accepted" id="post-2"><div class="badge">&#10004; Solution</div><div class="author">tutor_{n % 5}</div>
<div class="post-body">{_steps_html(p)}<p>Answer: {_e(p.answer)}</p></div></article>"""
        self.site.write(host, path, _chrome(f"Another question about this {subject} figure", body, "StudyForum", self.rng))
        return PageRecord(self.site.url(host, path), "forum", subject, [_qa(p, [image])])

    def benchmark_item(self, n: int, subject: str, figure_url: str) -> PageRecord:
        host, path = HOSTS["benchmark"], f"/items/{n}"
        p = self.problem(subject, False)
        self._copy_image(figure_url, host, f"/items/{n}.png")
        body = f"""<h1>Benchmark item {n}</h1><p>{_e(p.question)}</p><img src="/items/{n}.png" alt="item figure">"""
        self.site.write(host, path, _chrome(f"Benchmark item {n}", body, "Benchmark", self.rng))
        return PageRecord(self.site.url(host, path), "benchmark", subject)


def _perturb(png: bytes, rng: random.Random) -> bytes:
    """A seed as a user would hold it: resized, slightly cropped and re-encoded as JPEG."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    w, h = image.size
    dx, dy = int(w * 0.02), int(h * 0.02)
    image = image.crop((dx, dy, w - dx, h - dy))
    scale = rng.uniform(0.7, 1.3)
    image = image.resize((int(image.width * scale), int(image.height * scale)))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=rng.randint(70, 90))
    return out.getvalue()


def generate(root: Path, port: int, content_pages: int = 120, seed: int = 7, seed_fraction: float = 0.45) -> dict:
    """Write the site, its ground truth and the demo seeds under root; return the manifest."""
    params = {"port": port, "content_pages": content_pages, "seed": seed, "seed_fraction": seed_fraction, "format": 4}
    manifest_path = root / "ground_truth.json"
    if manifest_path.is_file():
        existing = json.loads(manifest_path.read_text())
        if existing.get("params") == params:
            return existing
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    site = Generator(root, port, content_pages, seed).build()
    rng = random.Random(seed + 1)
    seeds_dir = root / "seeds"
    seeds_dir.mkdir()
    # The faulty pages' figures are always seeds, so every run meets both faults.
    fault_images = {u for p in site.pages if p.fault for qa in p.qas for u in qa["question_images"]}
    # The figures that must (or must not) be seeds are decided before the draw, so that they take
    # no draw from the others.
    required = fault_images | set(site.required_seeds) | site.seed_always
    chosen = [
        d for d in site.diagrams
        if "mirror.localhost" not in d[1] and d[1] not in site.seed_never
        and (d[1] in required or rng.random() < seed_fraction)
    ]
    rows = []
    for i, (subject, _url, png) in enumerate(chosen):
        name = f"seed_{i:04d}.jpg"
        (seeds_dir / name).write_bytes(_perturb(png, rng))
        rows.append({"path": name, "subject": subject})
    # A scan that broke in transit: the pipeline must report it and go on.
    broken = _perturb(chosen[0][2], rng)
    (seeds_dir / "seed_broken.jpg").write_bytes(broken[: len(broken) // 3])
    rows.append({"path": "seed_broken.jpg", "subject": chosen[0][0]})
    with open(seeds_dir / "manifest.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["path", "subject"])
        writer.writeheader()
        writer.writerows(rows)
    manifest = {
        "params": params,
        "pages": [p.__dict__ for p in site.pages],
        "faults": site.faults,
        "seeds": len(rows),
        "planted": site.planted,
        "benchmark_items": write_benchmarks(root),
    }
    (root / "faults.json").write_text(json.dumps(site.faults, indent=1))
    manifest_path.write_text(json.dumps(manifest, indent=1))
    return manifest
