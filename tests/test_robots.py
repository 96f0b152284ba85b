"""robots.txt per RFC 9309, each read from a loopback server through the network policy."""
import pytest

from runtime.network import NetworkPolicy
from runtime.robots import Robots, product_token
from tests.conftest import free_port

RULES = """# comments and blank lines are ignored

User-agent: *
Disallow: /*.pdf$
Disallow: /page
Allow: /page/solutions
Allow: /forum/
Disallow: /forum/*/edit
Disallow: /foo/bar/%62%61%7A
Disallow: /café
Disallow: /a%2Fb
Disallow: /tie
Allow: /tie
Crawl-delay: 2.5

User-agent: OtherBot
Disallow: /
"""


def robots_for(*ports: int, user_agent: str = "WebMine/0.1 (+https://example.invalid/webmine)") -> Robots:
    policy = NetworkPolicy(allow_private=tuple(f"127.0.0.1:{p}" for p in ports), user_agent=user_agent,
                           allow_public=False)
    return Robots(policy, timeout_s=5)


@pytest.fixture
def site(http_server):
    http_server.add("/robots.txt", RULES, content_type="text/plain")
    return http_server


@pytest.mark.parametrize(
    "path, allowed",
    [
        ("/a.pdf", False),  # `*` matches any characters, `$` anchors the end
        ("/docs/a.pdf", False),
        ("/a.pdf?download=1", True),  # the anchor: something follows .pdf
        ("/a.pdfx", True),
        ("/page", False),
        ("/page/solutions", True),  # the longer Allow beats the shorter Disallow
        ("/page/solutions/3", True),
        ("/pages", False),
        ("/forum/t/1", True),
        ("/forum/t/1/edit", False),  # the longer Disallow beats the shorter Allow
        ("/foo/bar/baz", False),  # %62%61%7A is "baz": escapes of unreserved characters equal them
        ("/foo/bar/%62az", False),
        ("/caf%C3%A9", False),  # the rule's non-ASCII characters are UTF-8 percent-encoded
        ("/café", False),
        ("/a%2fb", False),  # escape case does not matter
        ("/a/b", True),  # an encoded "/" is no path separator
        ("/tie/1", True),  # an Allow as long as the Disallow: the less restrictive rule
        ("/robots.txt", True),
        ("/anything/else", True),
    ],
)
def test_rules_follow_rfc_9309(site, path, allowed):
    refusal = robots_for(site.port).refusal(site.url(path))
    assert (refusal is None) == allowed
    if not allowed:
        assert refusal == f"disallowed by http://127.0.0.1:{site.port}/robots.txt"


def test_the_group_of_the_product_token_wins_over_star_and_robots_txt_is_read_once(site):
    assert product_token("WebMine/0.1 (+https://example.invalid/webmine)") == "webmine"
    robots = robots_for(site.port)
    other = robots_for(site.port, user_agent="OtherBot/2.0")
    assert robots.refusal(site.url("/forum/t/1")) is None and robots.refusal(site.url("/forum/t/2")) is None
    assert other.refusal(site.url("/forum/t/1")) is not None
    assert site.hits["/robots.txt"] == 2  # once per Robots, however many pages


def test_crawl_delay_of_the_agents_group(site):
    assert robots_for(site.port).crawl_delay(site.url("/x")) == 2.5
    assert robots_for(site.port, user_agent="OtherBot/2.0").crawl_delay(site.url("/x")) is None


def test_missing_robots_txt_allows_everything(http_server):
    robots = robots_for(http_server.port)  # no route: the loopback server answers 404
    assert robots.refusal(http_server.url("/page")) is None
    assert robots.crawl_delay(http_server.url("/page")) is None
    assert http_server.hits["/robots.txt"] == 1


@pytest.mark.parametrize("status", [500, 503])
def test_server_error_disallows_the_whole_site(http_server, status):
    http_server.add("/robots.txt", "down", status=status, content_type="text/plain")
    robots = robots_for(http_server.port)
    assert robots.refusal(http_server.url("/page")) == (
        f"robots.txt answered HTTP {status}: the site is treated as disallowed")
    assert robots.crawl_delay(http_server.url("/page")) is None


def test_unreachable_robots_txt_disallows_the_whole_site():
    port = free_port()  # allow-listed, nothing listens on it
    refusal = robots_for(port).refusal(f"http://127.0.0.1:{port}/page")
    assert refusal.startswith("robots.txt unreachable (connection_error") and "treated as disallowed" in refusal


def test_a_site_the_policy_refuses_is_not_asked(http_server):
    http_server.add("/robots.txt", "User-agent: *\nAllow: /\n", content_type="text/plain")
    refusal = robots_for().refusal(http_server.url("/page"))  # its port is not allow-listed
    assert refusal.startswith("robots.txt refused:") and "/robots.txt" not in http_server.hits
