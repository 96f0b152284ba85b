import re

import pytest

from runtime.config import UrlsConfig
from udfs.urls import HostSet, InvalidUrl, blocked_by, normalize

TRACKING = UrlsConfig().tracking_params


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("HTTP://Forum.Example.COM:80/t/1", "http://forum.example.com/t/1"),
        ("https://example.com:443/a/", "https://example.com/a/"),
        ("https://example.com:8443/a", "https://example.com:8443/a"),
        ("https://example.com/a#answer-3", "https://example.com/a"),
        ("https://example.com/a?utm_source=lens&b=2&a=1&fbclid=x", "https://example.com/a?a=1&b=2"),
        ("https://example.com/x/../y/./z", "https://example.com/y/z"),
        ("https://example.com", "https://example.com/"),
        ("https://example.com/caf%C3%A9 menu", "https://example.com/caf%C3%A9%20menu"),
        ("  https://bücher.example/  ", "https://xn--bcher-kva.example/"),
        ("http://user:secret@example.com/a", "http://example.com/a"),
        ("https://example.com./a", "https://example.com/a"),
    ],
)
def test_normalize(raw, expected):
    assert normalize(raw, TRACKING) == expected


@pytest.mark.parametrize(
    "raw, expected",
    [
        # an encoded reserved character is data, not a delimiter: %2F is no path separator
        ("https://example.com/a%2Fb/c", "https://example.com/a%2Fb/c"),
        ("https://example.com/wiki/AC%2FDC", "https://example.com/wiki/AC%2FDC"),
        ("https://example.com/a%3Fb%23c%3Bd", "https://example.com/a%3Fb%23c%3Bd"),
        ("https://example.com/s?q=a%26b%3Dc", "https://example.com/s?q=a%26b%3Dc"),
        # escapes of unreserved characters mean the characters; the others are upper-cased
        ("https://example.com/%7Euser/%41%2d%5F%2e", "https://example.com/~user/A-_."),
        ("https://example.com/a%2fb/caf%c3%a9", "https://example.com/a%2Fb/caf%C3%A9"),
        ("https://example.com/s?q=%7e%e9", "https://example.com/s?q=~%E9"),  # a Latin-1 escape stays as sent
        ("https://example.com/100%", "https://example.com/100%"),  # a stray % is left as a browser leaves it
        ("https://example.com/é?é=é", "https://example.com/%C3%A9?%C3%A9=%C3%A9"),
        # empty segments name other resources than collapsed ones
        ("https://example.com/a//b", "https://example.com/a//b"),
        ("https://example.com//a/", "https://example.com//a/"),
        # dot segments resolve (RFC 3986 section 5.2.4), encoded dots included
        ("https://example.com/a/b/..", "https://example.com/a/"),
        ("https://example.com/a/./b/../c/.", "https://example.com/a/c/"),
        ("https://example.com/../../a", "https://example.com/a"),
        ("https://example.com/a/%2E%2E/b/%2e/c", "https://example.com/b/c"),
        ("https://example.com/a//../b", "https://example.com/a/b"),
        ("https://example.com/a..b/.c", "https://example.com/a..b/.c"),
        # the query: pairs as written, sorted stably by name, empty pairs and trackers dropped
        ("https://example.com/s?b=1&a=2&a=1", "https://example.com/s?a=2&a=1&b=1"),
        ("https://example.com/s?x=a+b&y=a%20b", "https://example.com/s?x=a+b&y=a%20b"),
        ("https://example.com/s?print&&q=1&utm_medium=x&ref=y", "https://example.com/s?print&q=1"),
        ("https://example.com/s?", "https://example.com/s"),
    ],
)
def test_normalize_never_changes_the_resource(raw, expected):
    assert normalize(raw, TRACKING) == expected
    assert normalize(expected, TRACKING) == expected  # a normal URL is its own normal form


@pytest.mark.parametrize(
    "raw, expected",
    [
        # IDNA 2008 with UTS-46 non-transitional mapping, as browsers: ß is kept, not turned into ss
        ("https://faß.de/", "https://xn--fa-hia.de/"),
        ("https://FASS.de/", "https://fass.de/"),
        ("https://Bücher.example/", "https://xn--bcher-kva.example/"),
        ("https://BÜCHER.example/", "https://xn--bcher-kva.example/"),
        ("https://xn--bcher-kva.example/", "https://xn--bcher-kva.example/"),
        ("https://ﬁ.example/", "https://fi.example/"),  # UTS-46 maps compatibility characters
        ("https://例え.テスト/", "https://xn--r8jz45g.xn--zckzah/"),
        ("https://b%C3%BCcher.example/", "https://xn--bcher-kva.example/"),
        # ASCII labels pass as browsers let them
        ("https://my_host.example.com/", "https://my_host.example.com/"),
        ("https://r3---sn-abc.googlevideo.com/v", "https://r3---sn-abc.googlevideo.com/v"),
        # IP addresses in their short form
        ("http://[2001:DB8:0:0::1]:8080/a", "http://[2001:db8::1]:8080/a"),
        ("http://[::1]:80/", "http://[::1]/"),
        ("http://127.0.0.1:8080/a", "http://127.0.0.1:8080/a"),
    ],
)
def test_hosts_in_idna_2008_a_labels(raw, expected):
    assert normalize(raw, TRACKING) == expected


@pytest.mark.parametrize(
    "raw, reason",
    [
        ("https://xn--abc.example/", "invalid host name 'xn--abc.example' (IDNA 2008)"),  # no valid U-label
        ("https://xn--/", "invalid host name 'xn--' (IDNA 2008)"),
        ("https://☃.example/", "invalid host name '☃.example' (IDNA 2008): Codepoint U+2603"),  # a symbol
        ("https://a..example/", "invalid host name 'a..example' (IDNA 2008): empty label"),
        ("https://ex ample.com/", "invalid host name 'ex ample.com' (IDNA 2008): forbidden character"),
        ("https://exa%2Fmple.com/", "invalid host name 'exa/mple.com' (IDNA 2008): forbidden character"),
        ("https://١٢٣.example/", "invalid host name '١٢٣.example' (IDNA 2008)"),  # bidi rule
    ],
)
def test_invalid_hosts_are_invalid_with_the_reason(raw, reason):
    with pytest.raises(InvalidUrl, match=re.escape(reason)):
        normalize(raw, TRACKING)


def test_an_invalid_host_becomes_an_invalid_row_with_its_reason():
    from jobs.normalize_urls import verdict

    nothing = HostSet([])
    _, url, host, status, reason = verdict("https://☃.example/q", TRACKING, nothing, nothing, frozenset())
    assert (url, host, status) == ("https://☃.example/q", None, "invalid") and "IDNA 2008" in reason
    _, url, host, status, reason = verdict("https://Bücher.example/q#a", TRACKING, nothing, nothing, frozenset())
    assert (url, host, status, reason) == ("https://xn--bcher-kva.example/q", "xn--bcher-kva.example", "ok", None)
    assert verdict("http://[::1]:8080/q", TRACKING, HostSet(["::1"]), nothing, frozenset())[2:4] == ("::1", "blocked")


def test_spellings_of_one_page_normalise_to_one_url():
    spellings = [
        "http://QA.localhost:18080/questions/5001/x?utm_campaign=a#top",
        "http://qa.localhost:18080/questions/5001/x",
        "http://qa.localhost:18080/questions/./5001/x?gclid=123",
    ]
    assert len({normalize(s, TRACKING) for s in spellings}) == 1


@pytest.mark.parametrize("raw", ["ftp://example.com/x", "javascript:alert(1)", "http:///nohost", "http://[::1/"])
def test_invalid_urls(raw):
    with pytest.raises(InvalidUrl):
        normalize(raw, TRACKING)


def test_blocked_by_covers_subdomains_only():
    blocklist = ["youtube.com", "shop.localhost"]
    assert blocked_by("www.youtube.com", blocklist) == "youtube.com"
    assert blocked_by("youtube.com", blocklist) == "youtube.com"
    assert blocked_by("notyoutube.com", blocklist) is None
    assert blocked_by("shop.localhost", blocklist) == "shop.localhost"
    assert blocked_by("forum.localhost", blocklist) is None


def test_urls_are_dropped_with_their_reason_and_keep_the_seeds_that_found_them(spark):
    from jobs.normalize_urls import frequent_hosts, judge_hits, verdicts

    hits = [
        ("h1", "s1", 1, "https://www.youtube.com/watch?v=1"),
        ("h2", "s1", 1, "https://mathverse-cuhk.github.io/#leaderboard"),
        ("h3", "s2", 2, "https://big.example/a?utm_source=lens"),
        ("h4", "s1", 1, "https://big.example/a"),
        ("h5", "s2", 2, "https://big.example/b"),
        ("h6", "s2", 2, "https://small.example/x"),
        ("h7", "s2", 2, "mailto:someone@example.com"),
    ]
    df = spark.createDataFrame(hits, "hit_id string, seed_id string, round long, url string")
    assert frequent_hosts(df, 1) == ["big.example"] and frequent_hosts(df, 0) == []
    judge = verdicts(TRACKING, ["youtube.com"], ["mathverse-cuhk.github.io"], frequent_hosts(df, 1))
    rows = {r["url"]: r for r in judge_hits(df, judge).collect()}
    assert rows["https://www.youtube.com/watch?v=1"]["status"] == "blocked"
    assert rows["https://mathverse-cuhk.github.io/"]["status"] == "benchmark"
    assert "evaluation benchmark" in rows["https://mathverse-cuhk.github.io/"]["reason"]
    one = rows["https://big.example/a"]
    assert one["status"] == "frequent_domain" and one["hit_ids"] == ["h3", "h4"] and one["seed_ids"] == ["s1", "s2"] and one["round"] == 1
    assert rows["https://small.example/x"]["status"] == "ok" and rows["https://small.example/x"]["round"] == 2
    assert rows["mailto:someone@example.com"]["status"] == "invalid"


def test_shipped_benchmark_hosts_and_block_list_cover_their_subdomains():
    from runtime.config import load_config
    from tests.conftest import REPO

    config = load_config(REPO / "conf" / "local.yaml")
    assert blocked_by("upload.wikimedia.org", config.blocked_hosts()) == "wikimedia.org"
    assert blocked_by("mathvista.github.io", config.benchmark_hosts()) == "mathvista.github.io"
    assert blocked_by("github.io", config.benchmark_hosts()) is None
