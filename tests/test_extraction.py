"""The rule-based engine on content trees of each page structure it reads."""
from udfs.answers import final_answer
from udfs.extraction import extract_pairs


def node(kind, text="", block=0, src=None, level=0, collapsed=False):
    return {"kind": kind, "text": text, "block": block, "src": src, "alt": None, "level": level, "collapsed": collapsed}


def test_worksheet_with_solutions_section():
    tree = [
        node("heading", "Physics practice worksheet 3", level=1),
        node("text", "Answer all questions. Show your working."),
        node("text", "Problem 1. A car travels 100 m in 5 s. What is its speed?", block=1),
        node("image", block=1, src="http://x/img/car.png"),
        node("text", "Problem 2. Find the density of a 20 g block of 4 cm^3.", block=2),
        node("heading", "Solutions", level=2),
        node("list_item", "1.", block=3), node("text", "v = d / t = 100 / 5.", block=3), node("text", "Answer: 20 m/s", block=3),
        node("list_item", "2.", block=4), node("text", "rho = m / V.", block=4), node("text", "Answer: 5 g/cm^3", block=4),
    ]
    pairs = extract_pairs(tree)
    assert [p.pattern for p in pairs] == ["solutions-section"] * 2
    assert pairs[0].question.text == "A car travels 100 m in 5 s. What is its speed?"
    assert pairs[0].question.images == ["http://x/img/car.png"]
    assert final_answer(pairs[0].solution.text) == "20 m/s"
    assert final_answer(pairs[1].solution.text) == "5 g/cm^3"


def test_textbook_example_with_collapsed_solution_stops_at_its_block():
    tree = [
        node("heading", "Chapter 2: worked examples", level=1),
        node("text", "In this section we apply the ideas."),
        node("heading", "Example 2.4", block=1, level=3),
        node("text", "Calculate the current through a 6 ohm resistor on 12 V.", block=1),
        node("text", "Show solution", block=1),
        node("heading", "Solution", block=1, level=4, collapsed=True),
        node("text", "I = V / R = 12 / 6.", block=1, collapsed=True),
        node("text", "Answer: 2 A", block=1, collapsed=True),
        node("text", "Practise more exercises at the end of the chapter."),
    ]
    [pair] = extract_pairs(tree)
    assert pair.pattern == "anchored"
    assert pair.question.text == "Calculate the current through a 6 ohm resistor on 12 V."
    assert pair.solution.text == "I = V / R = 12 / 6.\nAnswer: 2 A"


def post(kind, text="", post=0, src=None, level=0):
    return {**node(kind, text, src=src, level=level), "post": post}


def test_thread_takes_the_accepted_post_not_the_first_or_the_top_voted_reply():
    tree = [
        post("heading", "Need help with a question", level=1),
        post("text", "student7", post=1),
        post("text", "How many moles are in 36 g of water? The molar mass is 18 g/mol.", post=1),
        post("image", post=1, src="http://f/img/beaker.png"),
        post("text", "I think it is 42. Answer: 42 mol", post=2),
        post("text", "n = m / M = 36 / 18.", post=3),
        post("text", "Answer: 2 mol", post=3),
    ]
    posts = [{"post": 1}, {"post": 2, "votes": 9}, {"post": 3, "votes": 1, "accepted": True}]
    [pair] = extract_pairs(tree, posts)
    assert pair.pattern == "thread"
    # The poster's name above the first sentence is the post's header, not the question.
    assert pair.question.texts == ["Need help with a question",
                                   "How many moles are in 36 g of water? The molar mass is 18 g/mol."]
    assert pair.question.images == ["http://f/img/beaker.png"]
    assert final_answer(pair.solution.text) == "2 mol"
    # Without an accepted mark, the top-voted reply.
    posts[2]["accepted"] = False
    [pair] = extract_pairs(tree, posts)
    assert final_answer(pair.solution.text) == "42 mol"


def test_pages_without_problems_give_nothing():
    news = [
        node("heading", "Local students shine in physics competition", level=1),
        node("image", src="http://n/img/a.png"),
        node("text", "Students from twelve schools met on Saturday."),
    ]
    shop = [node("heading", "Geometry poster", level=1), node("text", "Q: Does it come framed? A: No, frames are sold separately.")]
    assert extract_pairs(news) == []
    assert extract_pairs(shop) == []
