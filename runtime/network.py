"""Network policy for every fetch the pipeline makes: which addresses may be reached.

Host names are resolved first and the addresses classified; loopback, private,
link-local, multicast and reserved addresses are refused unless the `host:port`
is allow-listed in conf (the sample web). `fetch()` connects to the address it
checked, so a second DNS answer cannot swap in another one.
"""
from __future__ import annotations

import fnmatch
import http.client
import ipaddress
import socket
import ssl
import time
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

if TYPE_CHECKING:
    from runtime.config import NetworkConfig


class Blocked(Exception):
    """A URL the policy refuses; the message is the reason recorded in the table."""


class FetchError(Exception):
    """A fetch that failed: the first word of the message is its status."""


def classify_address(address: str) -> str:
    """'public', or the kind of non-public address ('loopback', 'private', ...)."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        # An IPv4 address carried inside IPv6 (mapped, 6to4, Teredo) is judged as itself.
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None:
            return classify_address(str(embedded))
        if ip.is_site_local:
            return "private"
    for kind in ("loopback", "link_local", "multicast", "unspecified", "reserved", "private"):
        if getattr(ip, f"is_{kind}"):
            return kind
    if not ip.is_global:
        return "reserved"
    return "public"


def resolve(host: str) -> list[str]:
    host = host.lower().rstrip(".")
    # RFC 6761: names under .localhost always mean this machine.
    if host == "localhost" or host.endswith(".localhost"):
        return ["127.0.0.1"]
    try:
        ipaddress.ip_address(host)
        return [host]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise FetchError(f"dns_error {host}: {exc.strerror}") from None
    return sorted({info[4][0] for info in infos})


@dataclass(frozen=True)
class NetworkPolicy:
    allow_private: tuple[str, ...] = ()
    user_agent: str = "WebMine"
    allow_public: bool = True  # False: only allow-listed host:ports, refused before any DNS look-up

    @classmethod
    def from_config(cls, network: "NetworkConfig") -> "NetworkPolicy":
        return cls(tuple(network.allow_private), network.user_agent, network.allow_public)

    def allowed_private(self, host: str, port: int) -> bool:
        return any(fnmatch.fnmatch(f"{host}:{port}", pattern) for pattern in self.allow_private)

    def check(self, url: str) -> tuple[str, int, str]:
        """Return (host, port, address to connect to), or raise Blocked with the reason."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise Blocked(f"scheme {parts.scheme or 'none'} is not http or https")
        host = (parts.hostname or "").lower()
        if not host:
            raise Blocked("no host in URL")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        listed = self.allowed_private(host, port)
        if not self.allow_public and not listed:
            raise Blocked(f"{host}:{port} is not allow-listed and public addresses are off")
        addresses = resolve(host)
        for address in addresses:
            kind = classify_address(address)
            if kind != "public" and not listed:
                raise Blocked(f"{host}:{port} resolves to {kind} address {address}")
        return host, port, addresses[0]


REDIRECT_STATUSES = (301, 302, 303, 307, 308)
# Headers that describe one connection, not the resource: never passed on.
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "host",
              "accept-encoding", "proxy-connection", "upgrade", "te", "trailer"}


@dataclass
class FetchResult:
    url: str
    status: int
    content_type: str
    body: bytes
    headers: list[tuple[str, str]] = field(default_factory=list)
    location: str | None = None  # the absolute redirect target of a 3xx answer

    @property
    def is_redirect(self) -> bool:
        return self.location is not None


def fetch_hop(url: str, policy: NetworkPolicy, *, deadline: float, max_bytes: int,
              headers: dict[str, str] | None = None, method: str = "GET", body: bytes | None = None) -> FetchResult:
    """One request (a GET unless told), redirects not followed: the policy checked, the checked
    address connected to, the answer capped at max_bytes and the whole exchange ended by
    `deadline` (time.monotonic())."""
    host, port, address = policy.check(url)
    parts = urlsplit(url)
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise FetchError("timeout before the request was sent")
    if parts.scheme == "https":
        conn: http.client.HTTPConnection = _PinnedHTTPS(host, address, port, timeout=remaining)
    else:
        conn = http.client.HTTPConnection(address, port, timeout=remaining)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    sent = {"Accept": "*/*", **{k: v for k, v in (headers or {}).items() if k.lower() not in HOP_BY_HOP},
            "Host": parts.netloc, "User-Agent": policy.user_agent}
    try:
        conn.request(method, target, body=body, headers=sent)
        response = conn.getresponse()
        location = response.getheader("Location") if response.status in REDIRECT_STATUSES else None
        declared = response.getheader("Content-Length")
        if declared and declared.isdigit() and int(declared) > max_bytes:
            raise FetchError(f"too_large declared {declared} bytes > {max_bytes}")
        chunks, size = [], 0
        while True:
            if time.monotonic() > deadline:
                raise FetchError("timeout while reading the body")
            chunk = response.read(65536)
            if not chunk:
                break
            size += len(chunk)
            if size > max_bytes:
                raise FetchError(f"too_large over {max_bytes} bytes")
            chunks.append(chunk)
        body = _decoded(b"".join(chunks), response.getheader("Content-Encoding"), max_bytes)
        return FetchResult(url, response.status, response.getheader("Content-Type") or "", body,
                           response.getheaders(), urljoin(url, location) if location else None)
    except (socket.timeout, TimeoutError):
        raise FetchError("timeout waiting for the server") from None
    except (OSError, http.client.HTTPException) as exc:
        raise FetchError(f"connection_error {type(exc).__name__}: {exc}") from None
    finally:
        conn.close()


def _decoded(body: bytes, encoding: str | None, max_bytes: int) -> bytes:
    """The body without its gzip / deflate coding (sent although not asked for), size-capped."""
    coding = (encoding or "identity").strip().lower()
    if coding in ("identity", ""):
        return body
    if coding not in ("gzip", "x-gzip", "deflate"):
        raise FetchError(f"unsupported_encoding {coding}")
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 32 if coding != "deflate" else zlib.MAX_WBITS)
    try:
        plain = inflater.decompress(body, max_bytes + 1)
    except zlib.error as exc:
        raise FetchError(f"connection_error bad {coding} body: {exc}") from None
    if len(plain) > max_bytes:
        raise FetchError(f"too_large over {max_bytes} bytes once decompressed")
    return plain


def fetch(url: str, policy: NetworkPolicy, *, timeout_s: float, max_bytes: int, max_redirects: int = 5,
          headers: dict[str, str] | None = None) -> FetchResult:
    """GET following redirects, the policy checked on every hop, with a size cap and a wall-clock limit."""
    deadline = time.monotonic() + timeout_s
    for _hop in range(max_redirects + 1):
        try:
            result = fetch_hop(url, policy, deadline=deadline, max_bytes=max_bytes, headers=headers)
        except FetchError as exc:
            if str(exc).startswith("timeout"):
                raise FetchError(f"timeout after {timeout_s:g} s") from None
            raise
        if not result.is_redirect:
            return result
        url = result.location
    raise FetchError(f"too_many_redirects more than {max_redirects}")


class _PinnedHTTPS(http.client.HTTPSConnection):
    """HTTPS to a checked address, with the certificate verified for the host name."""

    def __init__(self, host: str, address: str, port: int, timeout: float):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)
