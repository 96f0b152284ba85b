"""The renderer against pages served on loopback, in the system Chromium."""
import base64
import io
import os
import select
import signal
import socket
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

from runtime.config import NetworkConfig, RenderConfig
from tests.conftest import LoopbackServer, same_render
from udfs.browser import Renderer, render_partitions, shared_renderer

CHROME = """<header><nav><a href="/">Home</a> Site navigation</nav></header>
<div class="cookie-banner">We use cookies. Accept all</div>
<div role="dialog" aria-label="Privacy">We value your privacy</div>
<aside class="sidebar">Related questions elsewhere</aside>
<footer>Copyright footer text</footer>"""


def png_bytes(size=(120, 120), color=(30, 120, 200)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def data_url_image(src: str) -> Image.Image:
    assert src.startswith("data:image/png;base64,")
    return Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))


PROBLEM_PAGE = f"""<html><head><title>Problem page</title></head><body>{CHROME}
<main><h1>Example 1.1</h1><p>Find the area of the <b>shaded</b> region.</p>
<img src="img/fig.png" alt="figure">
<img class="lazy" src="/static/placeholder.gif" data-src="/img/lazy.png" loading="lazy" alt="lazy figure">
<img srcset="/img/small.png 1x, /img/large.png 2x" alt="responsive">
<picture><source srcset="/img/pic-400.webp 400w, /img/pic-800.webp 800w"><img src="/img/fallback.png" alt="pictured"></picture>
<img src="data:image/png;base64,{base64.b64encode(png_bytes()).decode()}" alt="inline data">
<ol start="3"><li>first step</li><li>second step</li></ol>
<table><tr><th>x</th><th>y</th></tr><tr><td>1</td><td>2</td></tr></table>
<details><summary>Show solution</summary><p>Answer: 12 cm^2</p></details>
<div style="display:none">hidden boilerplate</div>
<div class="spoiler" style="display:none">Spoiler solution text</div>
<p aria-hidden="true">aria hidden text</p>
<div class="more"><a href="/1">Another problem one</a> <a href="/2">Another problem two</a> <a href="/3">Another problem three</a></div>
<p>Formula: <math alttext="x^2+1"><mi>x</mi></math></p>
</main></body></html>"""

MATH_PAGE = (r"""<html><body><main>
<p>KaTeX: <span class="katex"><span class="katex-mathml"><math><semantics><mrow><mi>a</mi></mrow>
<annotation encoding="application/x-tex">a^2+b^2=c^2</annotation></semantics></math></span>
<span class="katex-html" aria-hidden="true">a2+b2=c2</span></span></p>
<p>MathJax 2: <span class="MathJax_Preview">preview</span><span class="MathJax" id="MathJax-Element-1-Frame">glyphs</span>"""
             r"""<script type="math/tex" id="MathJax-Element-1">\frac{1}{2}</script></p>
<p>MathJax 3: <mjx-container class="MathJax" jax="CHTML"><mjx-math aria-hidden="true">glyphs</mjx-math>"""
             r"""<mjx-assistive-mml><math><mi>y</mi></math></mjx-assistive-mml></mjx-container></p>
<p>Attribute: <span data-tex="E=mc^2">E = mc squared</span></p>
<script>// MathJax 3 keeps the source in its own document object, as it does after typesetting.
window.MathJax = {startup: {document: {math: [{math: "\\sqrt{y}", typesetRoot: document.querySelector("mjx-container")}]}}};</script>
</main></body></html>""")

SVG_PAGE = """<html><body><main><p>Look at the diagram.</p>
<svg width="240" height="160" viewBox="0 0 240 160" xmlns="http://www.w3.org/2000/svg"><title>Right triangle ABC</title>
<rect width="240" height="160" fill="white"/><polygon points="20,140 220,140 20,20" fill="none" stroke="black" stroke-width="3"/></svg>
<p>An icon: <svg width="16" height="16"><circle cx="8" cy="8" r="6"/></svg></p>
<img src="/img/chart.svg" alt="bar chart">
<img src="/static/placeholder.gif" data-src="/img/lazy.svg" loading="lazy" alt="lazy chart">
</main></body></html>"""


def svg_file(width: int, height: int) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">'
            f'<rect width="{width}" height="{height}" fill="#c33"/></svg>')


@pytest.fixture(scope="module")
def pages():
    server = LoopbackServer()
    server.add("/base/sub/page.html", PROBLEM_PAGE)
    server.add("/based.html", """<html><head><base href="/elsewhere/"></head><body><main>
<p>Relative to base.</p><img src="pic.png" alt="based"></main></body></html>""")
    server.add("/js.html", """<html><body><main><p>Question: what is 2 + 2?</p><div id="box">Loading...</div>
<script>window.addEventListener('load', () => fetch('/api/sol.json').then(r => r.json())
  .then(s => { document.getElementById('box').innerHTML = s.html; }));</script></main></body></html>""")
    server.add("/steps.html", """<html><body><main><p>Add 5 and 7.</p><div id="steps"></div>
<script>const add = (text, ms) => setTimeout(() => {
  const p = document.createElement('p'); p.textContent = text; document.getElementById('steps').appendChild(p); }, ms);
window.addEventListener('load', () => { add('Step 1: write the sum.', 250); add('Step 2: the sum is 12.', 600);
  add('Answer: 12', 950); });</script></main></body></html>""")
    server.add("/ticker.html", """<html><body><main><p>A problem statement beside a ticking clock.</p>
<p id="clock">0</p><script>let n = 0; setInterval(() => { document.getElementById('clock').textContent = ++n; }, 100);</script>
</main></body></html>""")
    server.add("/api/sol.json", '{"html": "<p>Solution inserted by script. Answer: 4</p>"}', content_type="application/json")
    server.add("/math.html", MATH_PAGE)
    server.add("/svg.html", SVG_PAGE)
    server.add("/img/chart.svg", svg_file(300, 200), content_type="image/svg+xml")
    server.add("/img/lazy.svg", svg_file(150, 120), content_type="image/svg+xml")
    server.add("/layout.html", """<html><body><table><tr><td><h2>Problem 3</h2><p>Left column text.</p></td>
<td><p>Right column text.</p></td></tr></table></body></html>""")
    server.add("/error.html", "<html><body>oops</body></html>", status=500)
    server.add("/never.html", "<html><body>late</body></html>", delay_s=60)
    server.add("/data.json", '{"a": 1}', content_type="application/json")
    server.add("/huge.html", "<html><body>" + "<p>filler text</p>" * 20_000 + "</body></html>")
    server.add("/final.html", "<html><body><main><p>Final page.</p></main></body></html>")
    server.add("/r1", status=302, headers={"Location": "/r2"})
    server.add("/r2", status=301, headers={"Location": "/final.html"})
    server.add("/jsnav.html", "<html><body><script>location.replace('/r1')</script></body></html>")
    for hop in range(1, 5):
        server.add(f"/loop/{hop}", status=302, headers={"Location": f"/loop/{hop + 1}"})
    server.add("/stuck.html", '<html><body><main><p>Visible before the stuck script.</p></main><script src="/hang.js"></script></body></html>')
    server.add("/hang.js", "", content_type="text/javascript", delay_s=60)
    server.add("/spin.html", "<html><body><p>Before the loop.</p><script>while (true) {}</script></body></html>")
    server.add("/robots.txt", "User-agent: *\nDisallow: /private\n\nUser-agent: WebMine\nDisallow: /members\n",
               content_type="text/plain")
    for path in ("/members/a.html", "/private/b.html"):
        server.add(path, "<html><body><p>content</p></body></html>")
    yield server
    server.close()


@pytest.fixture(scope="module")
def flaky():
    """A second allow-listed site, whose robots.txt cannot be read."""
    server = LoopbackServer()
    server.add("/robots.txt", "down", status=503, content_type="text/plain")
    server.add("/page.html", "<html><body><p>content</p></body></html>")
    yield server
    server.close()


def network_for(*servers) -> NetworkConfig:
    return NetworkConfig(allow_private=[f"127.0.0.1:{s.port}" for s in servers])


@pytest.fixture(scope="module")
def renderer(pages, flaky):
    render = RenderConfig(page_timeout_s=4, settle_timeout_s=2.5, concurrency=3, max_page_bytes=100_000,
                          max_redirects=2, per_host_concurrency=3, per_host_delay_s=0,
                          block_resource_types=["media", "font", "image"])
    with Renderer(render, network_for(pages, flaky)) as r:
        yield r


def render_one(renderer, url):
    return renderer.render_many([("id", url)])[0]


def texts_of(row) -> list[str]:
    return [n["text"] for n in row["tree"] if n["kind"] != "image"]


# ---- the tree -------------------------------------------------------------------------
def test_tree_keeps_content_and_drops_chrome(renderer, pages):
    row = render_one(renderer, pages.url("/base/sub/page.html"))
    assert row["status"] == "ok" and row["http_status"] == 200 and row["title"] == "Problem page"
    texts = texts_of(row)
    joined = "\n".join(texts)
    assert "Find the area of the shaded region." in texts
    for chrome in ("Site navigation", "cookies", "privacy", "Related questions", "Copyright", "hidden boilerplate",
                   "aria hidden", "Another problem"):
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


def test_images_resolve_relative_lazy_srcset_picture_and_data(renderer, pages):
    row = render_one(renderer, pages.url("/base/sub/page.html"))
    images = {n["alt"]: n["src"] for n in row["tree"] if n["kind"] == "image"}
    assert images["figure"] == pages.url("/base/sub/img/fig.png")  # relative to the page's folder
    assert images["lazy figure"] == pages.url("/img/lazy.png")
    assert images["responsive"] == pages.url("/img/large.png")
    assert images["pictured"] == pages.url("/img/pic-800.webp")
    assert data_url_image(images["inline data"]).size == (120, 120)
    based = render_one(renderer, pages.url("/based.html"))
    assert [n["src"] for n in based["tree"] if n["kind"] == "image"] == [pages.url("/elsewhere/pic.png")]


def test_math_is_kept_as_tex(renderer, pages):
    joined = "\n".join(texts_of(render_one(renderer, pages.url("/math.html"))))
    assert "KaTeX: $a^2+b^2=c^2$" in joined
    assert "MathJax 2: $\\frac{1}{2}$" in joined and "glyphs" not in joined and "preview" not in joined
    assert "MathJax 3: $\\sqrt{y}$" in joined
    assert "Attribute: $E=mc^2$" in joined and "squared" not in joined


def test_svg_images_and_diagrams_become_png(renderer, pages):
    row = render_one(renderer, pages.url("/svg.html"))
    images = [n for n in row["tree"] if n["kind"] == "image"]
    assert [n["alt"] for n in images] == ["Right triangle ABC", "bar chart", "lazy chart"]  # the 16 px icon is not
    sizes = [data_url_image(n["src"]).size for n in images]
    assert sizes == [(240, 160), (300, 200), (150, 120)]
    chart = data_url_image(images[1]["src"]).convert("RGB")
    assert chart.getpixel((150, 100)) == (0xCC, 0x33, 0x33)
    assert pages.hits["/img/chart.svg"] == 1  # fetched although images are blocked


def test_layout_tables_are_read_as_blocks(renderer, pages):
    row = render_one(renderer, pages.url("/layout.html"))
    assert texts_of(row) == ["Problem 3", "Left column text.", "Right column text."]


def test_content_inserted_by_javascript_is_in_the_tree(renderer, pages):
    row = render_one(renderer, pages.url("/js.html"))
    texts = [n["text"] for n in row["tree"]]
    assert "Solution inserted by script. Answer: 4" in texts
    assert "Loading..." not in texts


def test_the_tree_waits_until_scripts_stop_changing_the_page(renderer, pages):
    """Steps written by timers after load, with no request between them: the network is idle
    all along, yet the page is read only once its content has stopped changing."""
    row = render_one(renderer, pages.url("/steps.html"))
    assert row["status"] == "ok" and row["reason"] is None
    assert texts_of(row)[-2:] == ["Step 2: the sum is 12.", "Answer: 12"]


def test_a_page_that_never_settles_is_partial_with_what_it_had(renderer, pages):
    row = render_one(renderer, pages.url("/ticker.html"))
    assert row["status"] == "partial" and "not settled" in row["reason"] and "DOM change" in row["reason"]
    assert texts_of(row)[0] == "A problem statement beside a ticking clock."
    assert row["render_ms"] < 2.5 * 1000 + 1000  # the settle limit, not the page's


# ---- static first, browser when needed ------------------------------------------------
STATEMENT = "<p>" + "Two trains leave one station at noon, one at forty and one at sixty miles an hour. " * 3 + "</p>"
# No script that runs: its tree is read with scripts off. A style sheet of its site, an inline
# style decide what is kept; the <noscript> blocks would hide the solution
# and move a pixel into the body if they were parsed as markup, which a browser running scripts never does.
STYLED_PAGE = f"""<html><head><title>Styled</title><link rel="stylesheet" href="/static/hide.css">
<style>.aside-note {{display: none}}</style><noscript><style>.solution {{display: none}}</style></noscript>
<noscript><img src="/img/pixel.png" width="1" height="1" alt=""></noscript></head><body><main><h1>Problem 12</h1>
{STATEMENT}<p class="by-sheet">Hidden by the style sheet.</p><p class="aside-note">Hidden inline.</p>
<div class="solution"><p>Solution: the faster train is forty miles ahead after two hours.</p></div></main></body></html>"""
# Scripts that only hold data or configure analytics: nothing a reader sees can change.
INERT_PAGE = f"""<html><head><title>Inert</title>
<script type="application/ld+json">{{"@context": "https://schema.org", "@type": "QAPage", "name": "Problem 13"}}</script>
<script>window.dataLayer = window.dataLayer || []; function gtag() {{ dataLayer.push(arguments); }} gtag('js', new Date());</script>
</head><body><main><h1>Problem 13</h1>{STATEMENT}<p>Its formula: <script type="math/tex">d = vt</script></p></main></body></html>"""


@pytest.fixture(scope="module")
def forced(pages):
    """Renderers whose render.mode is `browser` or `static` (the module's renderer is `auto`); they do
    not read robots.txt, whose reads the module's renderer counts."""
    opened = {}

    def renderer_for(mode: str) -> Renderer:
        if mode not in opened:
            opened[mode] = Renderer(RenderConfig(mode=mode, page_timeout_s=4, settle_timeout_s=2.5, concurrency=3,
                                                 per_host_concurrency=3, per_host_delay_s=0, obey_robots=False,
                                                 block_resource_types=["media", "font", "image"]), network_for(pages))
        return opened[mode]

    yield renderer_for
    for renderer in opened.values():
        renderer.close()


def test_a_page_whose_script_writes_its_solution_goes_to_the_browser(renderer, forced, pages):
    row = render_one(renderer, pages.url("/js.html"))
    assert (row["rendered_by"], row["render_reason"]) == ("browser", "an inline script writes the page")
    assert "Solution inserted by script. Answer: 4" in texts_of(row)
    # With scripts off the placeholder stays: what render.mode static gives up.
    static = render_one(forced("static"), pages.url("/js.html"))
    assert (static["status"], static["rendered_by"], static["render_reason"]) == ("ok", "static", None)
    assert "Loading..." in texts_of(static) and "Solution inserted by script. Answer: 4" not in texts_of(static)


def test_a_page_with_inert_scripts_is_static_and_mode_browser_forces_the_browser(renderer, forced, pages):
    url = pages.add("/inert.html", INERT_PAGE)
    row = render_one(renderer, url)
    assert (row["status"], row["rendered_by"], row["render_reason"]) == ("ok", "static", None)
    assert texts_of(row)[0] == "Problem 13" and "Its formula: $d = vt$" in texts_of(row)
    assert '"QAPage"' in row["structured_data"][0]
    forced_row = render_one(forced("browser"), url)
    assert (forced_row["rendered_by"], forced_row["render_reason"]) == ("browser", "render.mode is browser")
    assert same_render(row, forced_row)


def test_static_and_browser_trees_agree_on_what_css_hides(renderer, forced, pages):
    pages.add("/static/hide.css", ".by-sheet { display: none }", content_type="text/css")
    url = pages.add("/styled.html", STYLED_PAGE)
    static, browser = render_one(renderer, url), render_one(forced("browser"), url)
    assert (static["rendered_by"], browser["rendered_by"]) == ("static", "browser")
    texts = texts_of(static)
    assert "Solution: the faster train is forty miles ahead after two hours." in texts
    assert "Hidden by the style sheet." not in texts and "Hidden inline." not in texts
    assert [n["kind"] for n in static["tree"]].count("image") == 0
    assert same_render(static, browser)
    assert pages.hits["/static/hide.css"] >= 2  # fetched through the route on both paths


# ---- outcomes -------------------------------------------------------------------------
def test_failures_become_rows_with_reasons(renderer, pages):
    urls = ["/error.html", "/never.html", "/data.json", "/huge.html", "/loop/1"]
    rows = renderer.render_many([(u, pages.url(u)) for u in urls])
    by_id = {r["url_id"]: r for r in rows}
    assert (by_id["/error.html"]["status"], by_id["/error.html"]["reason"]) == ("http_error", "HTTP 500")
    assert by_id["/error.html"]["http_status"] == 500
    assert by_id["/never.html"]["status"] == "timeout" and "4 s" in by_id["/never.html"]["reason"]
    assert by_id["/data.json"]["status"] == "not_html" and "application/json" in by_id["/data.json"]["reason"]
    assert by_id["/huge.html"]["status"] == "too_large" and "100000" in by_id["/huge.html"]["reason"]
    assert by_id["/loop/1"]["status"] == "too_many_redirects"
    assert "/loop/4" not in pages.hits  # the hop past the limit is never requested
    assert all(r["tree"] == [] for r in rows)


def test_redirects_are_followed_and_counted(renderer, pages):
    row = render_one(renderer, pages.url("/r1"))
    assert row["status"] == "ok" and row["final_url"] == pages.url("/final.html")
    assert texts_of(row) == ["Final page."]
    # A page that sends itself elsewhere by script goes through the same checks.
    moved = render_one(renderer, pages.url("/jsnav.html"))
    assert moved["status"] == "ok" and moved["final_url"] == pages.url("/final.html")
    assert texts_of(moved) == ["Final page."]


def test_page_whose_load_never_ends_is_cut_at_its_time_limit(renderer, pages):
    row = render_one(renderer, pages.url("/stuck.html"))
    assert row["status"] == "partial" and "load did not finish" in row["reason"]
    assert texts_of(row) == ["Visible before the stuck script."]
    assert row["render_ms"] < 4000 + 1000


def test_hung_page_times_out_and_the_renderer_goes_on(renderer, pages):
    started = time.monotonic()
    row = render_one(renderer, pages.url("/spin.html"))
    assert row["status"] == "timeout" and row["tree"] == []
    assert time.monotonic() - started < 4 + 6  # the limit plus closing the hung page
    assert render_one(renderer, pages.url("/final.html"))["status"] == "ok"


# ---- safety ---------------------------------------------------------------------------
def test_unlisted_private_target_is_blocked_without_a_request(renderer, pages):
    other = LoopbackServer()
    try:
        other.add("/x.html", "<html><body>private</body></html>")
        row = render_one(renderer, other.url("/x.html"))
        assert row["status"] == "blocked" and "loopback" in row["reason"]
        assert other.hits == {}
    finally:
        other.close()


def test_redirect_chain_to_unlisted_port_is_refused_before_any_request(renderer, pages):
    other = LoopbackServer()
    try:
        other.add("/secret", "<html><body>internal</body></html>")
        pages.add("/evil1", status=302, headers={"Location": "/evil2"})
        pages.add("/evil2", status=302, headers={"Location": other.url("/secret")})
        row = render_one(renderer, pages.url("/evil1"))
        assert row["status"] == "blocked" and f"127.0.0.1:{other.port} resolves to loopback" in row["reason"]
        assert pages.hits["/evil1"] == 1 and pages.hits["/evil2"] == 1
        assert other.hits == {}
    finally:
        other.close()


def test_sub_resources_and_their_redirects_are_checked(renderer, pages):
    other = LoopbackServer()
    try:
        other.add("/x.js", "document.title = 'reached'", content_type="text/javascript")
        other.add("/data", "{}", content_type="application/json")
        pages.add("/bounce", status=302, headers={"Location": other.url("/data")})
        pages.add("/ok.js", "document.querySelector('main').insertAdjacentHTML('beforeend', '<p>Script from the page host.</p>')",
                  content_type="text/javascript")
        pages.add("/sneaky.html", f"""<html><head><title>sneaky</title></head><body><main><p>Page text.</p></main>
<script src="{other.url('/x.js')}"></script><script src="/ok.js"></script>
<script>fetch('/bounce').catch(() => null); fetch('{other.url('/data')}', {{method: 'POST'}}).catch(() => null);
new WebSocket('ws://127.0.0.1:{other.port}/socket');</script></body></html>""")
        row = render_one(renderer, pages.url("/sneaky.html"))
        assert row["status"] == "ok" and row["title"] == "sneaky"
        assert texts_of(row) == ["Page text.", "Script from the page host."]
        assert pages.hits["/bounce"] == 1
        assert other.hits == {}
    finally:
        other.close()


WEBRTC_PAGE = """<html><body><main><p id="log">WebRTC probe.</p><script>
const log = text => { document.getElementById('log').textContent += ' ' + text; };
const pc = new RTCPeerConnection({iceServers: [{urls: 'stun:127.0.0.1:STUN_PORT'}]});
pc.onicecandidate = e => { if (e.candidate) log(e.candidate.candidate); };
pc.onicegatheringstatechange = () => log('gathering:' + pc.iceGatheringState);
pc.createDataChannel('probe');
pc.createOffer().then(offer => pc.setLocalDescription(offer));
</script></main></body></html>"""


def test_webrtc_sends_no_udp_around_the_proxy(renderer, pages):
    """A page's peer connection gathers no candidate and sends no STUN datagram, not even to loopback.
    (Without the WebRTC flags the same page lists the machine's addresses and STUN reaches the socket.)"""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as stun:
        stun.bind(("127.0.0.1", 0))  # a loopback port no policy lists
        stun.setblocking(False)
        page = WEBRTC_PAGE.replace("STUN_PORT", str(stun.getsockname()[1]))
        row = render_one(renderer, pages.add("/webrtc.html", page))
        time.sleep(1)  # STUN retransmits within a second
        datagrams = 0
        while select.select([stun], [], [], 0)[0]:
            stun.recv(2048)
            datagrams += 1
    log = " ".join(texts_of(row))
    assert datagrams == 0 and "candidate:" not in log  # nothing sent, no address offered ...
    assert row["status"] == "ok" and "gathering:complete" in log  # ... and gathering ran to its end


def test_robots_txt_is_obeyed_and_read_once(renderer, pages, flaky):
    rows = renderer.render_many([(p, pages.url(p)) for p in ("/members/a.html", "/private/b.html")]
                                + [("flaky", flaky.url("/page.html"))])
    status = {r["url_id"]: (r["status"], r["reason"]) for r in rows}
    assert status["/members/a.html"] == ("robots", f"disallowed by http://127.0.0.1:{pages.port}/robots.txt")
    assert status["/private/b.html"][0] == "ok"  # the agent's own group replaces the * group
    assert status["flaky"][0] == "robots" and "HTTP 503" in status["flaky"][1]
    assert pages.hits["/robots.txt"] == 1 and "/members/a.html" not in pages.hits
    assert "/page.html" not in flaky.hits


# ---- politeness, crashes, one browser per process -------------------------------------
def chromium_processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) of every live Chromium process on the machine."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        alive = stat[stat.rindex(")") + 2:].split()[0] != "Z"
        if alive and "chromium" in stat[stat.index("(") + 1: stat.rindex(")")]:
            found[int(entry.name)] = (int(stat[stat.rindex(")") + 2:].split()[1]), cmdline)
    return found


@pytest.fixture(scope="module")
def own_renderer(pages):
    """A second renderer with a browser of its own, to be crashed, and gentle politeness."""
    before = set(chromium_processes())
    render = RenderConfig(page_timeout_s=8, settle_timeout_s=2, concurrency=4, per_host_concurrency=1,
                          per_host_delay_s=0.3, obey_robots=False)
    with Renderer(render, network_for(pages)) as r:
        assert render_one(r, pages.url("/final.html"))["status"] == "ok"
        r.own_pids = lambda: {pid: info for pid, info in chromium_processes().items() if pid not in before}
        yield r


def test_per_host_concurrency_and_delay_and_robots_off(own_renderer, pages):
    paths = [f"/slow/{i}.html" for i in range(4)]
    for path in paths:
        pages.add(path, "<html><body><p>slow page</p></body></html>", delay_s=0.2)
    rows = own_renderer.render_many([(p, pages.url(p)) for p in paths + ["/members/a.html"]])
    assert [r["status"] for r in rows] == ["ok"] * 5  # robots.txt is not obeyed when obey_robots is off
    spans = sorted(pages.spans[p] for p in paths)
    assert all(ended <= next_start for (_, ended), (next_start, _) in zip(spans, spans[1:]))  # one at a time
    assert min(b[0] - a[0] for a, b in zip(spans, spans[1:])) >= 0.25


def test_crashed_page_is_recorded_and_the_renderer_goes_on(own_renderer, pages, wait_until):
    result = {}
    pages.add("/crash.html", '<html><body><p>Will crash.</p><script src="/crash-hang.js"></script></body></html>')
    pages.add("/crash-hang.js", "", content_type="text/javascript", delay_s=60)
    worker = threading.Thread(target=lambda: result.update(render_one(own_renderer, pages.url("/crash.html"))))
    worker.start()
    assert wait_until(lambda: pages.hits.get("/crash-hang.js"))
    renderers = [pid for pid, (_, cmd) in own_renderer.own_pids().items() if "--type=renderer" in cmd]
    assert renderers
    for pid in renderers:
        os.kill(pid, signal.SIGKILL)
    worker.join(timeout=15)
    assert result["status"] == "error" and "crashed" in result["reason"], result
    assert result["render_ms"] < 8000
    assert render_one(own_renderer, pages.url("/final.html"))["status"] == "ok"


def test_crashed_browser_is_restarted(own_renderer, pages):
    launches = own_renderer.launches
    own = own_renderer.own_pids()
    browsers = [pid for pid, (ppid, cmd) in own.items() if "--type=" not in cmd and ppid not in own]
    assert len(browsers) == 1
    os.kill(browsers[0], signal.SIGKILL)
    time.sleep(0.5)
    row = render_one(own_renderer, pages.url("/final.html"))
    assert row["status"] == "ok" and texts_of(row) == ["Final page."]
    assert own_renderer.launches == launches + 1


def test_one_browser_per_python_worker_across_spark_tasks(spark, pages):
    render = RenderConfig(page_timeout_s=8, settle_timeout_s=2, per_host_delay_s=0)
    network = network_for(pages)
    rows = spark.createDataFrame([("a", pages.url("/final.html"))], "url_id string, url string")

    def render_and_report(batches):
        for out in render_partitions(render, network)(batches):
            yield out[["status"]].assign(pid=os.getpid(), launches=shared_renderer(render, network).launches)

    seen = []
    for _ in range(3):  # three tasks on at most two reused workers: one worker renders twice
        seen += [tuple(r) for r in rows.mapInPandas(render_and_report, "status string, pid long, launches long").collect()]
    assert {status for status, _, _ in seen} == {"ok"}
    pids = [pid for _, pid, _ in seen]
    assert len(set(pids)) < len(pids)
    assert {launches for _, _, launches in seen} == {1}


def test_shared_browser_is_closed_when_the_interpreter_exits(pages, wait_until):
    script = f"""
import json, os
from runtime.config import NetworkConfig, RenderConfig
from tests.test_browser import chromium_processes
from udfs.browser import shared_renderer
renderer = shared_renderer(RenderConfig(per_host_delay_s=0), NetworkConfig(allow_private=["127.0.0.1:{pages.port}"]))
assert renderer.render_many([("a", "{pages.url('/final.html')}")])[0]["status"] == "ok"
print(json.dumps(sorted(chromium_processes())))
"""
    import json
    import subprocess
    import sys

    before = set(chromium_processes())
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 0, done.stderr
    started = set(json.loads(done.stdout.splitlines()[-1])) - before
    assert started  # the browser was running ...
    assert wait_until(lambda: not started & set(chromium_processes()), timeout_s=5)  # ... and is gone


def test_crawl_delay_spaces_a_sites_pages_and_too_long_a_delay_is_refused():
    polite, slow = LoopbackServer(), LoopbackServer()
    try:
        polite.add("/robots.txt", "User-agent: *\nCrawl-delay: 1\n", content_type="text/plain")
        slow.add("/robots.txt", "User-agent: *\nCrawl-delay: 120\n", content_type="text/plain")
        paths = [f"/p{i}.html" for i in range(3)]
        for path in paths:
            polite.add(path, "<html><body><p>polite page</p></body></html>")
        slow.add("/q.html", "<html><body><p>slow site</p></body></html>")
        render = RenderConfig(page_timeout_s=8, settle_timeout_s=2, concurrency=4, per_host_concurrency=4,
                              per_host_delay_s=0)
        with Renderer(render, network_for(polite, slow)) as r:
            rows = r.render_many([(p, polite.url(p)) for p in paths] + [("slow", slow.url("/q.html"))])
        status = {row["url_id"]: (row["status"], row["reason"]) for row in rows}
        assert all(status[p][0] == "ok" for p in paths)
        starts = sorted(polite.spans[p][0] for p in paths)
        assert min(b - a for a, b in zip(starts, starts[1:])) >= 0.9  # the site's 1 s, not the configured 0
        assert status["slow"][0] == "robots" and "Crawl-delay of 120 s" in status["slow"][1]
        assert "/q.html" not in slow.hits and polite.hits["/robots.txt"] == 1
    finally:
        polite.close()
        slow.close()
