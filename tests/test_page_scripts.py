"""Which pages need their scripts run: the rules of udfs/page_scripts.py on small pages (no browser)."""
import pytest

from udfs.page_scripts import browser_reason

URL = "http://www.example.org/problems/7"
TEXT = "<h1>Problem 7</h1><p>" + "A train leaves the station at noon and travels at sixty miles an hour. " * 4 + "</p>"


def page(body: str = "", head: str = "") -> bytes:
    return f"<!doctype html><html><head><title>t</title>{head}</head><body><main>{TEXT}{body}</main></body></html>".encode()


@pytest.mark.parametrize("html", [
    page(),
    page('<script type="application/ld+json">{"@type": "QAPage"}</script><script type="math/tex">x^2</script>'
         '<script type="text/template"><p>{{ answer }}</p></script>'),
    # Tag managers and analytics: their loaders write a script element, which adds nothing a reader sees.
    page(head="<script>(function(w,d,s,l,i){w[l]=w[l]||[];var f=d.getElementsByTagName(s)[0],j=d.createElement(s);"
              "j.src='https://www.googletagmanager.com/gtm.js?id='+i;f.parentNode.insertBefore(j,f);})"
              "(window,document,'script','dataLayer','GTM-X');</script>"
              '<script async src="https://www.google-analytics.com/analytics.js"></script>'),
    # Code that touches nothing on the page, and a script from another site that renders nothing known.
    page('<script>var config = {lang: "en", theme: "light"};</script><script src="https://cdn.other.net/widgets.js"></script>'),
], ids=["no scripts", "data scripts", "analytics", "inert code"])
def test_pages_whose_scripts_cannot_change_them_are_static(html):
    assert browser_reason(html, URL) is None


@pytest.mark.parametrize("html, reason", [
    (page('<div id="s">Show</div><script>document.getElementById("s").innerHTML = "<p>Answer: 4</p>";</script>'),
     "an inline script writes the page"),
    (page('<script>$(".solution").hide();</script>'), "an inline script changes what is shown"),
    (page("<script>window.addEventListener('load', () => fetch('/api/solution.json'));</script>"),
     "an inline script fetches content or navigates"),
    (page("<script>window.MathJax = {tex: {inlineMath: [['$', '$']]}};</script>"),
     "an inline script starts a client-side renderer"),
    (page('<script src="/static/site.js"></script>'), "it loads a script from its own site (http://www.example.org/static/site.js)"),
    (page('<script src="https://static.example.org/app.js"></script>'), "it loads a script from its own site"),
    (page('<script src="https://cdn.jsdelivr.net/npm/katex@0.16/dist/katex.min.js"></script>'), "it loads a client-side renderer"),
    (page('<img src="/a.png" onerror="this.style.display=\'none\'">'), "an element's handler runs by itself"),
    (page(head='<meta http-equiv="refresh" content="0; url=/elsewhere">'), "the page moves on by meta refresh"),
], ids=["writes", "shows", "fetches", "renderer config", "own script", "own subdomain", "renderer", "handler", "refresh"])
def test_pages_whose_scripts_write_content_go_to_the_browser(html, reason):
    assert browser_reason(html, URL).startswith(reason)


SHELL_SCRIPT = '<script src="https://cdn.other.net/widgets.js"></script><script>var started = Date.now();</script>'


@pytest.mark.parametrize("body, reason", [
    ('<div id="root"></div>', "an empty mount point (div#root)"),
    ("<noscript>Please enable JavaScript to see the solution.</noscript>", "a <noscript> notice asks for JavaScript"),
    ('<div class="solution">Loading...</div>', "a 'Loading…' placeholder"),
], ids=["mount point", "noscript", "loading"])
def test_shells_that_scripts_fill_go_to_the_browser(body, reason):
    html = page(body + '<script src="https://cdn.other.net/w.js"></script>')
    assert browser_reason(html, URL).startswith(reason)
    # Without a script that runs, the same markup cannot change: static.
    assert browser_reason(page(body), URL) is None


def test_little_text_besides_scripts_goes_to_the_browser():
    shell = f"<!doctype html><html><body><h1>Problem 7</h1>{SHELL_SCRIPT}</body></html>".encode()
    assert browser_reason(shell, URL) == "little text (9 characters) besides its scripts"
    assert browser_reason(page(SHELL_SCRIPT), URL) is None


def test_the_declared_charset_is_read():
    html = page("<p>caf\xe9</p><script>document.write('x')</script>").decode().encode("latin-1")
    assert browser_reason(html, URL, "text/html; charset=iso-8859-1") == "an inline script writes the page"
    assert browser_reason(html, URL, "text/html; charset=no-such-charset") == "an inline script writes the page"
