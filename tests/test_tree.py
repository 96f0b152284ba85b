"""The content tree's boilerplate and image rules, on small pages served on loopback (no Spark)."""
import pytest

from runtime.config import NetworkConfig, RenderConfig
from tests.conftest import LoopbackServer
from udfs.browser import Renderer

PARAGRAPH = ("The committee met on Tuesday to review the proposal in detail, and its members agreed that "
             "the plan needed a longer consultation with the residents before any vote could be taken. ")

FORMULA_PAGE = """<html><body><main><h1>Problem 7</h1>
<p>The area is <img class="latex" src="/f/inline.png" alt="$6$" width="8" height="12"> square units and
<img class="latex" src="/f/big.png" alt="$\\text{(A)}\\ 21 \\qquad \\text{(B)}\\ 22$" width="375" height="17"> are the choices.</p>
<p><img class="latexcenter" src="/f/asy.png" alt="[asy] draw((3,0)--(0,5)--(3,7)); [/asy]" width="218" height="252"></p>
<p><img class="math" src="/f/tall.png" alt="x" width="200" height="150"></p>
</main></body></html>"""

LAZY_PAGE = """<html><body><main><p>Look at the figures.</p>
<img class="lazy" src="/static/spacer.png" data-src="//{host}/img/data-src.png" alt="data src">
<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" data-srcset="/img/s-300.png 300w, /img/s-900.png 900w" alt="data srcset">
<img class="lazyload" src="/static/blank.gif" alt="noscript"><noscript><img src="/img/real.png" alt="noscript real"></noscript>
<img src="/img/pixel-track.gif" width="1" height="1" alt="">
<img src="/img/icon.png" width="16" height="16" alt="icon">
</main></body></html>"""

ARTICLE_PAGE = f"""<html><head><title>News</title></head><body><main><article>
<h1>Council delays vote</h1><p>{PARAGRAPH}</p><p>{PARAGRAPH}</p><p>{PARAGRAPH}</p>
<div class="author-box"><p>Jane Writer covers local politics and has written for the paper since 2009.</p></div>
<div class="share-buttons"><span>Share this story</span></div>
</article>
<section class="more"><h2>Related stories</h2><ul><li><a href="/a">Bridge reopens after repairs</a> Traffic returns</li>
<li><a href="/b">School budget passes</a> A close vote</li><li><a href="/c">New park opens</a></li></ul></section>
<div id="comments"><h3>3 Comments</h3>
<div class="comment"><p>Reader one says the council always delays everything, typical.</p></div>
<div class="comment"><p>Reader two disagrees with the first reader about the delays.</p></div>
</div></main></body></html>"""

THREAD_PAGE = """<html><head><title>Forum</title>
<script type="application/ld+json">{"@context": "https://schema.org", "@type": "DiscussionForumPosting", "headline": "Help"}</script>
</head><body><main><h1>How do I solve this integral?</h1>
<div id="comments" class="topic">
<div class="comment post"><p>What is the integral of x squared from zero to one?</p></div>
<div class="comment post"><p>Reply: the antiderivative is x cubed over three, so the answer is one third.</p></div>
<div class="comment post"><p>Thanks, that worked for me.</p></div>
</div></main></body></html>"""

QA_PAGE = """<html><body><main><div class="question"><h1>Why is the sky blue?</h1>
<p>I have always wondered why the sky is blue and not violet.</p>
<div class="comments"><ul><li class="comment">Possible duplicate of another question.</li></ul></div></div>
<div id="answers"><div class="answer"><p>Rayleigh scattering favours short wavelengths and our eyes are less
sensitive to violet.</p><div class="comments"><ul><li class="comment">Great answer, thanks.</li></ul></div></div></div>
</main></body></html>"""

TABS_PAGE = f"""<html><body><main><h1>Tool</h1><p>Pick a tab.</p>
<div class="tab" style="display:none"><p>{PARAGRAPH}</p><p>{PARAGRAPH}</p><p>{PARAGRAPH}</p></div>
<div class="menu" style="display:none"><p><a href="/1">Home</a></p><p><a href="/2">About</a></p></div>
<form action="/s"><input name="q"><p>Search the site</p></form>
</main></body></html>"""

TEASER_PAGE = f"""<html><head><title>Paper</title></head><body><div id="page">
<div class="top"><h1>Council delays vote</h1><div class="when">March 3, 2024</div></div>
<div class="story"><p>{PARAGRAPH}</p><p>{PARAGRAPH}</p><p>{PARAGRAPH}</p><p>{PARAGRAPH}</p></div>
<div class="grid"><div class="card"><div><a href="/x">Storm season</a></div><div>What to know before the weather turns.</div></div>
<div class="card"><div><a href="/y">Food safety</a></div><div>All you need to know about keeping food safe.</div></div></div>
<div class="legal"><div>All rights reserved. This material may not be published, broadcast or rewritten, by anyone.</div></div>
</div></body></html>"""

CHAPTER_PAGE = f"""<html><body><div class="book"><section class="chapter"><h2>Section 3.3 Counting with Repeats</h2>
<section class="intro"><p>In the last section we combined two sets of disjoint outcomes; now they overlap.</p></section>
<section class="sub"><h3>Counting with diagrams</h3><p>{PARAGRAPH}</p><p>{PARAGRAPH}</p><p>{PARAGRAPH}</p><p>{PARAGRAPH}</p></section>
<section class="exercises"><h3>Exercises</h3><ol><li><p>How many numbers between 1 and 100 are divisible by 2 or 3, and why?</p></li>
<li><p>Find the number of subsets of a ten element set, and explain your count.</p></li></ol>
<details><summary>Answer</summary><p>Sixty-seven numbers.</p></details></section>
</section><div class="legal"><div>Copyright 2024 the authors. Licensed for reuse, with attribution, under the usual terms.</div></div>
</div></body></html>"""


COLUMNS_PAGE = f"""<html><body><div id="top"><div><a href="/">Paper</a> <span>Monday, March 4, 2024</span></div>
<ul><li><a href="/a">Login</a></li><li><a href="/b">Settings</a></li><li><a href="/c">Subscribe</a></li></ul>
<ul>{"".join(f'<li><a href="/s/{i}">Other story number {i}</a> <span>Mar {i}</span></li>' for i in range(1, 11))}</ul></div>
<div id="contents"><time>March 4, 2024</time><div class="headline"><h1>Council delays vote</h1><span>Updated 2 hours ago</span></div>
<div class="text"><p>{PARAGRAPH}</p><p>{PARAGRAPH}</p><p>{PARAGRAPH}</p><p>{PARAGRAPH}</p><p>{PARAGRAPH}</p></div>
<div class="notice"><p>Members only. Register to read the rest of this story, it is free.</p></div></div>
</body></html>"""

PLAIN_FORUM_PAGE = f"""<html><body><div class="crumbs"><a href="/">Home</a></div><h2>Help with a bridge load problem</h2>
<div class="posts"><div class="post" id="p1"><div class="head"><a href="/user/7">ann</a> <time>Mar 1, 2024</time></div>
<div class="body"><p>{PARAGRAPH}</p><p>{PARAGRAPH}</p><p>{PARAGRAPH}</p><p>{PARAGRAPH}</p></div></div>
<div class="post" id="p2"><div class="head"><a href="/user/8">bo</a> <time>Mar 2, 2024</time></div>
<div class="body"><p>Use the moment balance: 40 kN.</p></div></div>
<div class="post" id="p3"><div class="head"><a href="/user/7">ann</a> <time>Mar 2, 2024</time></div>
<div class="body"><p>Thanks, got 40 kN too.</p></div></div></div></body></html>"""

# A worksheet whose answers follow the problems in headed parts, beside a link-heavy sidebar.
SHEET_PAGE = f"""<html><body><div class="page"><h1>Practice sheet 4</h1>
<div class="problems"><p>{PARAGRAPH}</p><p>Problem 1. A car travels 100 m in 5 s, so what is its speed in metres per second?</p>
<p>{PARAGRAPH}</p><p>Problem 2. A block of 20 g has a volume of 4 cubic centimetres: find its density.</p></div>
<h2>Solutions</h2><ol class="key"><li>v = 100 / 5 = 20 m/s</li><li>rho = 20 / 4 = 5 g/cm^3</li></ol>
<div class="worked"><h3>Worked answer</h3><p>n = 36 / 18 = 2.</p></div>
<div class="links"><a href="/a">More sheets</a> <a href="/b">Shop</a> <a href="/c">Newsletter</a></div>
</div></body></html>"""

@pytest.fixture(scope="module")
def site():
    server = LoopbackServer()
    for path, body in {"/formula.html": FORMULA_PAGE, "/article.html": ARTICLE_PAGE, "/thread.html": THREAD_PAGE,
                       "/qa.html": QA_PAGE, "/tabs.html": TABS_PAGE,
                       "/teaser.html": TEASER_PAGE, "/chapter.html": CHAPTER_PAGE,
                       "/columns.html": COLUMNS_PAGE, "/page7.html": PLAIN_FORUM_PAGE, "/sheet.html": SHEET_PAGE}.items():
        server.add(path, body)
    server.add("/lazy.html", LAZY_PAGE.replace("{host}", f"127.0.0.1:{server.port}"))
    yield server
    server.close()


@pytest.fixture(scope="module")
def trees(site):
    render = RenderConfig(page_timeout_s=8, settle_timeout_s=2, concurrency=2, obey_robots=False,
                          per_host_concurrency=2, per_host_delay_s=0, block_resource_types=["media", "font", "image"])
    paths = ["/formula.html", "/lazy.html", "/article.html", "/thread.html", "/qa.html", "/tabs.html", "/teaser.html", "/chapter.html", "/columns.html",
             "/page7.html", "/sheet.html"]
    with Renderer(render, NetworkConfig(allow_private=[f"127.0.0.1:{site.port}"])) as renderer:
        rows = renderer.render_many([(p, site.url(p)) for p in paths])
    assert all(row["status"] == "ok" for row in rows)
    return {row["url_id"]: row["tree"] for row in rows}


def text(tree) -> str:
    return "\n".join(n["text"] for n in tree if n["kind"] != "image")


def images(tree) -> dict:
    return {n["alt"]: n["src"] for n in tree if n["kind"] == "image"}


def test_formula_images_become_tex_and_figures_stay_images(trees, site):
    tree = trees["/formula.html"]
    assert "The area is $6$ square units and $\\text{(A)}\\ 21 \\qquad \\text{(B)}\\ 22$ are the choices." in text(tree)
    assert images(tree) == {"[asy] draw((3,0)--(0,5)--(3,7)); [/asy]": site.url("/f/asy.png"),
                            "x": site.url("/f/tall.png")}
    assert "[asy]" not in text(tree)


def test_lazy_images_resolve_to_the_real_picture(trees, site):
    assert images(trees["/lazy.html"]) == {
        "data src": site.url("/img/data-src.png"),
        "data srcset": site.url("/img/s-900.png"),
        "noscript": site.url("/img/real.png"),
    }


def test_article_comments_related_and_author_box_are_dropped(trees):
    joined = text(trees["/article.html"])
    assert joined.count("The committee met on Tuesday") == 3 and "Council delays vote" in joined
    for chrome in ("Jane Writer", "Share this story", "Related stories", "Bridge reopens", "3 Comments", "Reader one", "Reader two"):
        assert chrome not in joined


def test_thread_replies_are_kept(trees):
    joined = text(trees["/thread.html"])
    for post in ("What is the integral of x squared", "so the answer is one third", "Thanks, that worked"):
        assert post in joined


def test_question_and_answer_comments_are_kept(trees):
    joined = text(trees["/qa.html"])
    for part in ("not violet", "Rayleigh scattering", "Possible duplicate", "Great answer, thanks."):
        assert part in joined


def test_hidden_running_text_is_kept_collapsed_and_hidden_menus_are_not(trees):
    tree = trees["/tabs.html"]
    hidden = [n for n in tree if n["text"].startswith("The committee met")]
    assert len(hidden) == 3 and all(n["collapsed"] for n in hidden)
    assert "Home" not in text(tree) and "Search the site" not in text(tree)


def test_text_far_from_the_article_is_dropped_and_its_title_kept(trees):
    joined = text(trees["/teaser.html"])
    assert joined.count("The committee met on Tuesday") == 4 and "Council delays vote" in joined
    for chrome in ("Storm season", "What to know before the weather", "keeping food safe", "All rights reserved"):
        assert chrome not in joined


def test_every_part_of_a_chapter_stays_around_its_main_text(trees):
    joined = text(trees["/chapter.html"])
    for part in ("Section 3.3 Counting with Repeats", "now they overlap", "Counting with diagrams", "divisible by 2 or 3",
                 "subsets of a ten element set", "Sixty-seven numbers"):
        assert part in joined
    assert joined.count("The committee met on Tuesday") == 4 and "Copyright 2024" not in joined


def test_layout_columns_around_the_article_are_no_thread(trees):
    joined = text(trees["/columns.html"])
    assert joined.count("The committee met on Tuesday") == 5 and "Council delays vote" in joined
    for chrome in ("Monday, March 4, 2024", "Settings", "Members only"):
        assert chrome not in joined


def test_replies_of_a_thread_without_markup_stay_beside_a_long_question(trees):
    joined = text(trees["/page7.html"])
    assert joined.count("The committee met on Tuesday") == 4
    for part in ("Help with a bridge load problem", "Use the moment balance: 40 kN.", "Thanks, got 40 kN too."):
        assert part in joined


def test_headed_parts_after_the_main_text_stay_with_it(trees):
    joined = text(trees["/sheet.html"])
    for part in ("Problem 1. A car travels", "Solutions", "v = 100 / 5 = 20 m/s", "Worked answer", "n = 36 / 18 = 2."):
        assert part in joined
    assert "Newsletter" not in joined
