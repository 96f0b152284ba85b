"""Each extraction strategy on real saved pages of `../shared/realweb/` (rendered once, on loopback)."""
import pytest

from sampleweb import realweb
from tests.conftest import same_render
from udfs.answers import final_answer
from udfs.extraction import extract_pairs
from udfs.page_scripts import browser_reason

# One page per strategy: JSON-LD, microdata, thread posts, a question above its replies,
# an answer labelled inline, a page of one problem with a figure preamble, hidden solutions.
PAGES = ["answer_meta_smtp_mailbox", "stackoverflow_iframe_http_content", "worldbuilding_se_black_hole_merger",
         "csstricks_last_child", "lernpfad_masse_quader", "aops_2001_amc8_problem_7", "dmoi_counting_with_repeats"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    if not (realweb.REALWEB / "manifest.jsonl").is_file():
        pytest.skip(f"real-web corpus not at {realweb.REALWEB}")
    pages = [p for p in realweb.load() if p["id"] in PAGES]
    rows = realweb.render(pages, tmp_path_factory.mktemp("realweb"))
    return {p["id"]: (p, rows[p["id"]]) for p in pages}


def pairs_of(corpus, page_id):
    page, row = corpus[page_id]
    assert row["status"] == "ok", row["reason"]
    return page, extract_pairs(row["tree"], row["posts"], row["structured_data"], row["title"] or "")


def test_json_ld_question_gives_its_screenshots_without_avatars_and_the_answer(corpus):
    page, [pair] = pairs_of(corpus, "answer_meta_smtp_mailbox")
    assert pair.pattern == "structured"
    assert realweb.finds(page["qa"][0]["question"], pair.question.text)
    assert all(realweb.image_found(src, pair.question.images) for src in page["qa"][0]["image_srcs"])
    assert len(pair.question.images) == len(page["qa"][0]["image_srcs"])  # no poster's avatar
    assert "From name" in pair.solution.text


def test_microdata_takes_the_visibly_accepted_answer_not_the_top_voted(corpus):
    page, [pair] = pairs_of(corpus, "stackoverflow_iframe_http_content")
    assert pair.pattern == "thread"
    assert pair.question.texts[0] == "How to allow http content within an iframe on a https site"
    assert "HTTPS proxy" in pair.solution.text and "google as the ssl proxy" not in pair.solution.text


def test_forum_thread_splits_numbered_sub_questions(corpus):
    page, pairs = pairs_of(corpus, "worldbuilding_se_black_hole_merger")
    assert [p.pattern for p in pairs] == ["thread", "thread"]
    for truth, pair in zip(page["qa"], pairs):
        assert realweb.finds(truth["question"], pair.question.text)


def test_question_standing_above_its_replies(corpus):
    page, [pair] = pairs_of(corpus, "csstricks_last_child")
    assert realweb.finds(page["qa"][0]["question"], pair.question.text)
    assert "nth-child(2)" in pair.solution.text


def test_worksheet_items_with_inline_answers(corpus):
    page, pairs = pairs_of(corpus, "lernpfad_masse_quader")
    found = [any(realweb.finds(qa["question"], p.question.text) for p in pairs) for qa in page["qa"]]
    assert all(found)
    first = next(p for p in pairs if "Glasquaders" in p.question.text)
    assert final_answer(first.solution.text) == "m = 210 g"


def test_single_problem_takes_its_figure_preamble(corpus):
    page, [pair] = pairs_of(corpus, "aops_2001_amc8_problem_7")
    assert realweb.finds(page["qa"][0]["question"], pair.question.text)
    assert realweb.image_found(page["qa"][0]["image_srcs"][0], pair.question.images)
    assert final_answer(pair.solution.text) is not None


def test_textbook_exercises_with_hidden_solutions(corpus):
    page, pairs = pairs_of(corpus, "dmoi_counting_with_repeats")
    found = sum(any(realweb.finds(qa["question"], p.question.text) for p in pairs) for qa in page["qa"])
    assert found == len(page["qa"])
    example = next(p for p in pairs if "41 students" in p.question.text)
    assert "15" in example.solution.text and "Hint" not in example.question.text


def test_auto_renders_every_page_as_the_browser_does(corpus, tmp_path):
    """A page the rules let go static is rendered with scripts off into the tree, and the pairs, that
    the browser gives it; the others take the browser path itself. The share that went static is printed."""
    pages = realweb.load()
    reasons = {p["id"]: browser_reason(p["html"], f"http://127.0.0.1/{p['id']}/", "text/html") for p in pages}
    for page_id, (_, row) in corpus.items():  # the renderer records the same decision (its URLs name the port)
        said = reasons[page_id]
        assert row["rendered_by"] == ("static" if said is None else "browser"), page_id
        assert (row["render_reason"] or "").split(" (")[0] == (said or "").split(" (")[0], page_id
    static = [p for p in pages if reasons[p["id"]] is None]
    print(f"\nreal web: {len(static)} of {len(pages)} pages go static")
    if not static:
        return
    auto, browser = realweb.render(static, tmp_path / "auto"), realweb.render(static, tmp_path / "browser", mode="browser")
    for page in static:
        a, b = auto[page["id"]], browser[page["id"]]
        assert (a["rendered_by"], b["rendered_by"]) == ("static", "browser"), page["id"]
        assert same_render(a, b), page["id"]
        assert extract_pairs(a["tree"], a["posts"], a["structured_data"], a["title"] or "") == \
            extract_pairs(b["tree"], b["posts"], b["structured_data"], b["title"] or ""), page["id"]


def test_score_counts_a_whole_page_blob_as_nothing():
    question = "How many moles are in 36 g of water?"
    assert realweb.finds(question, "Chemistry help. " + question)
    assert not realweb.finds(question, question + " word" * 200)
