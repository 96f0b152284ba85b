"""URL normalisation and domain filtering (pure functions, used inside a Spark UDF)."""
from __future__ import annotations

import fnmatch
import posixpath
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

DEFAULT_PORTS = {"http": 80, "https": 443}


class InvalidUrl(ValueError):
    pass


def normalize(url: str, tracking_params: list[str]) -> str:
    """Lower-case scheme and host, drop default ports, fragments and tracking parameters,
    sort the query, resolve dot segments. Raises InvalidUrl for what is not http(s)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise InvalidUrl(f"unparseable URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise InvalidUrl(f"scheme {scheme or 'none'} is not http or https")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise InvalidUrl("no host")
    try:
        host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise InvalidUrl(f"invalid host name {host!r}") from None
    netloc = host if port in (None, DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    path = posixpath.normpath(unquote(parts.path)) if parts.path not in ("", "/") else "/"
    if parts.path.endswith("/") and path != "/":
        path += "/"
    path = quote(path, safe="/%:@!$&'()*+,;=-._~")
    query = [
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not any(fnmatch.fnmatch(k.lower(), pattern) for pattern in tracking_params)
    ]
    return urlunsplit((scheme, netloc, path, urlencode(sorted(query)), ""))


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
