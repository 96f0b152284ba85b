import io
import random

import pandas as pd
from PIL import Image

from sampleweb.corpus import _perturb
from sampleweb.problems import make_problem, render_diagram
from udfs.search import index_page, local_search, page_url


def figure(seed: int) -> bytes:
    rng = random.Random(seed)
    buffer = io.BytesIO()
    render_diagram(make_problem("geometry", rng, True), rng).save(buffer, format="PNG")
    return buffer.getvalue()


def build_site(tmp_path):
    site = tmp_path / "site"
    pages = {"forum.localhost/t/1/index.html": ("/img/a.png", 1), "textbook.localhost/ch1/ex.html": ("../fig/b.png", 2)}
    for path, (ref, seed) in pages.items():
        page = site / path
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text(f'<html><body><img src="/static/placeholder.gif" data-src="{ref}"></body></html>')
        image = (page.parent / ref).resolve() if not ref.startswith("/") else site / path.split("/")[0] / ref.lstrip("/")
        image.parent.mkdir(parents=True, exist_ok=True)
        image.write_bytes(figure(seed))
    rows = []
    for html in sorted(site.rglob("*.html")):
        rows += index_page(site, html, page_url(site, html, 18080), 32)
    return pd.DataFrame(rows)


def search(index, seed_images):
    batch = pd.DataFrame({"seed_id": [f"s{i}" for i in range(len(seed_images))], "phash": seed_images})
    return pd.concat(list(local_search(index, top_k=5, max_distance=12, round_=1)(iter([batch]))))


def phash_of(data: bytes) -> str:
    from udfs.images import decode

    return decode(data, 10).phash


def test_index_resolves_lazy_and_relative_images(tmp_path):
    index = build_site(tmp_path)
    assert sorted(index["page_url"]) == ["http://forum.localhost:18080/t/1", "http://textbook.localhost:18080/ch1/ex.html"]
    assert set(index["image_url"]) == {"http://forum.localhost:18080/img/a.png", "http://textbook.localhost:18080/fig/b.png"}


def test_perturbed_copy_finds_its_page_and_unrelated_image_finds_none(tmp_path):
    index = build_site(tmp_path)
    copy = _perturb(figure(2), random.Random(5))  # cropped, resized, re-encoded as JPEG
    unrelated = io.BytesIO()
    Image.effect_noise((300, 200), 80).convert("RGB").save(unrelated, format="PNG")
    hits = search(index, [phash_of(copy), phash_of(unrelated.getvalue())])
    assert list(hits["seed_id"]) == ["s0"]
    assert hits.iloc[0]["url"] == "http://textbook.localhost:18080/ch1/ex.html"
    assert hits.iloc[0]["rank"] == 1 and hits.iloc[0]["distance"] <= 12
