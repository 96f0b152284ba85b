import hashlib
import json
import re
import urllib.request
from collections import Counter

import pytest

from runtime.config import NetworkConfig, RenderConfig
from runtime.network import NetworkPolicy, fetch
from sampleweb.corpus import generate
from sampleweb.problems import SUBJECTS
from sampleweb.server import serve
from tests.conftest import same_render
from udfs.browser import Renderer
from udfs.extraction import extract_pairs


def digest(root):
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("web")
    return root, generate(root, port=18099, content_pages=120, seed=3)


def test_corpus_is_deterministic(tmp_path, corpus):
    root, _ = corpus
    generate(tmp_path / "again", port=18099, content_pages=120, seed=3)
    assert digest(tmp_path / "again") == digest(root)


def test_corpus_has_the_required_variety(corpus):
    root, manifest = corpus
    pages = manifest["pages"]
    assert len(pages) >= 150
    layouts = Counter(p["layout"] for p in pages)
    assert set(layouts) >= {"forum", "worksheet", "qa", "textbook", "tutor", "thread", "answer_key", "qa_microdata",
                            "hidden_solution", "shop", "news", "video", "mirror"}
    assert {p["subject"] for p in pages} == set(SUBJECTS) and len(SUBJECTS) >= 5
    assert all(p["duplicate_of"] in {q["url"] for q in pages} for p in pages if p["layout"] == "mirror")
    assert sorted(p["fault"] for p in pages if p["fault"]) == ["http_500", "timeout"]
    qas = [qa for p in pages for qa in p["qas"]]
    assert all(qa["answer"] and qa["question"] for qa in qas)
    assert 0 < sum(1 for qa in qas if not qa["question_images"]) < len(qas)  # text-only and illustrated
    html = "".join(f.read_text() for f in (root / "site" / "qa.localhost").rglob("*.html"))
    assert 'data-src="/img/' in html  # lazy images
    assert 'src="img/' in "".join(f.read_text() for f in (root / "site" / "worksheets.localhost").rglob("*.html"))


def page_html(root, page):
    host, path = page["url"].split("//", 1)[1].split("/", 1)
    target = root / "site" / host.split(":")[0] / path
    return (target if target.suffix == ".html" else target / "index.html").read_text()


def test_microdata_pages_accept_neither_the_first_nor_the_top_voted_answer(corpus):
    root, manifest = corpus
    pages = [p for p in manifest["pages"] if p["layout"] == "qa_microdata"]
    assert pages
    for page in pages:
        html = page_html(root, page)
        assert 'itemtype="https://schema.org/QAPage"' in html and 'itemtype="https://schema.org/Question"' in html
        answers = re.findall(r'data-score="(\d+)" itemprop="(\w+)"', html)
        roles = [role for _, role in answers]
        top = max(answers, key=lambda a: int(a[0]))
        assert roles.count("acceptedAnswer") == 1 and roles[0] != "acceptedAnswer" and top[1] != "acceptedAnswer"
        accepted = html.split('itemprop="acceptedAnswer"', 1)[1].split('itemprop="suggestedAnswer"', 1)[0]
        assert page["qas"][0]["answer"] in accepted and "Accepted" not in re.sub(r"<[^>]+>", "", accepted)
        assert 'aria-label="' in html and 'itemprop="upvoteCount"' in html


def test_threads_mark_the_solution_only_in_attributes(corpus):
    root, manifest = corpus
    pages = [p for p in manifest["pages"] if p["layout"] == "thread"]
    json_ld = set()
    for page in pages:
        html = page_html(root, page)
        text = re.sub(r"<script.*?</script>|<[^>]+>", " ", html, flags=re.S)
        assert not re.search(r"accepted|solution|solved", text, re.I)
        assert re.search(r'(title|aria-label)="(Accepted solution|Marked as solution)"', html)
        for block in re.findall(r'<script type="application/ld\+json">(.*?)</script>', html, re.S):
            data = json.loads(block)
            json_ld.add(data["@type"])
            if data["@type"] == "QAPage":
                assert page["qas"][0]["answer"] in data["mainEntity"]["acceptedAnswer"]["text"]
    assert json_ld == {"QAPage", "DiscussionForumPosting"} and len(pages) > 3


def test_answer_keys_and_hidden_solutions(corpus):
    root, manifest = corpus
    keys = [p for p in manifest["pages"] if p["layout"] == "answer_key"]
    assert keys and all(len(p["qas"]) == 3 and all(qa["solution"] == "" for qa in p["qas"]) for p in keys)
    for page in keys:
        key = re.split(r"<h[23]>Answer", page_html(root, page))[1]
        assert all(qa["answer"] in key for qa in page["qas"])
    hidden = Counter()
    for page in (p for p in manifest["pages"] if p["layout"] == "hidden_solution"):
        html = page_html(root, page)
        solution = html.split("</summary>" if "<details>" in html else " hidden>" if " hidden>" in html
                              else '<h2>Solution</h2>', 1)[1]
        assert page["qas"][0]["answer"] in solution
        hidden["details" if "<details>" in html else "hidden" if " hidden>" in html else "spoiler"] += 1
        if 'class="spoiler"' in html:
            assert 'style="display:none">' in solution
    assert set(hidden) == {"spoiler", "details", "hidden"}


def test_seeds_include_a_broken_file(corpus):
    root, manifest = corpus
    lines = (root / "seeds" / "manifest.csv").read_text().splitlines()
    assert lines[0] == "path,subject" and len(lines) - 1 == manifest["seeds"]
    assert any(line.startswith("seed_broken.jpg") for line in lines)


def test_server_serves_by_host_with_faults(corpus):
    root, manifest = corpus
    with serve(root, port=0) as port:
        policy = NetworkPolicy(allow_private=(f"*.localhost:{port}",))
        page = next(p for p in manifest["pages"] if p["layout"] == "tutor")
        path = page["url"].split(":18099", 1)[1]
        body = fetch(f"http://tutor.localhost:{port}{path}", policy, timeout_s=5, max_bytes=10**6).body.decode()
        assert "Loading solution" in body and "fetch('/api/solutions/" in body
        api = path.replace("/problems/", "/api/solutions/") + ".json"
        solution = json.loads(fetch(f"http://tutor.localhost:{port}{api}", policy, timeout_s=5, max_bytes=10**6).body)
        assert page["qas"][0]["answer"] in solution["html"]
        broken = next(p for p in manifest["pages"] if p["fault"] == "http_500")
        broken_path = broken["url"].split(":18099", 1)[1]
        broken_host = broken["url"].split("//", 1)[1].split(":")[0]
        assert fetch(f"http://{broken_host}:{port}{broken_path}", policy, timeout_s=5, max_bytes=10**6).status == 500
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/../../etc/passwd", timeout=5)


def test_auto_renders_every_page_as_the_browser_does(corpus):
    """Pages whose solutions a script inserts go to the browser; every other page is rendered with
    scripts off into the tree, and the pairs, that the browser gives it."""
    root, manifest = corpus
    pages = [p for p in manifest["pages"] if not p["fault"]]
    rows = {}
    with serve(root, port=0) as port:
        urls = [(p["url"], p["url"].replace(":18099", f":{port}")) for p in pages]
        network = NetworkConfig(allow_private=[f"*.localhost:{port}"], allow_public=False)
        for mode in ("auto", "browser"):
            render = RenderConfig(mode=mode, page_timeout_s=8, settle_timeout_s=2, concurrency=16, per_host_concurrency=16,
                                  per_host_delay_s=0, block_resource_types=["media", "font", "image"])
            with Renderer(render, network) as renderer:
                rows[mode] = {row["url_id"]: row for row in renderer.render_many(urls)}
    static = [p for p in pages if rows["auto"][p["url"]]["rendered_by"] == "static"]
    print(f"\nsample web: {len(static)} of {len(pages)} pages go static")
    for page in pages:
        auto, browser = rows["auto"][page["url"]], rows["browser"][page["url"]]
        assert auto["status"] == "ok" and browser["rendered_by"] == "browser", page["url"]
        assert (auto["rendered_by"] == "browser") == (page["layout"] == "tutor"), (page["url"], auto["render_reason"])
        assert same_render(auto, browser), page["url"]
        assert extract_pairs(auto["tree"], auto["posts"], auto["structured_data"], auto["title"] or "") == \
            extract_pairs(browser["tree"], browser["posts"], browser["structured_data"], browser["title"] or ""), page["url"]
