"""Page rendering in the system Chromium through Playwright, as a Spark map function.

One Chromium per Python process (a Spark Python worker is reused across tasks), kept
across batches and restarted when it dies, renders `render.concurrency` pages at once
in tabs of one browser context, each tab reused for page after page.

Chromium never touches the network itself. The main document is fetched hop by hop
by `runtime.network` (policy checked on every hop, redirects counted, size capped,
robots.txt and per-host politeness applied) and handed to the page; every request the
page makes is fetched the same way and fulfilled through a route. Chromium is launched
with a proxy that does not exist, so anything that slipped past the route (a
WebSocket, a prefetch) fails instead of reaching an address nobody checked, and with
WebRTC kept off UDP, which would not go through that proxy.

A page whose scripts cannot change what it shows (`udfs.page_scripts`, decided on the fetched
HTML; `render.mode`) is rendered `static`: its documents carry a Content-Security-Policy that
lets no page script run, and its tree is read at `load`, with no settle wait (a DOM that no
script touches does not change). The same tab, route, style sheets and tree.js build it, so
it is the tree the browser path would build. Scripts are refused by the policy rather than by
a context with JavaScript off because that context parses `<noscript>` as markup (its style
sheets then apply, its images move out of `<head>`), which the browser path never does.

Each URL ends as one `pages` row with a status and a reason.
"""
from __future__ import annotations

import asyncio
import atexit
import base64
import hashlib
import json
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit

import pandas as pd

from runtime.config import NetworkConfig, RenderConfig
from runtime.network import HOP_BY_HOP, Blocked, FetchError, FetchResult, NetworkPolicy, fetch_hop
from runtime.robots import Robots
from schemas.pages import Page, Post, TreeNode
from udfs.page_scripts import browser_reason

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--dns-prefetch-disable",
    # Requests the route does not fulfil go to a proxy that is not there (loopback
    # included: `<-loopback>` removes Chromium's implicit bypass).
    "--proxy-server=http://127.0.0.1:9",
    "--proxy-bypass-list=<-loopback>",
    # WebRTC sends UDP (STUN, media) around the proxy that guards every request: none at all.
    # The first is the switch of full Chrome builds, the second the one headless Chromium reads.
    "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
    "--webrtc-ip-handling-policy=disable_non_proxied_udp",
]
TREE_JS = (Path(__file__).with_name("tree.js")).read_text()
DOCUMENT_ACCEPT = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
MAX_RASTERS_PER_PAGE = 20
# A tab renders this many pages, one after the other, before it is replaced: reusing tabs
# in one browser context is what makes a page cheap (no new context, often no new process).
TAB_REUSES = 50
# Time kept back from the load wait so that a page whose load never ends is still read.
EXTRACT_RESERVE_S = 3.0
# Runs before the page's own scripts: the time of the last change to the DOM's content (nodes
# added or removed, text changed; not attributes, which animations touch forever).
WATCH_CHANGES_JS = """(() => {
  window.__webmineChanged = performance.now();
  new MutationObserver(() => { window.__webmineChanged = performance.now(); })
    .observe(document, {childList: true, subtree: true, characterData: true});
})();"""
SINCE_CHANGE_JS = "() => (performance.now() - (window.__webmineChanged || 0)) / 1000"
SETTLE_POLL_S = 0.1
# What a static page's documents are served with: no script of the page runs (inline, external,
# handlers, javascript: URLs), nor a plug-in; Playwright's own evaluation is not bound by it.
SCRIPTS_OFF_POLICY = "script-src 'none'; object-src 'none'"
# Makes a lazy <img> load now and waits until it is decoded (or has failed).
LOAD_IMAGE_JS = """(el, src) => {
  if (el.tagName !== 'IMG') return;
  el.loading = 'eager';
  if (src && el.getAttribute('src') !== src) el.src = src;  // a lazy image's placeholder
  return el.decode().catch(() => null);
}"""


class Refused(Exception):
    """A page that is not rendered, with its status, the reason and what is known of it."""

    def __init__(self, status: str, reason: str, **facts):
        super().__init__(status, reason)
        self.status, self.reason, self.facts = status, reason, facts


@dataclass
class PageState:
    """What the route handler of a tab knows about the page it is rendering now."""

    deadline: float  # time.monotonic() by which the page must be done
    documents: dict[str, FetchResult] = field(default_factory=dict)  # fetched, waiting to be served
    scripts_off: bool = False  # a static page: its documents are served with SCRIPTS_OFF_POLICY
    crashed: bool = False
    pending: int = 0  # requests of the page being served now
    last_request: float = field(default_factory=time.monotonic)  # when one last started or ended


class DomainGate:
    """At most `per_host` pages of one host at once, their starts `delay_s` apart (or the
    site's own Crawl-delay, when it asks for more)."""

    def __init__(self, per_host: int, delay_s: float):
        self.delay_s = delay_s
        self._slots: dict[str, asyncio.Semaphore] = defaultdict(lambda: asyncio.Semaphore(per_host))
        self._next_start: dict[str, float] = {}

    @asynccontextmanager
    async def slot(self, host: str, crawl_delay_s: float | None = None):
        async with self._slots[host]:
            now = time.monotonic()
            start = max(now, self._next_start.get(host, now))
            self._next_start[host] = start + max(self.delay_s, crawl_delay_s or 0.0)
            if start > now:
                await asyncio.sleep(start - now)
            yield


def _page_row(url_id: str, url: str, **fields) -> dict:
    return Page.row(url_id=url_id, url=url, **fields)


def _first_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:300]}"


def _is_html(result: FetchResult) -> bool:
    if result.content_type:
        return "html" in result.content_type.lower()
    head = result.body[:1024].lstrip().lower()
    return head.startswith(b"<!doctype html") or head.startswith(b"<html")


def _response_headers(result: FetchResult, scripts_off: bool = False) -> dict[str, str]:
    # A second policy is enforced beside the page's own (the browser applies every one it is sent).
    headers: dict[str, str] = {}
    for name, value in [*result.headers, *([("Content-Security-Policy", SCRIPTS_OFF_POLICY)] if scripts_off else [])]:
        key = name.lower()
        if key in HOP_BY_HOP:
            continue
        # Playwright takes several Set-Cookie values joined by newlines.
        headers[key] = f"{headers[key]}{chr(10) if key == 'set-cookie' else ', '}{value}" if key in headers else value
    return headers


class Renderer:
    """A Chromium kept open across batches, and the settings to render pages with it.

    Its asyncio loop runs in a thread of its own, so it can be called from any thread
    and outlives the Spark task that started it.
    """

    def __init__(self, render: RenderConfig, network: NetworkConfig):
        self.render = render
        self.policy = NetworkPolicy.from_config(network)
        self.robots = Robots(self.policy, timeout_s=min(10.0, render.page_timeout_s)) if render.obey_robots else None
        self.gate = DomainGate(render.per_host_concurrency, render.per_host_delay_s)
        self.launches = 0  # how many browsers this renderer started: 1 unless one crashed
        self.loop = asyncio.new_event_loop()
        # Fetches and DNS look-ups block; each page in flight may wait on a few at once.
        self.loop.set_default_executor(ThreadPoolExecutor(max_workers=4 * render.concurrency, thread_name_prefix="fetch"))
        self._thread = threading.Thread(target=self.loop.run_forever, name="renderer", daemon=True)
        self._thread.start()
        self._playwright = None
        self._browser = None
        self._context = None  # one for all pages: cookies are shared, as between a browser's tabs
        self._idle_tabs: list = []
        self._serving: dict = {}  # tab -> the PageState it renders now (None: idle)
        self._tab_uses: dict = {}
        self._launching: asyncio.Lock | None = None
        self._closed = False

    # ---- lifecycle ------------------------------------------------------------------
    def __enter__(self) -> "Renderer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._call(self._shutdown())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)

    async def _shutdown(self) -> None:
        for closing in (self._browser, self._playwright):
            if closing is not None:
                try:
                    await asyncio.wait_for(closing.close() if closing is self._browser else closing.stop(), 10)
                except Exception:
                    pass  # already gone: the driver takes a dead browser with it

    async def _live_context(self):
        """The browser's context, the browser launched (again) if there is none or it has died."""
        if self._launching is None:
            self._launching = asyncio.Lock()
        async with self._launching:
            if self._browser is not None and self._browser.is_connected():
                return self._context
            from playwright.async_api import async_playwright

            for attempt in (1, 2):
                try:
                    if self._playwright is None:
                        self._playwright = await async_playwright().start()
                    self._browser = await self._playwright.chromium.launch(
                        executable_path=str(self.render.chromium_path), headless=True, args=CHROMIUM_FLAGS
                    )
                    break
                except Exception:
                    # The driver itself may have died with the browser: start a new one once.
                    playwright, self._playwright = self._playwright, None
                    if playwright is not None:
                        try:
                            await asyncio.wait_for(playwright.stop(), 5)
                        except Exception:
                            pass
                    if attempt == 2:
                        raise
            self.launches += 1
            self._context = await self._browser.new_context(user_agent=self.policy.user_agent, service_workers="block")
            self._idle_tabs, self._serving, self._tab_uses = [], {}, {}
            return self._context

    async def _take_tab(self):
        """An idle tab, or a new one whose requests all go through `_serve`."""
        context = await self._live_context()
        while self._idle_tabs:
            tab = self._idle_tabs.pop()
            if not tab.is_closed():
                return tab
        tab = await context.new_page()
        self._serving[tab], self._tab_uses[tab] = None, 0
        await tab.add_init_script(WATCH_CHANGES_JS)
        await tab.route("**/*", lambda route: self._serve(route, self._serving.get(tab)))
        tab.on("crash", self._crashed)
        return tab

    def _crashed(self, tab) -> None:
        state = self._serving.get(tab)
        if state is not None:
            state.crashed = True

    async def _give_back(self, tab, reusable: bool) -> None:
        self._serving[tab] = None  # requests of a page left running in an idle tab are refused
        if reusable and not tab.is_closed():
            self._tab_uses[tab] += 1
            if self._tab_uses[tab] < TAB_REUSES:
                self._idle_tabs.append(tab)
                return
        self._serving.pop(tab, None)
        self._tab_uses.pop(tab, None)
        try:
            await asyncio.wait_for(tab.close(), 5)
        except Exception:
            pass  # a dead browser closed it already

    # ---- rendering ------------------------------------------------------------------
    def render_many(self, rows: list[tuple[str, str]]) -> list[dict]:
        """Render (url_id, url) pairs, `concurrency` at a time; one row per URL, in order."""
        if self._closed:
            raise RuntimeError("renderer is closed")
        return self._call(self._render_all(rows))

    async def _render_all(self, rows: list[tuple[str, str]]) -> list[dict]:
        pages_at_once = asyncio.Semaphore(self.render.concurrency)
        try:
            await self._live_context()  # the browser's start is no page's time
        except Exception:
            pass  # every page then records the failed launch as its own row

        async def one(url_id: str, url: str) -> dict:
            crawl_delay = await self._crawl_delay(url)
            if crawl_delay is not None and crawl_delay > self.render.max_crawl_delay_s:
                return _page_row(url_id, url, status="robots", reason=(
                    f"robots.txt asks for a Crawl-delay of {crawl_delay:g} s, over render.max_crawl_delay_s "
                    f"({self.render.max_crawl_delay_s:g} s)"), render_ms=0)
            # The host's slot first, so that pages queued for a busy host hold no page slot.
            async with self.gate.slot((urlsplit(url).hostname or "").lower(), crawl_delay):
                async with pages_at_once:
                    return await self._render_one(url_id, url)

        return list(await asyncio.gather(*(one(url_id, url) for url_id, url in rows)))

    async def _crawl_delay(self, url: str) -> float | None:
        robots = self.robots
        if robots is None:
            return None

        def lookup() -> float | None:
            try:
                self.policy.check(url)  # robots.txt is fetched only from a host the policy allows
            except (Blocked, ValueError):
                return None  # the page itself is refused, with its reason, when it is rendered
            return robots.crawl_delay(url)

        return await asyncio.get_running_loop().run_in_executor(None, lookup)

    async def _render_one(self, url_id: str, url: str) -> dict:
        started = time.monotonic()
        limit = self.render.page_timeout_s
        deadline = started + limit

        path: dict = {}  # rendered_by and render_reason, once decided: failures after that say so too

        def elapsed() -> int:
            return int((time.monotonic() - started) * 1000)

        try:
            return await asyncio.wait_for(self._render_within(url_id, url, started, deadline, path), limit)
        except asyncio.TimeoutError:
            return _page_row(url_id, url, status="timeout", reason=f"no result within {limit:g} s", **path, render_ms=elapsed())
        except Refused as refused:
            return _page_row(url_id, url, status=refused.status, reason=refused.reason, **refused.facts, render_ms=elapsed())
        except Exception as exc:  # a crashed page or browser is a row, not a failed task
            if self._browser is not None and not self._browser.is_connected():
                reason = f"browser crashed ({_first_line(exc)}); it is restarted for the next page"
            else:
                reason = _first_line(exc)
            return _page_row(url_id, url, status="error", reason=reason, **path, render_ms=elapsed())

    async def _render_path(self, document: FetchResult) -> dict:
        """`rendered_by` and `render_reason` of a fetched page, as `render.mode` says."""
        mode = self.render.mode
        if mode == "auto":
            reason = await asyncio.get_running_loop().run_in_executor(
                None, browser_reason, document.body, document.url, document.content_type)
        else:
            reason = "render.mode is browser" if mode == "browser" else None
        return {"rendered_by": "static" if reason is None else "browser", "render_reason": reason}

    async def _fetch_document(self, url: str, deadline: float) -> FetchResult:
        """The main document, following redirects itself: robots.txt and the policy are
        checked before each hop is requested, and hops past `max_redirects` are refused."""
        run = asyncio.get_running_loop().run_in_executor
        for hop in range(self.render.max_redirects + 1):
            try:
                await run(None, self.policy.check, url)
                if self.robots is not None:
                    refusal = await run(None, self.robots.refusal, url)
                    if refusal:
                        raise Refused("robots", refusal if not hop else f"redirect to {url}: {refusal}")
                result = await run(None, lambda: fetch_hop(url, self.policy, deadline=deadline, headers=DOCUMENT_ACCEPT,
                                                           max_bytes=self.render.max_page_bytes))
            except Blocked as exc:
                raise Refused("blocked", str(exc) if not hop else f"redirect {hop} to {url}: {exc}") from None
            except FetchError as exc:
                status = str(exc).split(" ", 1)[0]
                if status == "timeout":
                    raise Refused("timeout", f"no result within {self.render.page_timeout_s:g} s ({exc})") from None
                raise Refused(status if status == "too_large" else "error", str(exc)) from None
            if not result.is_redirect:
                return result
            url = result.location
        raise Refused("too_many_redirects", f"more than {self.render.max_redirects} redirects (next: {url})")

    async def _render_within(self, url_id: str, url: str, started: float, deadline: float, path: dict) -> dict:
        from playwright.async_api import TimeoutError as PlaywrightTimeout

        document = await self._fetch_document(url, deadline)
        facts = {"http_status": document.status, "final_url": document.url}
        if document.status >= 400:
            raise Refused("http_error", f"HTTP {document.status}", **facts)
        if not _is_html(document):
            raise Refused("not_html", f"content type {document.content_type or 'missing'}", **facts)
        path.update(await self._render_path(document))
        scripts_off = path["rendered_by"] == "static"
        page = await self._take_tab()
        state = self._serving[page] = PageState(deadline, documents={document.url: document}, scripts_off=scripts_off)
        reusable = False
        try:
            unsettled = None
            settle_by = deadline - min(EXTRACT_RESERVE_S, self.render.page_timeout_s / 4)
            try:
                await page.goto(document.url, wait_until="load", timeout=max(0.5, settle_by - time.monotonic()) * 1000)
            except PlaywrightTimeout:
                unsettled = f"load did not finish within {self.render.page_timeout_s:g} s; rendered what had arrived"
            if unsettled is None and not scripts_off:  # without scripts the DOM is final at load
                unsettled = await self._settle(page, state, min(settle_by, time.monotonic() + self.render.settle_timeout_s))
            result = await page.evaluate(TREE_JS, {
                "rasterMinSide": self.render.svg_min_side if self.render.rasterize_svg else 0,
                "rasterMax": MAX_RASTERS_PER_PAGE,
            })
            nodes = await self._rasterize(page, result["nodes"], deadline)
            facts["final_url"] = page.url  # where scripts and redirects left the page
            reusable = unsettled is None and not state.crashed  # a tab still loading or hung is closed
        except Exception as exc:
            if state.crashed:
                raise RuntimeError(f"page crashed ({_first_line(exc)})") from None
            raise
        finally:
            await self._give_back(page, reusable)
        tree = [TreeNode(**node) for node in nodes]
        text = "\n".join(node.text for node in tree if node.text)
        signature = json.dumps([(n.kind, n.text, n.alt) for n in tree])
        return _page_row(
            url_id, url, status="ok" if unsettled is None else "partial", reason=unsettled, **facts, **path, title=result["title"][:500],
            tree=[node.model_dump() for node in tree], text_chars=len(text),
            posts=[Post(**post).model_dump() for post in result["posts"]], structured_data=result["structured"],
            content_hash=hashlib.sha256(signature.encode()).hexdigest(),
            render_ms=int((time.monotonic() - started) * 1000),
        )

    async def _settle(self, page, state: PageState, until: float) -> str | None:
        """Wait until the page has settled: no request pending, none started or ended and no DOM
        change for `settle_quiet_s`. None once it has; else, at `until`, what it was still doing."""
        quiet = self.render.settle_quiet_s
        while True:
            since_change = await page.evaluate(SINCE_CHANGE_JS)
            now = time.monotonic()
            since_request = now - state.last_request
            if state.pending == 0 and min(since_change, since_request) >= quiet:
                return None
            if now + SETTLE_POLL_S > until:
                return (f"not settled when its time ran out: {state.pending} requests pending, "
                        f"last request {since_request:.1f} s and last DOM change {since_change:.1f} s before")
            await asyncio.sleep(SETTLE_POLL_S)

    async def _serve(self, route, state: PageState | None) -> None:
        """Fulfil one request of the page from a guarded fetch, or refuse it, counting it as pending."""
        if state is None:
            await self._quietly(route.abort("blockedbyclient"))
            return
        state.pending += 1
        state.last_request = time.monotonic()
        try:
            await self._serve_request(route, state)
        finally:
            state.pending -= 1
            state.last_request = time.monotonic()

    async def _serve_request(self, route, state: PageState) -> None:
        request = route.request
        deadline = state.deadline
        try:
            if request.url in state.documents and request.is_navigation_request():
                await self._fulfil(route, state.documents.pop(request.url), state.scripts_off)
                return
            if request.resource_type in self.render.block_resource_types and not self._wanted_svg(request):
                await route.abort("blockedbyclient")
                return
            if request.is_navigation_request():
                if request.frame.parent_frame is not None:
                    await route.abort("blockedbyclient")  # frames are not part of the tree
                    return
                # The page navigates by itself (script, meta refresh): the same checks as the first document.
                try:
                    document = await self._fetch_document(request.url, deadline)
                except Refused:
                    # 204 No Content: the browser stays on the page it has, whose tree is still read.
                    await route.fulfill(status=204, body=b"")
                    return
                if document.url != request.url:
                    # A fulfilled answer cannot change the URL: send the page on to where the redirects ended.
                    state.documents[document.url] = document
                    await route.fulfill(status=200, content_type="text/html",
                                        body=f"<script>location.replace({json.dumps(document.url)})</script>")
                    return
                await self._fulfil(route, document, state.scripts_off)
                return
            if request.method != "GET":
                await asyncio.get_running_loop().run_in_executor(None, self.policy.check, request.url)
                response = await route.fetch(max_redirects=0, timeout=max(0.1, deadline - time.monotonic()) * 1000)
                if 300 <= response.status < 400:
                    await route.abort("blockedbyclient")  # a redirected POST is not followed
                else:
                    await route.fulfill(response=response)
                return
            await self._fulfil(route, await self._fetch_resource(request, deadline))
        except (Blocked, FetchError, Refused):
            await self._quietly(route.abort("blockedbyclient"))
        except Exception:
            await self._quietly(route.abort("failed"))  # the page or its context is gone

    async def _fetch_resource(self, request, deadline: float) -> FetchResult:
        url, headers = request.url, request.headers
        for _hop in range(self.render.max_redirects + 1):
            result = await asyncio.get_running_loop().run_in_executor(None, lambda: fetch_hop(
                url, self.policy, deadline=deadline, max_bytes=self.render.max_page_bytes, headers=headers))
            if not result.is_redirect:
                return result
            url = result.location
        raise FetchError(f"too_many_redirects more than {self.render.max_redirects}")

    def _wanted_svg(self, request) -> bool:
        # SVG images are rasterised into the tree, so they load even when images are blocked.
        return self.render.rasterize_svg and request.resource_type == "image" and urlsplit(request.url).path.lower().endswith(".svg")

    @staticmethod
    async def _fulfil(route, result: FetchResult, scripts_off: bool = False) -> None:
        await route.fulfill(status=result.status, headers=_response_headers(result, scripts_off), body=result.body)

    @staticmethod
    async def _quietly(awaitable) -> None:
        try:
            await awaitable
        except Exception:
            pass

    async def _rasterize(self, page, nodes: list[dict], deadline: float) -> list[dict]:
        """Screenshot the SVG images and inline SVG diagrams tree.js marked, as PNG data: URLs.

        An SVG that cannot be captured keeps its URL (the images stage then reports it)
        or, drawn inline, is left out."""
        kept = []
        for node in nodes:
            marker = node.pop("raster", None)
            if marker is not None:
                png = None
                budget = min(3.0, deadline - time.monotonic() - 0.5)
                if budget > 0:
                    try:
                        element = page.locator(f'[data-webmine-raster="{marker}"]').first
                        await element.evaluate(LOAD_IMAGE_JS, node.get("src"), timeout=budget * 1000)
                        png = await element.screenshot(type="png", animations="disabled", timeout=budget * 1000)
                    except Exception:
                        png = None
                if png:
                    node["src"] = "data:image/png;base64," + base64.b64encode(png).decode()
                elif not node.get("src"):
                    continue
            kept.append(node)
        return kept


_shared: dict[str, Renderer] = {}
_shared_lock = threading.Lock()


def shared_renderer(render: RenderConfig, network: NetworkConfig) -> Renderer:
    """This process's renderer for these settings, started on first use, closed at exit."""
    key = render.model_dump_json() + network.model_dump_json()
    with _shared_lock:
        renderer = _shared.get(key)
        if renderer is None:
            for old in list(_shared):  # one browser per process: other settings give theirs up
                _shared.pop(old).close()
            renderer = _shared[key] = Renderer(render, network)
            atexit.register(renderer.close)
        return renderer


def render_partitions(render: RenderConfig, network: NetworkConfig):
    """A mapInPandas function: (url_id, url) batches in, pages rows out, through the process's renderer."""

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        renderer = shared_renderer(render, network)
        for batch in batches:
            rows = renderer.render_many(list(zip(batch["url_id"], batch["url"])))
            yield pd.DataFrame(rows, columns=Page.transform_schema().fieldNames())

    return run
