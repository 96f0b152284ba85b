"""robots.txt, read once per site and process, through the network policy (RFC 9309).

A missing robots.txt (any 4xx) allows everything; one that cannot be read (5xx,
timeout, connection error, over the size cap, too many redirects) disallows the whole
site, as the RFC asks. Rules follow the RFC: `*` matches any characters, a final `$`
anchors the end, the longest matching rule wins (an Allow on a tie), and percent-escapes
of unreserved characters equal the characters. The group is chosen for the product token of
the configured User-Agent (`WebMine/0.1 ...` -> `webmine`), the most specific group first,
else `*`; so is `Crawl-delay`.
"""
from __future__ import annotations

import re
import threading
from urllib.parse import urlsplit

from protego import Protego

from runtime.network import Blocked, FetchError, NetworkPolicy, fetch

MAX_ROBOTS_BYTES = 500_000  # RFC 9309 asks crawlers to read at least 500 KiB


def product_token(user_agent: str) -> str:
    """The name robots.txt groups are matched against: the User-Agent's first product, lower-cased."""
    return re.match(r"[A-Za-z_-]*", user_agent.strip()).group().lower()


class Robots:
    def __init__(self, policy: NetworkPolicy, timeout_s: float):
        self.policy = policy
        self.timeout_s = timeout_s
        self.agent = product_token(policy.user_agent)
        self._rules: dict[str, Protego | str] = {}  # site -> rules, or why nothing may be fetched
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def refusal(self, url: str) -> str | None:
        """None when robots.txt lets the configured agent fetch url, else the reason."""
        site, rules = self._rules_for(url)
        if isinstance(rules, str):
            return rules
        if not rules.can_fetch(url, self.agent):
            return f"disallowed by {site}/robots.txt"
        return None

    def crawl_delay(self, url: str) -> float | None:
        """The seconds the site asks between two requests of the configured agent, if it asks."""
        _, rules = self._rules_for(url)
        if isinstance(rules, str):
            return None
        return rules.crawl_delay(self.agent)

    def _rules_for(self, url: str) -> tuple[str, Protego | str]:
        parts = urlsplit(url)
        site = f"{parts.scheme}://{parts.netloc}"
        with self._guard:
            lock = self._locks.setdefault(site, threading.Lock())
        with lock:  # one fetch per site, however many pages of it wait
            if site not in self._rules:
                self._rules[site] = self._load(site)
        return site, self._rules[site]

    def _load(self, site: str) -> Protego | str:
        try:
            result = fetch(f"{site}/robots.txt", self.policy, timeout_s=self.timeout_s, max_bytes=MAX_ROBOTS_BYTES)
        except Blocked as exc:
            return f"robots.txt refused: {exc}"
        except FetchError as exc:
            return f"robots.txt unreachable ({exc}): the site is treated as disallowed"
        if result.status >= 500:
            return f"robots.txt answered HTTP {result.status}: the site is treated as disallowed"
        if result.status >= 400:
            return Protego.parse("")  # unavailable: every path is allowed
        return Protego.parse(result.body.decode("utf-8-sig", "replace"))  # RFC 9309: UTF-8, a BOM allowed
