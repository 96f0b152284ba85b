"""Whether a fetched page needs its scripts run to show its content, decided on its HTML.

A page whose scripts cannot change what a reader sees is rendered with scripts off (`static`):
no settle wait, the tree is read at `load`. Everything else goes to the full browser, with the
reason. The rules are general (no site is named) and lean to the browser: a page is static only
when nothing in it suggests that a script writes, fetches or reveals content.

1. A page without a script that runs (none, or only inert ones: JSON-LD, `math/tex`, templates,
   known analytics and ad tags) is static: nothing on it can change.
2. Otherwise one script that writes the DOM, changes what is shown, fetches content, navigates
   or starts a client-side renderer, an external script from the page's own site or of a known
   renderer (its code is not seen here), a handler that fires by itself (`onload`, `onerror`),
   or a meta refresh sends it to the browser.
3. What remains runs only scripts from other sites that are not known renderers, or inline code
   that touches nothing on the page; the page still goes to the browser when it looks like a
   shell that scripts fill: an empty app mount point, a `<noscript>` notice asking for
   JavaScript, a "Loading…" placeholder, or little text besides its scripts.
"""
from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

from selectolax.lexbor import LexborHTMLParser

# Inline code that changes the page, and why that needs the browser (rule 2).
INLINE_CODE_RULES = (
    (re.compile(r"\.(inner|outer)HTML\s*\+?=|insertAdjacent(HTML|Element|Text)|document\.write|\.(appendChild|insertBefore|"
                r"replaceChild|replaceChildren|replaceWith|removeChild)\s*\(|\.(textContent|innerText|nodeValue)\s*\+?=|"
                r"createElement\s*\(|\.(html|text|append|prepend|after|before|empty|remove)\s*\("),
     "an inline script writes the page"),
    (re.compile(r"\.style\.|\.classList\.|\.(hide|show|toggle|fadeIn|fadeOut|slideDown|slideUp|css|addClass|removeClass|"
                r"toggleClass|attr|prop)\s*\(|\.(set|remove)Attribute\s*\(|\.hidden\s*="),
     "an inline script changes what is shown"),
    (re.compile(r"\bfetch\s*\(|XMLHttpRequest|\$\.(ajax|get|post|getJSON|getScript)\s*\(|\.load\s*\(|\baxios\b|\bimport\s*\(|"
                r"\blocation\s*(\.(replace|assign)\s*\(|(\.href)?\s*=[^=])|window\.open\s*\("),
     "an inline script fetches content or navigates"),
    (re.compile(r"\b(MathJax|katex|renderMathInElement|ReactDOM|React\.createElement|createApp|Vue|angular|__NEXT_DATA__|"
                r"__NUXT__|hydrateRoot|Alpine|htmx)\b"),
     "an inline script starts a client-side renderer"),
)
# External scripts whose code is a client-side renderer, by their URL.
RENDERER_SCRIPT = re.compile(r"mathjax|katex|react|vue|angular|svelte|preact|ember|backbone|alpine|htmx|/_next/|/_nuxt/|"
                             r"webpack|bundle|chunk|app\.[0-9a-f]{6,}\.js", re.I)
# Analytics, tag managers and ad tags: they add nothing a reader sees. By URL (external) or by
# the snippets that load them (inline, short: a long script is an app whatever it mentions).
TRACKER = re.compile(r"googletagmanager|google-analytics|googlesyndication|googletagservices|doubleclick|adsbygoogle|"
                     r"\bgtag\s*\(|\bdataLayer\b|_gaq\b|\bfbq\s*\(|connect\.facebook\.net|hotjar|clarity\.ms|"
                     r"scorecardresearch|comscore|quantserve|quantcast|_paq\b|matomo|piwik|plausible|cloudflareinsights|"
                     r"amazon-adsystem|hm\.baidu\.com|_hmt\b|cnzz|mc\.yandex|\bym\s*\(|stats\.wp\.com|newrelic|NREUM|"
                     r"sentry|bugsnag|chartbeat|parsely|segment\.(com|io)|mixpanel|amplitude", re.I)
TRACKER_SNIPPET_CHARS = 3000
# Handlers that run without a reader doing anything (an image that fails to load runs `onerror`).
SELF_FIRING_HANDLER = re.compile(rb"<[a-z][^>]*\son(load|error|pageshow|readystatechange|DOMContentLoaded)\s*=", re.I)
# Script types a browser runs; anything else (JSON-LD, math/tex, templates) is data.
RUNNABLE_TYPE = re.compile(r"^(|module|(text|application)/(x-)?(java|ecma|j|live)script(1\.\d)?)$")

# Rule 3: the page is a shell that its scripts fill.
MOUNT_POINTS = "#root, #app, #__next, #__nuxt, #___gatsby, #react-root, #vue-app, #ember-app, [ng-app], [data-reactroot]"
NEEDS_JS_NOTICE = re.compile(r"javascript|\bjs\b|脚本", re.I)
LOADING_PLACEHOLDER = re.compile(r"^\W*(loading|please wait|wird geladen|chargement|cargando|caricamento|carregando|"
                                 r"加载中|載入中|読み込み中)\W*$", re.I)
MIN_TEXT_CHARS = 200  # less text than this besides scripts: the page is probably filled by them


def _site(host: str) -> str:
    """A host's site: its last two labels (`cdn.example.org` and `www.example.org` are one site);
    for `example.co.uk` that is wider than the registrable domain, which errs to the browser.
    An address is a site of its own."""
    host = host.lower().rstrip(".")
    if re.fullmatch(r"[\d.]+|\[?[\da-f:]+\]?", host):
        return host
    return ".".join(host.split(".")[-2:])


def _decode(body: bytes, content_type: str | None) -> str:
    charset = re.search(r"charset=([\w-]+)", content_type or "", re.I)
    try:
        return body.decode(charset.group(1) if charset else "utf-8", errors="replace")
    except LookupError:
        return body.decode("utf-8", errors="replace")


def browser_reason(body: bytes, url: str, content_type: str | None = None) -> str | None:
    """Why this page needs its scripts run in the browser, or None when it renders the same without them."""
    if SELF_FIRING_HANDLER.search(body):
        return "an element's handler runs by itself (onload / onerror)"
    tree = LexborHTMLParser(_decode(body, content_type))
    if tree.css_first('meta[http-equiv="refresh" i]') is not None:
        return "the page moves on by meta refresh"
    page_site = _site(urlsplit(url).hostname or "")
    runnable = 0
    for script in tree.css("script"):
        attrs = script.attributes
        if not RUNNABLE_TYPE.match((attrs.get("type") or "").strip().lower()):
            continue
        src = (attrs.get("src") or "").strip()
        if src:
            address = urljoin(url, src)
            if TRACKER.search(address):
                continue
            runnable += 1
            if RENDERER_SCRIPT.search(urlsplit(address).path):
                return f"it loads a client-side renderer ({address[:200]})"
            if _site(urlsplit(address).hostname or "") == page_site:
                return f"it loads a script from its own site ({address[:200]})"
            continue
        code = script.text(deep=True)
        if not code.strip() or (len(code) <= TRACKER_SNIPPET_CHARS and TRACKER.search(code)):
            continue
        runnable += 1
        for pattern, reason in INLINE_CODE_RULES:
            if pattern.search(code):
                return reason
    if not runnable:
        return None
    for mount in tree.css(MOUNT_POINTS):
        if len(mount.text(deep=True).strip()) < 20:
            return f"an empty mount point ({mount.tag}{'#' + mount.id if mount.id else ''}) for a script-rendered app"
    for notice in tree.css("noscript"):
        if NEEDS_JS_NOTICE.search(notice.text(deep=True)):
            return "a <noscript> notice asks for JavaScript"
    tree.strip_tags(["script", "style", "noscript", "template"])
    text = tree.body.text(deep=True, separator="\n") if tree.body is not None else ""
    if any(LOADING_PLACEHOLDER.match(line.strip()) for line in text.splitlines() if line.strip()):
        return "a 'Loading…' placeholder waits for a script"
    chars = len(re.sub(r"\s+", " ", text).strip())
    if chars < MIN_TEXT_CHARS:
        return f"little text ({chars} characters) besides its scripts"
    return None
