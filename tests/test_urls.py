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
