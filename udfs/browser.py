"""Page rendering in the system Chromium through Playwright, as a Spark map function.

One browser per Spark task renders a partition's URLs several at a time. Every
request the page makes goes through the network policy; media and fonts are not
fetched. Each URL ends as one `pages` row with a status and a reason.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import time
from pathlib import Path
from typing import Iterator

import pandas as pd

from runtime.config import NetworkConfig, RenderConfig
from runtime.network import Blocked, FetchError, NetworkPolicy
from schemas.pages import Page, TreeNode

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
TREE_JS = (Path(__file__).with_name("tree.js")).read_text()


def _page_row(url_id: str, url: str, **fields) -> dict:
    return Page.row(url_id=url_id, url=url, **fields)


class Renderer:
    """An open Chromium plus the settings to render pages with it."""

    def __init__(self, render: RenderConfig, network: NetworkConfig):
        self.render = render
        self.policy = NetworkPolicy(tuple(network.allow_private), network.user_agent)
        self.loop = asyncio.new_event_loop()
        self._playwright = None
        self._browser = None

    def __enter__(self) -> "Renderer":
        from playwright.async_api import async_playwright

        self._playwright = self.loop.run_until_complete(async_playwright().start())
        self._launch()
        return self

    def _launch(self) -> None:
        self._browser = self.loop.run_until_complete(
            self._playwright.chromium.launch(
                executable_path=str(self.render.chromium_path), headless=True, args=CHROMIUM_FLAGS
            )
        )

    def __exit__(self, *exc) -> None:
        try:
            if self._browser is not None:
                self.loop.run_until_complete(self._browser.close())
            if self._playwright is not None:
                self.loop.run_until_complete(self._playwright.stop())
        finally:
            self.loop.close()

    def render_many(self, rows: list[tuple[str, str]]) -> list[dict]:
        """Render (url_id, url) pairs, `concurrency` at a time; one row per URL, in order."""
        if not self._browser.is_connected():
            self._launch()
        return self.loop.run_until_complete(self._render_all(rows))

    async def _render_all(self, rows: list[tuple[str, str]]) -> list[dict]:
        context = await self._browser.new_context(user_agent=self.policy.user_agent, java_script_enabled=True)
        await context.route("**/*", self._guard)
        gate = asyncio.Semaphore(self.render.concurrency)

        async def one(url_id: str, url: str) -> dict:
            async with gate:
                return await self._render_one(context, url_id, url)

        try:
            return await asyncio.gather(*(one(url_id, url) for url_id, url in rows))
        finally:
            await context.close()

    async def _guard(self, route) -> None:
        request = route.request
        if request.resource_type in self.render.block_resource_types:
            await route.abort("blockedbyclient")
            return
        try:
            await asyncio.get_running_loop().run_in_executor(None, self.policy.check, request.url)
        except (Blocked, FetchError):
            await route.abort("blockedbyclient")
            return
        await route.continue_()

    async def _render_one(self, context, url_id: str, url: str) -> dict:
        started = time.monotonic()
        try:
            self.policy.check(url)
        except Blocked as exc:
            return _page_row(url_id, url, status="blocked", reason=str(exc))
        except FetchError as exc:
            return _page_row(url_id, url, status="error", reason=str(exc))
        page = await context.new_page()
        try:
            return await asyncio.wait_for(self._load(page, url_id, url, started), self.render.page_timeout_s)
        except asyncio.TimeoutError:
            return _page_row(url_id, url, status="timeout", reason=f"no result within {self.render.page_timeout_s:g} s",
                             render_ms=int((time.monotonic() - started) * 1000))
        except Exception as exc:  # a crashed page or a browser error is a row, not a failed task
            return _page_row(url_id, url, status="error", reason=f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}",
                             render_ms=int((time.monotonic() - started) * 1000))
        finally:
            try:
                await page.close()
            except Exception:
                pass

    async def _load(self, page, url_id: str, url: str, started: float) -> dict:
        from playwright.async_api import TimeoutError as PlaywrightTimeout

        response = await page.goto(url, wait_until="load", timeout=self.render.page_timeout_s * 1000)
        if self.render.network_idle_timeout_s > 0:
            try:
                await page.wait_for_load_state("networkidle", timeout=self.render.network_idle_timeout_s * 1000)
            except PlaywrightTimeout:
                pass  # pages that poll forever still render what they have
        elapsed = int((time.monotonic() - started) * 1000)
        final_url = page.url
        if response is None:
            return _page_row(url_id, url, status="error", reason="no response", final_url=final_url, render_ms=elapsed)
        content_type = (await response.header_value("content-type")) or ""
        if response.status >= 400:
            return _page_row(url_id, url, status="http_error", reason=f"HTTP {response.status}",
                             http_status=response.status, final_url=final_url, render_ms=elapsed)
        if "html" not in content_type:
            return _page_row(url_id, url, status="not_html", reason=f"content type {content_type or 'missing'}",
                             http_status=response.status, final_url=final_url, render_ms=elapsed)
        result = await page.evaluate(TREE_JS)
        tree = [TreeNode(**node) for node in result["nodes"]]
        text = "\n".join(node.text for node in tree if node.text)
        if len(text.encode()) > self.render.max_page_bytes:
            return _page_row(url_id, url, status="too_large", reason=f"tree text over {self.render.max_page_bytes} bytes",
                             http_status=response.status, final_url=final_url, render_ms=elapsed)
        signature = json.dumps([(n.kind, n.text, n.alt) for n in tree])
        return _page_row(
            url_id, url, status="ok", http_status=response.status, final_url=final_url, title=result["title"][:500],
            tree=[node.model_dump() for node in tree], text_chars=len(text),
            content_hash=hashlib.sha256(signature.encode()).hexdigest(),
            render_ms=int((time.monotonic() - started) * 1000),
        )


def render_partitions(render: RenderConfig, network: NetworkConfig):
    """A mapInPandas function: (url_id, url) batches in, pages rows out, one browser per task."""

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        with Renderer(render, network) as renderer:
            for batch in batches:
                rows = renderer.render_many(list(zip(batch["url_id"], batch["url"])))
                yield pd.DataFrame(rows, columns=Page.transform_schema().fieldNames())

    return run
