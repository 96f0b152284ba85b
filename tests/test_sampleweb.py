import hashlib
import json
import urllib.request
from collections import Counter

import pytest

from runtime.network import NetworkPolicy, fetch
from sampleweb.corpus import generate
from sampleweb.problems import SUBJECTS
from sampleweb.server import serve


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
    assert set(layouts) >= {"forum", "worksheet", "qa", "textbook", "tutor", "shop", "news", "video", "mirror"}
    assert {p["subject"] for p in pages} == set(SUBJECTS) and len(SUBJECTS) >= 5
    assert all(p["duplicate_of"] in {q["url"] for q in pages} for p in pages if p["layout"] == "mirror")
    assert sorted(p["fault"] for p in pages if p["fault"]) == ["http_500", "timeout"]
    qas = [qa for p in pages for qa in p["qas"]]
    assert all(qa["answer"] and qa["question"] for qa in qas)
    assert 0 < sum(1 for qa in qas if not qa["question_images"]) < len(qas)  # text-only and illustrated
    html = "".join(f.read_text() for f in (root / "site" / "qa.localhost").rglob("*.html"))
    assert 'data-src="/img/' in html  # lazy images
    assert 'src="img/' in "".join(f.read_text() for f in (root / "site" / "worksheets.localhost").rglob("*.html"))


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
        assert fetch(f"http://forum.localhost:{port}{broken_path}", policy, timeout_s=5, max_bytes=10**6).status == 500
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/../../etc/passwd", timeout=5)
