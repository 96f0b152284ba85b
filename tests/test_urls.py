import pytest

from runtime.config import UrlsConfig
from udfs.urls import InvalidUrl, blocked_by, normalize

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
    ],
)
def test_normalize(raw, expected):
    assert normalize(raw, TRACKING) == expected


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
