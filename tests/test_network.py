import time

import pytest

from runtime.network import Blocked, FetchError, NetworkPolicy, classify_address, fetch, fetch_hop, resolve


@pytest.mark.parametrize(
    "address, kind",
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.20.0.5", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link_local"),  # cloud metadata endpoint
        ("fe80::1", "link_local"),
        ("224.0.0.251", "multicast"),
        ("240.0.0.1", "reserved"),
        ("0.0.0.0", "unspecified"),
        ("100.64.0.1", "reserved"),  # carrier-grade NAT: not global
        ("::ffff:10.0.0.1", "private"),  # IPv4-mapped
        ("::ffff:169.254.169.254", "link_local"),
        ("2002:a00:1::1", "private"),  # 6to4 around 10.0.0.1
        ("2001:0:4136:e378:8000:63bf:f5ff:fffe", "private"),  # Teredo, client 10.0.0.1
        ("fec0::1", "private"),  # IPv6 site-local
        ("fd12:3456::1", "private"),  # unique local
        ("192.0.2.10", "private"),  # documentation ranges
        ("2001:db8::1", "private"),
        ("198.18.0.1", "private"),  # benchmarking
        ("255.255.255.255", "reserved"),  # broadcast
        ("64:ff9b::a00:1", "reserved"),  # NAT64
        ("ff02::1", "multicast"),
        ("::", "unspecified"),
        ("93.184.216.34", "public"),
        ("2606:4700::1111", "public"),
    ],
)
def test_classify_address_without_traffic(address, kind):
    assert classify_address(address) == kind


def test_localhost_names_resolve_to_loopback_without_dns():
    assert resolve("forum.localhost") == ["127.0.0.1"]
    assert resolve("LOCALHOST.") == ["127.0.0.1"]
    assert resolve("10.0.0.7") == ["10.0.0.7"]


def test_policy_refuses_unlisted_loopback_and_other_schemes():
    policy = NetworkPolicy(allow_private=("*.localhost:18080",))
    assert policy.check("http://forum.localhost:18080/t/1") == ("forum.localhost", 18080, "127.0.0.1")
    with pytest.raises(Blocked, match="loopback"):
        policy.check("http://forum.localhost:18081/t/1")
    with pytest.raises(Blocked, match="private"):
        policy.check("http://192.168.0.10/")  # classified only: no request is made
    with pytest.raises(Blocked, match="scheme file"):
        policy.check("file:///etc/passwd")


def test_public_addresses_can_be_switched_off_before_any_lookup():
    policy = NetworkPolicy(allow_private=("*.localhost:18080",), allow_public=False)
    assert policy.check("http://forum.localhost:18080/t/1")[2] == "127.0.0.1"
    with pytest.raises(Blocked, match="not allow-listed and public addresses are off"):
        policy.check("http://name.that.does.not.resolve.invalid/")  # refused before DNS: no dns_error


def test_fetch_reads_allowed_loopback(http_server):
    url = http_server.add("/a.txt", b"hello", content_type="text/plain")
    policy = NetworkPolicy(allow_private=(f"127.0.0.1:{http_server.port}",))
    result = fetch(url, policy, timeout_s=5, max_bytes=100)
    assert (result.status, result.body, result.content_type) == (200, b"hello", "text/plain")


def test_redirect_to_unlisted_loopback_port_is_refused_before_any_request(http_server):
    from tests.conftest import LoopbackServer

    target = LoopbackServer()
    try:
        target.add("/secret", b"internal")
        start = http_server.add("/r1", status=302, headers={"Location": http_server.url("/r2")})
        http_server.add("/r2", status=301, headers={"Location": target.url("/secret")})
        policy = NetworkPolicy(allow_private=(f"127.0.0.1:{http_server.port}",))
        with pytest.raises(Blocked, match=f"127.0.0.1:{target.port} resolves to loopback"):
            fetch(start, policy, timeout_s=5, max_bytes=1000)
        assert http_server.hits == {"/r1": 1, "/r2": 1}
        assert target.hits == {}
    finally:
        target.close()


def test_fetch_limits(http_server):
    policy = NetworkPolicy(allow_private=(f"127.0.0.1:{http_server.port}",))
    big = http_server.add("/big", b"x" * 5000)
    with pytest.raises(FetchError, match="^too_large"):
        fetch(big, policy, timeout_s=5, max_bytes=1000)
    slow = http_server.add("/slow", b"late", delay_s=5)
    with pytest.raises(FetchError, match="^timeout"):
        fetch(slow, policy, timeout_s=0.5, max_bytes=1000)
    loop = http_server.add("/loop", status=302, headers={"Location": "/loop"})
    with pytest.raises(FetchError, match="^too_many_redirects"):
        fetch(loop, policy, timeout_s=5, max_bytes=1000, max_redirects=3)


def test_fetch_hop_returns_a_redirect_without_following_it(http_server):
    start = http_server.add("/from", status=307, headers={"Location": "../to?x=1", "Set-Cookie": "a=1"})
    policy = NetworkPolicy(allow_private=(f"127.0.0.1:{http_server.port}",))
    hop = fetch_hop(start, policy, deadline=time.monotonic() + 5, max_bytes=1000, headers={"Referer": "http://r/", "Host": "evil"})
    assert hop.is_redirect and hop.status == 307 and hop.location == http_server.url("/to?x=1")
    assert ("Set-Cookie", "a=1") in hop.headers
    assert http_server.hits == {"/from": 1}


def test_compressed_bodies_are_decoded_within_the_size_cap(http_server):
    import gzip

    policy = NetworkPolicy(allow_private=(f"127.0.0.1:{http_server.port}",))
    small = http_server.add("/small.gz", gzip.compress(b"hello " * 10), content_type="text/plain", headers={"Content-Encoding": "gzip"})
    assert fetch(small, policy, timeout_s=5, max_bytes=1000).body == b"hello " * 10
    bomb = http_server.add("/bomb.gz", gzip.compress(b"\0" * 5_000_000), content_type="text/plain", headers={"Content-Encoding": "gzip"})
    with pytest.raises(FetchError, match="^too_large over 100000 bytes once decompressed"):
        fetch(bomb, policy, timeout_s=5, max_bytes=100_000)
