"""A deterministic sample web of problem pages with known ground truth.

Layouts follow what the web holds: forum threads, worksheets with a solutions
section, Q&A pages with an accepted answer, textbook worked examples (solutions in
collapsed <details>), tutor pages whose solution arrives by JavaScript after load,
and pages written the way real engines write them: Q&A pages with schema.org
microdata whose accepted answer is neither the first nor the top-voted one, forum
threads of look-alike message blocks with generated class names (votes and the
accepted mark only in attributes, JSON-LD on some), problem pages whose solution
sits in a spoiler, and exercise sets with a short answer key at the end. Besides
those: shop, news and video pages, mirrored copies under a second URL, and two faulty
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
import re
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import NamedTuple

from PIL import Image

from sampleweb.planted import write_benchmarks
from sampleweb.problems import SUBJECTS, Problem, _fmt, make_problem, render_diagram

# Content page n has layout LAYOUT_CYCLE[n % 10]. Slots 1 and 6 hold three problems each and
# the others one, so every corpus size holds the same number of QAs whatever the layouts.
LAYOUT_CYCLE = ("forum", "worksheet", "qa", "textbook", "tutor",
                "thread", "answer_key", "qa_microdata", "hidden_solution", "tutor")
HOSTS = {
    "forum": "forum.localhost",
    "worksheet": "worksheets.localhost",
    "qa": "qa.localhost",
    "textbook": "textbook.localhost",
    "tutor": "tutor.localhost",
    "thread": "community.localhost",
    "answer_key": "exercises.localhost",
    "qa_microdata": "ask.localhost",
    "hidden_solution": "weekly.localhost",
    "shop": "shop.localhost",
    "news": "news.localhost",
    "video": "video.localhost",
    "mirror": "mirror.localhost",
    "sets": "sets.localhost",
    "benchmark": "benchmark.localhost",
}
CHECK_ICON = ('<svg aria-hidden="true" width="18" height="18" viewBox="0 0 18 18">'
              '<path d="M2 9l5 5L16 4" fill="none" stroke="currentColor" stroke-width="2"/></svg>')
PLACEHOLDER_GIF = bytes.fromhex("47494638396101000100800000ffffff00000021f90401000000002c00000000010001000002024401003b")


@dataclass
class PageRecord:
    url: str
    layout: str
    subject: str
    qas: list[dict] = field(default_factory=list)
    fault: str | None = None
    duplicate_of: str | None = None


class Message(NamedTuple):
    """One message of a forum thread."""
    user: str
    hours: int  # after the first message
    body: str  # HTML
    likes: int
    accepted: bool = False


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


def _chrome(title: str, body: str, site_name: str, rng: random.Random, head: str = "") -> str:
    related = "".join(f'<li><a href="/t/{rng.randint(1, 999)}">Related question #{rng.randint(1, 999)}</a></li>' for _ in range(4))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>
<style>.cookie-banner{{position:fixed;bottom:0;background:#eee}} .hidden-print{{display:none}}</style>{head}</head>
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


def _qa(problem: Problem, question_images: list[str], worked: bool = True) -> dict:
    """The ground truth of one problem; a page that states only the answer (an answer key) has no solution."""
    return {
        "question": problem.question,
        "answer": problem.answer,
        "solution": " ".join(problem.steps) if worked else "",
        "subject": problem.subject,
        "question_images": question_images,
        "solution_images": [],
    }


def _slip(answer: str) -> str:
    """The answer with its first number changed: what a plausible but wrong reply arrives at."""
    return re.sub(r"\d+(?:\.\d+)?", lambda m: _fmt(float(m.group()) * 2 + 1), answer, count=1)


def _first_sentence(text: str) -> str:
    return re.split(r"(?<=[.?!])\s", text, maxsplit=1)[0]


def _when(n: int, hours: int = 0) -> datetime:
    """When page n's thread started (hours=0) or got a reply; deterministic, as the pages are."""
    return datetime(2025, 1, 6, 9, 30) + timedelta(days=2 * n, hours=hours, minutes=7 * hours)


def _json_ld(data: dict) -> str:
    # "</" never ends the script early: json.dumps escapes no slashes, so do it here.
    text = json.dumps(data, ensure_ascii=False).replace("</", "<\\/")
    return f'<script type="application/ld+json">{text}</script>'


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
        # Boards word the accepted mark and the post date in their own ways.
        badge = ("&#10004; Solution", "&#10003; Accepted", "Best answer")[(n // 10) % 3]
        posted = ("posted 3 days ago", "3 days ago", "edited 2 hours ago")[(n // 10) % 3]
        body = f"""<h1>Need help with a {subject} question</h1>
<article class="message" id="m-1"><div class="author">student{n} &middot; {posted}</div>
<div class="message-body"><p>{_e(p.question)}</p>{img}<p class="signature">Thanks in advance!</p></div></article>
<article class="message" id="m-2"><div class="author">helper{n % 7}</div>
<div class="message-body"><p>What have you tried so far? Post your working.</p></div></article>
<article class="message is-solution" id="m-3"><div class="badge">{badge}</div><div class="author">tutor_{n % 5}</div>
<div class="message-body">{_steps_html(p)}<p>Answer: {_e(p.answer)}</p></div></article>
<article class="message" id="m-4"><div class="author">student{n}</div>
<div class="message-body"><p>Got it, thank you so much!</p></div></article>"""
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
<div class="answer"><div class="votes">1 vote</div><p>{_e(wrong)}</p>
<div class="signature"><a href="/users/{n * 13 % 97}/guesser">guesser</a> <time datetime="2025-03-0{n % 9 + 1}">Mar {n % 9 + 1}</time></div></div>
<div class="answer accepted-answer"><span class="accepted-badge" title="Accepted answer">&#10003; Accepted answer</span>\
<div class="votes">{n % 9 + 3} votes</div>
{_steps_html(p)}<p>Final answer: {_e(p.answer)}</p>
<div class="signature"><a href="/users/{n * 7 % 89}/tutor">tutor</a> <time datetime="2025-03-1{n % 9}">Mar 1{n % 9}</time></div></div>"""
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

    def qa_microdata(self, n: int, subject: str) -> PageRecord:
        """A Q&A page marked up with schema.org microdata. The asker accepted the second answer: the
        first is the top-voted one and reaches a wrong number, so neither first nor top-voted is right.
        Votes are a plain number beside an aria-label, a data-score and an upvoteCount (a <meta> on some
        pages); the accepted mark is an icon with a title."""
        host, qid = HOSTS["qa_microdata"], 8000 + n
        path = f"/q/{qid}/stuck-on-a-{subject}-exercise"
        p = self.problem(subject, True)
        title = f"Stuck on a {subject} exercise: where does my working go wrong?"
        img, images = "", []
        if p.diagram:
            name = self.site.add_image(host, "/i", p, self.rng)
            img = f'<p><img src="/i/{name}" alt="enter image description here" width="360" height="260"></p>'
            images = [self.site.url(host, f"/i/{name}")]
        asker = f"learner{n * 37 % 1000}"

        def votes(score: int) -> str:
            if (n // 10) % 2 == 0:
                return (f'<div class="vc"><meta itemprop="upvoteCount" content="{score}">'
                        f'<span class="vc-num" aria-label="{score} votes">{score}</span></div>')
            return (f'<div class="vc"><span class="vc-num" itemprop="upvoteCount" aria-label="{score} votes">'
                    f'{score}</span></div>')

        def signed(verb: str, user: str, hours: int) -> str:
            at = _when(n, hours)
            return (f'<div class="ucard">{verb} <time itemprop="dateCreated" datetime="{at.isoformat()}Z">'
                    f'{at:%b} {at.day}, {at:%Y} at {at:%H:%M}</time> '
                    f'<span itemprop="author" itemscope itemtype="https://schema.org/Person">'
                    f'<a itemprop="url" href="/users/{hours * 131 + n}/{user}"><span itemprop="name">{user}</span></a>'
                    f'</span></div>')

        def answer(role: str, score: int, body: str, user: str, hours: int, accepted: bool = False) -> str:
            mark = (f'<div class="acc" title="The question owner accepted this as the best answer">{CHECK_ICON}</div>'
                    if accepted else "")
            return f"""<div class="resp" id="r{qid}{hours}" data-score="{score}" itemprop="{role}" itemscope
 itemtype="https://schema.org/Answer"><div class="resp-side">{votes(score)}{mark}</div>
<div class="prose" itemprop="text">{body}</div>
<div class="resp-foot"><a href="/a/{qid}{hours}" itemprop="url">Share</a> <a href="/posts/{qid}{hours}/edit">Edit</a>
<a href="/posts/{qid}{hours}/flag">Flag</a></div>{signed("answered", user, hours)}</div>"""

        top_voted = answer("suggestedAnswer", n % 7 + 12, f"""<p>You are overcomplicating it. {_e(p.steps[0])}</p>
<p>Plug in the numbers and you get <strong>{_e(_slip(p.answer))}</strong>.</p>""", f"quickhelp{n % 11}", 1)
        accepted = answer("acceptedAnswer", n % 5 + 4, f"""<p>Careful, the other answer slips in the last step.</p>
{_steps_html(p)}<p>So the answer is {_e(p.answer)}.</p>""", f"prof_{n % 13}", 3, accepted=True)
        pointer = answer("suggestedAnswer", n % 3, """<p>Have a look at the worked examples at the end of the
chapter; it is the same exercise with other numbers.</p>""", f"reader{n % 17}", 9)
        body = f"""<div class="qpage" itemscope itemtype="https://schema.org/QAPage">
<div itemprop="mainEntity" itemscope itemtype="https://schema.org/Question">
<div class="qhead"><h1 itemprop="name">{_e(title)}</h1></div>
<div class="qmain"><div class="resp-side">{votes(n % 17)}</div>
<div class="prose" itemprop="text"><p>{_e(p.question)}</p>{img}
<p>I keep getting a different number from the book.</p></div>
<div class="taglist"><a href="/tags/{subject}" rel="tag">{subject}</a>
<a href="/tags/homework" rel="tag">homework</a></div>
{signed("asked", asker, 0)}</div>
<meta itemprop="answerCount" content="3">
<h2 class="count-head">3 Answers</h2>
<div class="sorted-by">Sorted by: <span>Highest score (default)</span></div>
{top_voted}
{accepted}
{pointer}
</div></div>"""
        self.site.write(host, path, _chrome(title, body, "AskLearners", self.rng))
        return PageRecord(self.site.url(host, path), "qa_microdata", subject, [_qa(p, images)])

    def thread(self, n: int, subject: str) -> PageRecord:
        """A forum thread as forum engines write it: look-alike message blocks with a build's generated
        class names (<article>s on some pages, <div>s on others), post numbers, user names, dates, a reply
        quoting the question, likes and the accepted mark only in attributes (a title on an icon, or an
        aria-label), and on two pages in three a JSON-LD QAPage or DiscussionForumPosting."""
        host, tid = HOSTS["thread"], 4000 + n
        path = f"/d/{tid}-help-with-a-{subject}-question"
        url = self.site.url(host, path)
        p = self.problem(subject, True)
        title = f"Help with a {subject} question from my homework"
        build = f"{self.rng.getrandbits(16):04x}"  # the engine's hashed CSS module suffix
        img, images = "", []
        if p.diagram:
            name = self.site.add_image(host, "/uploads/default/original/2X", p, self.rng)
            src = f"/uploads/default/original/2X/{name}"
            img = f'<a class="lightbox" href="{src}"><img src="{src}" alt="homework.png" width="360" height="260"></a>'
            images = [self.site.url(host, src)]
        asker, helper, slipper, solver = f"sam_{n % 23}", f"mod_{n % 4}", f"kev{n % 19}", f"tutor_ana{n % 6}"
        quote_text = _e(_first_sentence(p.question))
        articles = (n // 10) % 2 == 0
        if articles:
            quote = (f'<aside class="quote" data-username="{asker}" data-post="1"><div class="title">{asker}:</div>'
                     f"<blockquote><p>{quote_text}</p></blockquote></aside>")
        else:
            quote = (f'<blockquote class="bq-{build}" data-quote="{asker}">'
                     f'<div class="bq-{build}-by">{asker} said:</div><div>{quote_text}</div></blockquote>')
        solution = f"{_steps_html(p)}<p>Answer: {_e(p.answer)}</p>"
        # The accepted reply is neither the first reply nor the most liked one.
        messages = [
            Message(asker, 0, f"<p>{_e(p.question)}</p>{img}<p>I tried it twice and got two different results.</p>", 0),
            Message(helper, 1, "<p>Which part are you stuck on? Please show what you have tried.</p>", 1),
            Message(slipper, 2, f"{quote}<p>{_e(p.steps[0])} I get {_e(_slip(p.answer))}, if I did it right.</p>",
                    n % 4 + 5),
            Message(solver, 5, f"<p>Almost, the last step is off.</p>{solution}", n % 3 + 2, accepted=True),
            Message(asker, 6, "<p>That makes sense now, thank you!</p>", 1),
        ]
        blocks = []
        for number, (user, hours, html_body, likes, accepted) in enumerate(messages, 1):
            at = _when(n, hours)
            when = (f'<time datetime="{at.isoformat()}Z" title="{at:%b} {at.day}, {at:%Y} {at:%H:%M}">'
                    f'{at:%b} {at.day}</time>')
            if articles:
                mark = (f'<span class="m{build}-acc" title="Accepted solution">{CHECK_ICON}</span>' if accepted else "")
                blocks.append(f"""<article class="m{build} m{build}--reg" id="p{tid}-{number}"
 data-post-number="{number}" aria-label="post #{number} by @{user}">
<div class="m{build}-av"><span class="av-letter">{user[0].upper()}</span></div>
<div class="m{build}-main"><div class="m{build}-meta"><a class="m{build}-user" href="/u/{user}">{user}</a>
<a class="m{build}-date" href="{path}/{number}">{when}</a>{mark}</div>
<div class="m{build}-cooked">{html_body}</div>
<div class="m{build}-acts"><button class="m{build}-like" aria-label="{likes} people liked this post">{likes}</button>
<button title="reply to this post">Reply</button></div></div></article>""")
            else:
                mark = f'<i class="c-ico_{build}" role="img" aria-label="Marked as solution"></i>' if accepted else ""
                blocks.append(f"""<div class="c-msg_{build}" id="js-m{tid}{number}" data-author="{user}">
<div class="c-cell_{build}"><b class="c-name_{build}">{user}</b><span class="c-role_{build}">Member</span></div>
<div class="c-cell_{build} c-main_{build}"><div class="c-attr_{build}">{when}{mark}
<a href="#js-m{tid}{number}">#{number}</a></div>
<div class="c-body_{build}">{html_body}</div>
<div class="c-foot_{build}">
<span class="c-react_{build}" data-score="{likes}" title="{likes} likes">{likes}</span></div>
</div></div>""")
        solved = f'<span class="t{build}-status" title="Solved">{CHECK_ICON}</span>'
        body = f"""<h1 class="t{build}-title">{solved} {_e(title)}</h1>
<div class="t{build}-crumbs">{subject.title()} &rsaquo; Homework</div>
<div class="t{build}-stream">{''.join(blocks)}</div>"""
        self.site.write(host, path, _chrome(title, body, "Study Community", self.rng,
                                            head=self._thread_json_ld(n, url, title, p, images, messages)))
        return PageRecord(url, "thread", subject, [_qa(p, images)])

    @staticmethod
    def _thread_json_ld(n: int, url: str, title: str, p: Problem, images: list[str], messages: list[Message]) -> str:
        """None on a third of the threads, a QAPage (as Q&A-mode forums emit it) or a DiscussionForumPosting."""
        kind = (n // 10) % 3
        if kind == 0:
            return ""
        site = url.split("/d/")[0]

        def item(schema_type: str, number: int, m: Message) -> dict:
            text = re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", m.body))).strip()
            return {"@type": schema_type, "text": text, "dateCreated": _when(n, m.hours).isoformat() + "Z",
                    "upvoteCount": m.likes, "url": f"{url}/{number}",
                    "author": {"@type": "Person", "name": m.user, "url": f"{site}/u/{m.user}"}}

        first, replies = item("Question", 1, messages[0]), list(enumerate(messages, 1))[1:]
        if kind == 1:
            question = {**first, "name": title, "text": p.question, "answerCount": len(replies),
                        "acceptedAnswer": [item("Answer", k, m) for k, m in replies if m.accepted][0],
                        "suggestedAnswer": [item("Answer", k, m) for k, m in replies if not m.accepted]}
            return _json_ld({"@context": "https://schema.org", "@type": "QAPage", "mainEntity": question})
        posting = {"@context": "https://schema.org", "@type": "DiscussionForumPosting", "headline": title,
                   "text": first["text"], "url": url, "datePublished": first["dateCreated"], "author": first["author"],
                   "interactionStatistic": {"@type": "InteractionCounter",
                                            "interactionType": "https://schema.org/CommentAction",
                                            "userInteractionCount": len(replies)},
                   "comment": [item("Comment", k, m) for k, m in replies]}
        if images:
            posting["image"] = images[0]
        return _json_ld(posting)

    def hidden_solution(self, n: int, subject: str) -> PageRecord:
        """A problem-of-the-week page: a Problem heading, then the solution hidden until the reader asks
        for it, in a spoiler box (after a hint spoiler), a closed <details>, or a block with the
        `hidden` attribute that a "Show solution" link reveals."""
        host, week = HOSTS["hidden_solution"], n // 10 + 1
        path = f"/potw/{subject}/week-{n}.html"
        p = self.problem(subject, (n // 10) % 4 != 3)  # a text-only problem every fourth week
        img, images = "", []
        if p.diagram:
            name = self.site.add_image(host, f"/potw/{subject}/img", p, self.rng)
            img = f'<p class="fig"><img src="img/{name}" alt="" width="360" height="260"></p>'  # relative
            images = [self.site.url(host, f"/potw/{subject}/img/{name}")]
        solution = f"{_steps_html(p)}<p>The answer is {_e(p.answer)}.</p>"
        toggle = "var b=this.nextElementSibling;b.style.display=b.style.display==='none'?'':'none'"
        style = (n // 10) % 3
        if style == 0:
            statement = f"<h2>Problem</h2><p>{_e(p.question)}</p>{img}"
            hidden = f"""<div class="spoiler"><button type="button" class="spoiler-btn" onclick="{toggle}">Hint</button>
<div class="spoiler-body" style="display:none"><p>Write down the formula that links the quantities you are
given before you substitute any numbers.</p></div></div>
<h2>Solution</h2>
<div class="spoiler"><button type="button" class="spoiler-btn" onclick="{toggle}">Show</button>
<div class="spoiler-body" style="display:none">{solution}</div></div>"""
        elif style == 1:
            statement = f"<h3>Problem</h3><p>{_e(p.question)}</p>{img}"
            hidden = f"<details><summary>Solution</summary>{solution}</details>"
        else:
            reveal = f"document.getElementById('solution-{n}').hidden=false;return false"
            statement = f"<p><strong>Problem.</strong> {_e(p.question)}</p>{img}"
            hidden = f"""<p><a href="#solution-{n}" class="reveal-link" onclick="{reveal}">Show solution</a></p>
<div id="solution-{n}" hidden>{solution}</div>"""
        body = f"""<h1>Problem of the week {week}: {subject}</h1>
<p class="byline">Posted in {subject.title()} &middot; {_when(n):%d %B %Y}</p>
<div class="entry-content">{statement}
<p>Try it yourself first: the solution is below.</p>
{hidden}</div>
<p class="entry-meta">Filed under {subject}, weekly problems.</p>"""
        self.site.write(host, path, _chrome(f"Problem of the week {week}", body, "Weekly Problems", self.rng))
        return PageRecord(self.site.url(host, path), "hidden_solution", subject, [_qa(p, images)])

    def answer_key(self, n: int, subject: str) -> PageRecord:
        """An exercise set with an answer key at the end, matched by number, giving answers only: a
        table, a compact one-line list, or a numbered list; the exercises are a numbered list,
        numbered paragraphs, or "Exercise k" headings."""
        host, path = HOSTS["answer_key"], f"/{subject}/exercise-set-{n}.html"
        problems = [self.problem(subject, i != 1) for i in range(3)]
        style = (n // 10) % 3
        qas, exercises = [], []  # exercises: (statement, figure) as HTML
        for i, p in enumerate(problems, 1):
            figure, images = "", []
            if p.diagram:
                name = self.site.add_image(host, f"/{subject}/figures", p, self.rng)
                figure = (f'<figure><img src="figures/{name}" alt="Figure {i}">'
                          f'<figcaption>Figure {i}</figcaption></figure>')
                images = [self.site.url(host, f"/{subject}/figures/{name}")]
            exercises.append((_e(p.question), figure))
            qas.append(_qa(p, images, worked=False))
        answers = [_e(p.answer) for p in problems]
        if style == 0:
            listed = '<ol class="ex-list">' + "".join(f"<li>{q}{fig}</li>" for q, fig in exercises) + "</ol>"
            rows = "".join(f"<tr><td>{i}</td><td>{a}</td></tr>" for i, a in enumerate(answers, 1))
            key = f'<h2>Answers</h2><table class="key"><tr><th>No.</th><th>Answer</th></tr>{rows}</table>'
        elif style == 1:
            listed = "".join(f'<div class="ex"><p><b>{i}.</b> {q}</p>{fig}</div>'
                             for i, (q, fig) in enumerate(exercises, 1))
            key = ('<h2>Answer key</h2><p class="key">'
                   + " &nbsp;&nbsp; ".join(f"<b>{i}.</b> {a}" for i, a in enumerate(answers, 1)) + "</p>")
        else:
            listed = "".join(f"<h3>Exercise {i}</h3><p>{q}</p>{fig}" for i, (q, fig) in enumerate(exercises, 1))
            key = ('<h3>Answers to the exercises</h3><ol class="key">'
                   + "".join(f"<li>{a}</li>" for a in answers) + "</ol>")
        body = f"""<h1>{subject.title()}: exercise set {n}</h1>
<p class="lead">Work through the exercises, then check your results against the key at the end of the page.</p>
{listed}
<hr>
{key}
<p class="small">Found a mistake in the key? Let us know.</p>"""
        self.site.write(host, path, _chrome(f"{subject.title()} exercise set {n}", body, "Exercise Bank", self.rng))
        return PageRecord(self.site.url(host, path), "answer_key", subject, qas)

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
            layout = LAYOUT_CYCLE[n % len(LAYOUT_CYCLE)]
            subject = SUBJECTS[(n // len(LAYOUT_CYCLE)) % len(SUBJECTS)]
            pages.append(getattr(self, layout)(n, subject))
        content = list(pages)
        for n in range(max(3, self.content_pages // 8)):
            pages.append(self.noise(n, ("shop", "news", "video")[n % 3]))
        # Pages whose figures are referred to relatively: a copy elsewhere still shows them.
        static_layouts = [p for p in content if p.layout in ("worksheet", "textbook", "answer_key", "hidden_solution")
                          and p.qas[0]["question_images"]]
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
    params = {"port": port, "content_pages": content_pages, "seed": seed, "seed_fraction": seed_fraction, "format": 5}
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
