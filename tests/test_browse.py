"""The dataset browser, built from small Delta tables and looked at in real Chromium."""
import io

import pytest
from PIL import Image, ImageDraw

from runtime.browse import write_browser
from runtime.tables import Tables, with_run_id
from schemas.candidate_qas import CandidateQA
from schemas.final_qas import FinalQA
from schemas.images import ImageRecord
from schemas.pages import Page
from schemas.search_hits import SearchHit
from schemas.seeds import Seed
from tests.conftest import make_config

CHROMIUM = "/usr/bin/chromium"


def png(colour: str) -> bytes:
    image = Image.new("RGB", (120, 90), "white")
    ImageDraw.Draw(image).rectangle((10, 10, 110, 80), outline=colour, width=6)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def write(tables: Tables, model, *rows: dict) -> None:
    df = tables.spark.createDataFrame([model.row(**r) for r in rows], model.transform_schema())
    tables.merge(model.table, with_run_id(df, "browse-test"))


def qa(final_id: str, status: str, subject: str, round_: int, **extra) -> dict:
    return dict(final_id=final_id, qa_id=f"c-{final_id}", source_qa_ids=[f"c-{final_id}"], status=status, question=f"Question {final_id}: find x.",
                solution="x = 2", answer="2", answer_source="page:thread", subject=subject, page_id="p1", url="http://127.0.0.1:9/p1",
                hit_ids=["h1"], seed_ids=["s1"], round=round_, **extra)


@pytest.fixture
def site(spark, tmp_path):
    config = make_config(tmp_path)
    tables = Tables(spark, config.tables, config.staging_root())
    write(tables, Seed, dict(seed_id="s1", source="seeds/triangle.png", subject="geometry", status="ok", content=png("navy")))
    write(tables, SearchHit, dict(hit_id="h1", seed_id="s1", provider="local", round=1, rank=1, url="http://127.0.0.1:9/p1", distance=3))
    write(tables, Page, dict(url_id="p1", url="http://127.0.0.1:9/p1", status="ok", title="Help with a triangle"))
    write(tables, CandidateQA, *[dict(qa_id=f"c-{k}", page_id="p1", url="http://127.0.0.1:9/p1", question="q", pattern="thread", engine="rules")
                                 for k in ("a", "b", "c")])
    write(tables, ImageRecord, dict(image_id="i1", url="http://127.0.0.1:9/i1.png", page_id="p1", status="ok", content=png("crimson")))
    write(tables, FinalQA, qa("a", "ok", "geometry", 1, image_ids=["i1"], has_images=True, verified=True),
          qa("b", "ok", "algebra", 2), qa("c", "duplicate", "geometry", 1, reason="near duplicate of a", duplicate_of="a"))
    figures = tmp_path / "report"
    figures.mkdir()
    Image.new("RGB", (200, 100), "teal").save(figures / "funnel.png")
    index = write_browser(tables, tmp_path / "browse", {"seeds": 1, "final_qas": 2}, figures)
    return index


def test_the_browser_filters_and_follows_lineage_in_chromium(site, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1100, "height": 800})
        page.goto(site.as_uri())
        visible = lambda: sorted(page.locator(".card:visible").evaluate_all("cards => cards.map(c => c.id)"))  # noqa: E731
        assert visible() == ["a", "b"]  # the dataset: status ok
        shot = page.screenshot(path=str(tmp_path / "index.png"), full_page=True)
        assert page.locator("#shown").inner_text() == "2"
        assert page.locator("#a img").evaluate("img => img.naturalWidth") == 120  # its image, read from disk
        assert "verified" in page.locator("#a").inner_text() and "not verified" in page.locator("#b").inner_text()
        page.select_option("select[name=status]", "duplicate")
        assert visible() == ["c"]
        assert "duplicate: near duplicate of a" in page.locator("#c").inner_text()
        page.select_option("select[name=status]", "*")
        page.select_option("select[name=subject]", "geometry")
        assert visible() == ["a", "c"]
        page.select_option("select[name=round]", "2")
        assert visible() == []
        page.select_option("select[name=subject]", "*")
        assert visible() == ["b"]
        assert page.locator(".figures img").evaluate("img => img.naturalWidth") == 200

        page.select_option("select[name=round]", "*")
        page.locator("#a a.lineage").click()
        page.wait_for_load_state()
        assert page.url.endswith("/qa/a.html")
        text = page.locator("main").inner_text()
        assert "Help with a triangle" in text and "seeds/triangle.png" in text and "local" in text
        assert page.locator("img.seed").evaluate("img => img.naturalWidth") == 120  # the seed image at the end of the lineage
        page.locator("text=← all QAs").click()
        page.wait_for_load_state()
        assert page.url.endswith("/index.html")
        browser.close()
    screenshot = Image.open(io.BytesIO(shot)).convert("RGB")
    assert len(screenshot.getcolors(1 << 20) or []) > 20  # not a blank page


def test_a_dropped_duplicate_links_to_the_row_it_repeats(site):
    page = (site.parent / "qa" / "c.html").read_text()
    assert "dropped: duplicate (near duplicate of a)" in page and "href='a.html'" in page
