"""robots.txt, read once per site and process, through the network policy (RFC 9309).

A missing robots.txt (any 4xx) allows everything; one that cannot be read (5xx,
timeout, connection error) disallows the whole site, as the RFC asks. Rules are
matched for the product token of the configured User-Agent (`WebMine/0.1 ...` ->
`webmine`), and so is `Crawl-delay`.
"""
from __future__ import annotations

import threading
from urllib.parse import urlsplit
from urllib.robotparser import RobotFileParser

from runtime.network import Blocked, FetchError, NetworkPolicy, fetch

MAX_ROBOTS_BYTES = 500_000  # RFC 9309 asks crawlers to read at least 500 KiB


class Robots:
    def __init__(self, policy: NetworkPolicy, timeout_s: float):
        self.policy = policy
        self.timeout_s = timeout_s
        self._rules: dict[str, RobotFileParser | str] = {}  # site -> rules, or why nothing may be fetched
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def refusal(self, url: str) -> str | None:
        """None when robots.txt lets the configured agent fetch url, else the reason."""
        site, rules = self._rules_for(url)
        if isinstance(rules, str):
            return rules
        if not rules.can_fetch(self.policy.user_agent, url):
            return f"disallowed by {site}/robots.txt"
        return None

    def crawl_delay(self, url: str) -> float | None:
        """The seconds the site asks between two requests of the configured agent, if it asks."""
        _, rules = self._rules_for(url)
        if isinstance(rules, str):
            return None
        delay = rules.crawl_delay(self.policy.user_agent)
        return float(delay) if delay is not None else None

    def _rules_for(self, url: str) -> tuple[str, RobotFileParser | str]:
        parts = urlsplit(url)
        site = f"{parts.scheme}://{parts.netloc}"
        with self._guard:
            lock = self._locks.setdefault(site, threading.Lock())
        with lock:  # one fetch per site, however many pages of it wait
            if site not in self._rules:
                self._rules[site] = self._load(site)
        return site, self._rules[site]

    def _load(self, site: str) -> RobotFileParser | str:
        parser = RobotFileParser()
        try:
            result = fetch(f"{site}/robots.txt", self.policy, timeout_s=self.timeout_s, max_bytes=MAX_ROBOTS_BYTES)
        except Blocked as exc:
            return f"robots.txt refused: {exc}"
        except FetchError as exc:
            return f"robots.txt unreachable ({exc}): the site is treated as disallowed"
        if result.status >= 500:
            return f"robots.txt answered HTTP {result.status}: the site is treated as disallowed"
        parser.parse(result.body.decode("utf-8", "replace").splitlines() if result.status < 400 else [])
        return parser
