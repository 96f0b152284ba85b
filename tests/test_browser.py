"""The renderer against pages served on loopback, in the system Chromium."""
import pytest

from runtime.config import NetworkConfig, RenderConfig
from udfs.browser import Renderer

CHROME = """<header><nav><a href="/">Home</a> Site navigation</nav></header>
<div class="cookie-banner">We use cookies. Accept all</div>
<aside class="sidebar">Related questions elsewhere</aside>
<footer>Copyright footer text</footer>"""


@pytest.fixture(scope="module")
def pages():
    from tests.conftest import LoopbackServer

    server = LoopbackServer()
    server.add("/base/sub/page.html", f"""<html><head><title>Problem page</title></head><body>{CHROME}
<main><h1>Example 1.1</h1><p>Find the area of the <b>shaded</b> region.</p>
<img src="img/fig.png" alt="figure">
<img class="lazy" src="/static/placeholder.gif" data-src="/img/lazy.png" loading="lazy" alt="lazy figure">
<img srcset="/img/small.png 1x, /img/large.png 2x" alt="responsive">
<ol start="3"><li>first step</li><li>second step</li></ol>
<table><tr><th>x</th><th>y</th></tr><tr><td>1</td><td>2</td></tr></table>
<details><summary>Show solution</summary><p>Answer: 12 cm^2</p></details>
<div style="display:none">hidden boilerplate</div>
<div class="spoiler" style="display:none">Spoiler solution text</div>
<p aria-hidden="true">aria hidden text</p>
<p>Formula: <math alttext="x^2+1"><mi>x</mi></math></p>
</main></body></html>""")
    server.add("/based.html", """<html><head><base href="/elsewhere/"></head><body><main>
<p>Relative to base.</p><img src="pic.png" alt="based"></main></body></html>""")
    server.add("/js.html", """<html><body><main><p>Question: what is 2 + 2?</p><div id="box">Loading...</div>
<script>window.addEventListener('load', () => fetch('/api/sol.json').then(r => r.json())
  .then(s => { document.getElementById('box').innerHTML = s.html; }));</script></main></body></html>""")
    server.add("/api/sol.json", '{"html": "<p>Solution inserted by script. Answer: 4</p>"}', content_type="application/json")
    server.add("/error.html", "<html><body>oops</body></html>", status=500)
    server.add("/never.html", "<html><body>late</body></html>", delay_s=60)
    server.add("/data.json", '{"a": 1}', content_type="application/json")
    yield server
    server.close()


@pytest.fixture(scope="module")
def renderer(pages):
    render = RenderConfig(page_timeout_s=4, network_idle_timeout_s=1.5, concurrency=3)
    network = NetworkConfig(allow_private=[f"127.0.0.1:{pages.port}"])
    with Renderer(render, network) as r:
        yield r


def render_one(renderer, url):
    return renderer.render_many([("id", url)])[0]


def test_tree_keeps_content_and_drops_chrome(renderer, pages):
    row = render_one(renderer, pages.url("/base/sub/page.html"))
    assert row["status"] == "ok" and row["http_status"] == 200 and row["title"] == "Problem page"
    texts = [n["text"] for n in row["tree"] if n["kind"] != "image"]
    joined = "\n".join(texts)
    assert "Find the area of the shaded region." in texts
    for chrome in ("Site navigation", "cookies", "Related questions", "Copyright", "hidden boilerplate", "aria hidden"):
        assert chrome not in joined
    assert {"kind": "heading", "level": 1} == {k: v for k, v in next(n for n in row["tree"] if n["text"] == "Example 1.1").items() if k in ("kind", "level")}
    assert "3. first step" in texts and "4. second step" in texts
    assert "| x | y |\n| 1 | 2 |" in texts
    assert "$x^2+1$" in joined


def test_collapsed_solutions_are_kept_and_marked(renderer, pages):
    row = render_one(renderer, pages.url("/base/sub/page.html"))
    collapsed = {n["text"]: n["collapsed"] for n in row["tree"] if n["text"]}
    assert collapsed["Answer: 12 cm^2"] is True
    assert collapsed["Spoiler solution text"] is True
    assert collapsed["Find the area of the shaded region."] is False


def test_images_resolve_relative_lazy_and_srcset(renderer, pages):
    row = render_one(renderer, pages.url("/base/sub/page.html"))
    images = {n["alt"]: n["src"] for n in row["tree"] if n["kind"] == "image"}
    assert images["figure"] == pages.url("/base/sub/img/fig.png")  # relative to the page's folder
    assert images["lazy figure"] == pages.url("/img/lazy.png")
    assert images["responsive"] == pages.url("/img/large.png")
    based = render_one(renderer, pages.url("/based.html"))
    assert [n["src"] for n in based["tree"] if n["kind"] == "image"] == [pages.url("/elsewhere/pic.png")]


def test_content_inserted_by_javascript_is_in_the_tree(renderer, pages):
    row = render_one(renderer, pages.url("/js.html"))
    texts = [n["text"] for n in row["tree"]]
    assert "Solution inserted by script. Answer: 4" in texts
    assert "Loading..." not in texts


def test_failures_become_rows_with_reasons(renderer, pages):
    urls = ["/error.html", "/never.html", "/data.json"]
    rows = renderer.render_many([(u, pages.url(u)) for u in urls])
    by_id = {r["url_id"]: r for r in rows}
    assert (by_id["/error.html"]["status"], by_id["/error.html"]["reason"]) == ("http_error", "HTTP 500")
    assert by_id["/never.html"]["status"] == "timeout" and "4 s" in by_id["/never.html"]["reason"]
    assert by_id["/data.json"]["status"] == "not_html"
    assert all(r["tree"] == [] for r in rows)


def test_unlisted_private_target_is_blocked_without_a_request(renderer, pages):
    from tests.conftest import LoopbackServer

    other = LoopbackServer()
    try:
        other.add("/x.html", "<html><body>private</body></html>")
        row = render_one(renderer, other.url("/x.html"))
        assert row["status"] == "blocked" and "loopback" in row["reason"]
        assert other.hits == {}
    finally:
        other.close()
