"""URL normalisation and domain filtering (pure functions, used inside a Spark UDF), and URL hosts as
Spark columns."""
from __future__ import annotations

import fnmatch
import functools
import ipaddress
import re
import string
from urllib.parse import unquote, unquote_plus, urlsplit, urlunsplit

import idna
from pyspark.sql import Column
from pyspark.sql import functions as F
from w3lib.url import safe_url_string

DEFAULT_PORTS = {"http": 80, "https": 443}
UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")  # RFC 3986: their escapes mean them
PERCENT_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
FORBIDDEN_HOST_CHARS = frozenset(" \t\n\r#%/:<>?@[\\]^|")  # the URL Standard's forbidden host code points


class InvalidUrl(ValueError):
    pass


def normalize(url: str, tracking_params: list[str]) -> str:
    """The one spelling of url that names the same resource: lower-case scheme, host in IDNA 2008
    A-labels, no default port, userinfo or fragment, dot segments resolved, escapes of unreserved
    characters decoded and the others upper-cased, tracking parameters dropped and the query
    sorted by name. Reserved characters stay encoded (`%2F` is no `/`) and empty segments stay.
    Raises InvalidUrl, with the reason, for what is not an http(s) URL with a valid host."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise InvalidUrl(f"unparseable URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise InvalidUrl(f"scheme {scheme or 'none'} is not http or https")
    host = ascii_host(parts.hostname or "")
    netloc = host if port in (None, DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    # What a browser would send: unsafe characters percent-encoded as UTF-8, escapes kept as written.
    safe = urlsplit(safe_url_string(urlunsplit((scheme, netloc, parts.path, parts.query, ""))))
    path = remove_dot_segments(normal_escapes(safe.path) or "/")
    return urlunsplit((scheme, netloc, path, clean_query(safe.query, tracking_params), ""))


def ascii_host(host: str) -> str:
    """host as sent on the wire: an IP address in its short form, else a domain in A-labels by
    IDNA 2008 with the UTS-46 mapping browsers apply (`faß.de` -> `xn--fa-hia.de`, not `fass.de`).
    ASCII labels pass as browsers let them (`_`, `--`), except a malformed `xn--` label."""
    host = unquote(host).rstrip(".")
    if not host:
        raise InvalidUrl("no host")
    if ":" in host or host[0].isdigit():  # could be an IP address; most hosts are names
        try:
            address = ipaddress.ip_address(host)
            return f"[{address.compressed}]" if address.version == 6 else address.compressed
        except ValueError:
            pass
    try:
        # UTS-46 maps nothing in an ASCII host but letter case
        mapped = host.lower() if host.isascii() else idna.uts46_remap(host, std3_rules=False, transitional=False)
        labels = mapped.split(".")
        if "" in labels:
            raise idna.IDNAError("empty label")
        ascii_labels = [label if label.isascii() else idna.alabel(label).decode("ascii") for label in labels]
        for label in ascii_labels:
            if label.startswith("xn--"):
                idna.ulabel(label)  # raises for an A-label that decodes to no valid U-label
            if FORBIDDEN_HOST_CHARS.intersection(label):
                raise idna.IDNAError(f"forbidden character in label {label!r}")
    except (idna.IDNAError, UnicodeError) as exc:
        raise InvalidUrl(f"invalid host name {host!r} (IDNA 2008): {exc}") from None
    return ".".join(ascii_labels)


def normal_escapes(text: str) -> str:
    """Escapes of unreserved characters decoded (`%7E` -> `~`), every other escape upper-cased."""
    def one(escape: re.Match) -> str:
        char = chr(int(escape[1], 16))
        return char if char in UNRESERVED else f"%{escape[1].upper()}"
    return PERCENT_ESCAPE.sub(one, text)


def remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4 on an absolute path: `.` and `..` resolved, empty segments kept."""
    segments = path.split("/")[1:]
    resolved: list[str] = []
    for i, segment in enumerate(segments):
        last = i == len(segments) - 1
        if segment == "..":
            if resolved:
                resolved.pop()
        elif segment != ".":
            resolved.append(segment)
            continue
        if last:  # a path ending in a dot segment names the directory
            resolved.append("")
    return "/" + "/".join(resolved)


def clean_query(query: str, tracking_params: list[str]) -> str:
    """The query without tracking parameters or empty pairs, each pair kept as written (escapes
    normalised), stably sorted by name so that a repeated name keeps the order of its values."""
    tracking = tracking_pattern(tuple(tracking_params))
    pairs = [normal_escapes(pair) for pair in query.split("&") if pair]
    kept = [pair for pair in pairs if not tracking.fullmatch(unquote_plus(pair.split("=", 1)[0]).lower())]
    return "&".join(sorted(kept, key=lambda pair: pair.split("=", 1)[0]))


@functools.lru_cache(maxsize=8)
def tracking_pattern(patterns: tuple[str, ...]) -> re.Pattern:
    """One regular expression for the shell patterns of tracking parameter names (`utm_*`)."""
    return re.compile("|".join(fnmatch.translate(p.lower()) for p in patterns) or "(?!)")


def blocked_by(host: str, blocklist: list[str]) -> str | None:
    """The block-list entry that covers host (the entry itself or a subdomain of it)."""
    return HostSet(blocklist).covering(host)


class HostSet:
    """Host names, each covering its subdomains; a look-up costs one set probe per label."""

    def __init__(self, hosts: list[str]):
        self.hosts = frozenset(h.lower().lstrip(".") for h in hosts)

    def covering(self, host: str) -> str | None:
        """The entry that is host or a parent domain of it, if any."""
        labels = host.lower().split(".")
        for i in range(len(labels)):
            candidate = ".".join(labels[i:])
            if candidate in self.hosts:
                return candidate
        return None


def host_of(url_column: str) -> Column:
    """The URL's host, lower-cased, as a Spark column (null for a URL without one, such as data:).
    Work partitioned by it keeps each host in one task, where its politeness limits are kept."""
    return F.lower(F.expr(f"parse_url({url_column}, 'HOST')"))
