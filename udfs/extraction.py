"""The rule-based extraction engine: question / solution pairs from a page's content tree.

It reads the structures real problem pages use, in order of trust:
1. `structured`: schema.org data: JSON-LD `QAPage` / `Question` / `DiscussionForumPosting`
   blocks, and microdata items, whose roles, votes and accepted marks `tree.js` reads into
   `Page.posts`;
2. `thread`: a discussion's posts (repeated sibling containers of one shape): the first post
   is the question; the accepted reply, else the highest-voted, else the first, the solution;
3. problem pages: `solutions-section` (numbered problems, then a Solutions / Answer key
   heading with numbered solutions or short answers), `anchored` (Problem / Example /
   Exercise / numbered items, each followed by its Solution / Answer, hidden or not; a
   page's only problem takes the text above its anchor), `single` (a page of one problem:
   what stands before its answer).
Anchor words are those of English, Chinese, Spanish, French, German, Russian, Portuguese
and Japanese pages. It is the offline default; an LLM engine replaces it by configuration.
"""
from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from typing import Iterable, Iterator

import pandas as pd

from runtime.keys import stable_id
from schemas.candidate_qas import CandidateQA
from udfs.answers import QUESTION_CUE, final_answer

ENGINE = "rules@2"
# Words of alphabetic scripts end at a word boundary ("Exercises" is a section, not an
# exercise); Chinese and Japanese words run straight into what follows ("正确答案D").
_QUESTION_WORDS = (
    r"(?:problem|question|exercise|example|task|activity|investigate|practice problem|program|"
    r"problema|ejercicio|pregunta|ejemplo|exercice|probl[eè]me|exemple|aufgabe|beispiel|frage|[uü]bung|"
    r"задача|упражнение|пример|вопрос|quest[aã]o|exerc[ií]cio|exemplo)\b|"
    r"题目|问题|例题|习题|练习|例|题|問題|演習|設問"
)
_SOLUTION_WORDS = (
    r"(?:worked solution|solutions?|answers?|answer key|explanation|soluci[oó]n(?:es)?|respuestas?|r[ée]ponses?|"
    r"corrig[ée]|l[öo]sung(?:en)?|antwort(?:en)?|решение|ответы?|solu[cç][aã]o|respostas?)\b|"
    r"解答|解析|参考答案|正确答案|答案|解|答|解説|答え|正解"
)
Q_ANCHOR = re.compile(rf"^(?:{_QUESTION_WORDS})\s*(\d+(?:\.\d+)*)?\s*[.:：)!]?\s*(.*)$", re.I | re.S)
S_ANCHOR = re.compile(rf"^(?:{_SOLUTION_WORDS})\s*(\d+)?\s*[.:：)]?\s*(.*)$", re.I | re.S)
# A solution cue in the middle of a node's text: "... Options: A) 20 B) 100 Answer : A) 20".
S_LABEL = re.compile(rf"^(?:{_SOLUTION_WORDS})\s*\d*\s*[:：]", re.I)
INLINE_SOLUTION = re.compile(rf"(?<=\s)(?:{_SOLUTION_WORDS})\s*[:：]\s*\S", re.I)
SOLUTIONS_HEADING = re.compile(rf"^(?:{_SOLUTION_WORDS})(?:\s+(?:to|for|of|de|zu|des|к)\b.*)?\s*[.:：]?\s*$", re.I)
NUMBERED = re.compile(r"^(\d+)\s*[.)、]\s*(.*)$", re.S)
# "Hint." and similar labels end a question without starting its solution.
HINT = re.compile(r"^(?:hints?|提示|pista|indice|hinweis|подсказка|dica|ヒント)\s*[.:：]?\s*$", re.I)
QUESTION_MARK = re.compile(r"[?？]")
# Pictures of people and of the site, not of the problem: a poster's avatar, emoji, icons, logos.
DECORATION = re.compile(r"avatar|gravatar|emoji|emoticon|smil(?:ey|ie)|/icons?/|\blogo", re.I)
# A control that shows a hidden solution: its content follows it.
TOGGLE = re.compile(
    r"^(?:(?:show|hide|reveal|view|see|toggle)\s+(?:the\s+)?(?:solution|answer|working)s?\b|"
    r"(?:显示|查看|展开)(?:答案|解析|解答)|(?:ver|mostrar)\s+(?:la\s+|a\s+)?(?:soluci[oó]n|respuesta|solu[cç][aã]o|resposta)|"
    r"voir\s+la\s+(?:solution|r[ée]ponse)|(?:l[öo]sung|antwort)\s+(?:anzeigen|zeigen)|показать\s+(?:решение|ответ)|"
    r"(?:答え|解答)を(?:見る|表示))",
    re.I,
)
# Lines of a post that are about the post, not part of it: counts, dates, buttons.
META = re.compile(
    r"^(?:[-+]?\d[\d,.]*\s*[kK]?|share|reply|quote|report|like|follow|edit(?:ed)?\b.*|answered\b.*|asked\b.*|"
    r"improve this (?:question|answer)|add a comment.*|commented\b.*|posted\b.*|joined\b.*|"
    r"[\w .'-]{1,40}\s+said:?|click to expand\.*|\d+\s+(?:votes?|replies|answers?|comments?|likes?|posts?|views?))$",
    re.I,
)


@dataclass
class Segment:
    texts: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)

    def add(self, node: dict) -> None:
        if node["kind"] == "image":
            if node.get("src") and not DECORATION.search(f"{node['src']} {node.get('alt') or ''}"):
                self.images.append(node["src"])
        elif node["text"] and not TOGGLE.match(node["text"]):
            self.texts.append(node["text"])

    @property
    def text(self) -> str:
        return "\n".join(self.texts).strip()


@dataclass
class Pair:
    question: Segment
    solution: Segment
    pattern: str
    answer: str | None = None  # the answer itself, where the structure gives it (an answer key)

    @property
    def final_answer(self) -> str | None:
        return self.answer or final_answer(self.solution.text)


def _is_text(node: dict) -> bool:
    return node["kind"] != "image" and bool(node["text"])


# ---- 1. schema.org ------------------------------------------------------------------------

def _html_text(value) -> str:
    if isinstance(value, list):
        value = " ".join(str(v) for v in value)
    text = re.sub(r"<br\s*/?>|</p>|</li>|</div>", "\n", str(value or ""), flags=re.I)
    return html.unescape(re.sub(r"<[^>]+>", " ", text)).strip()


def _things(value) -> Iterator[dict]:
    """Every JSON-LD object in a block, through lists and `@graph`."""
    if isinstance(value, list):
        for item in value:
            yield from _things(item)
    elif isinstance(value, dict):
        yield value
        yield from _things(value.get("@graph"))


def _types(thing: dict) -> set[str]:
    kind = thing.get("@type")
    return {str(k).rsplit("/", 1)[-1] for k in (kind if isinstance(kind, list) else [kind])}


def _votes(thing: dict) -> int:
    try:
        return int(thing.get("upvoteCount") or 0)
    except (TypeError, ValueError):
        return 0


def _as_list(value) -> list[dict]:
    return [v for v in (value if isinstance(value, list) else [value]) if isinstance(v, dict)]


def _structured_question(blocks: Iterable[str]) -> tuple[str, str, list[dict], list[dict]] | None:
    """(title, question text, accepted answers, other answers) from the page's JSON-LD, or None."""
    for block in blocks:
        try:
            data = json.loads(block)
        except (TypeError, ValueError):
            continue  # a broken block is the site's problem, not the page's
        for thing in _things(data):
            types = _types(thing)
            if "QAPage" in types:
                thing, types = (_as_list(thing.get("mainEntity")) or [{}])[0], {"Question"}
            if "Question" in types:
                return (_html_text(thing.get("name")), _html_text(thing.get("text")),
                        _as_list(thing.get("acceptedAnswer")), _as_list(thing.get("suggestedAnswer")))
            if "DiscussionForumPosting" in types:
                return (_html_text(thing.get("headline") or thing.get("name")),
                        _html_text(thing.get("text") or thing.get("articleBody")), [], _as_list(thing.get("comment")))
    return None


def _normal(text: str) -> str:
    return re.sub(r"\W+", " ", text).strip().lower()


def _span(nodes: list[dict], text: str) -> tuple[int, int] | None:
    """The run of tree nodes that shows `text`: from the first node whose text is part of
    it, on while the nodes are (figures and a stray line or two between them pass)."""
    body = _normal(text)

    def inside(node: dict) -> bool:
        return _is_text(node) and len(_normal(node["text"])) >= 12 and _normal(node["text"])[:80] in body

    first = next((i for i, n in enumerate(nodes) if inside(n)), None)
    if first is None:
        return None
    last, misses = first, 0
    for i in range(first + 1, len(nodes)):
        if inside(nodes[i]):
            last, misses = i, 0
        elif _is_text(nodes[i]) and len(nodes[i]["text"]) >= 12:
            misses += 1
            if misses > 2:
                break
    return first, last


def _segment_of(nodes: list[dict], text: str, fallback: str) -> Segment:
    """The tree's own nodes for a text the page's data gives (TeX and images as shown),
    or the data's text where the tree does not show it."""
    found = _span(nodes, text)
    segment = Segment()
    if found is None:
        segment.texts.append(fallback)
        return segment
    first, last = found
    # The figures right after the last line still belong to it.
    while last + 1 < len(nodes) and nodes[last + 1]["kind"] == "image" and nodes[last + 1]["post"] == nodes[last]["post"]:
        last += 1
    for node in nodes[first:last + 1]:
        segment.add(node)
    return segment


def _structured(nodes: list[dict], posts: list[dict], blocks: list[str], page_title: str = "") -> list[Pair]:
    found = _structured_question(blocks)
    if found is None:
        return []
    title, body, accepted, others = found
    if not accepted and any(p.get("accepted") for p in posts):
        return []  # the page marks its solution where the data does not: the thread decides
    answers = accepted or sorted(others, key=_votes, reverse=True)
    answer_text = _html_text(answers[0].get("text") or answers[0].get("articleBody")) if answers else ""
    if not answer_text:
        return []  # the data names no answer's text: the thread's own structure decides
    solution = _segment_of(nodes, answer_text, answer_text)
    if body:
        question = _post_segment(_posts_of(nodes), posts, "question") or _segment_of(nodes, body, body)
        if title and _normal(title) not in _normal(question.text):
            question.texts.insert(0, title)  # shown above the post
        questions = _sub_questions(title, question)
    else:  # only the title in the data: the body is the thread's opening post
        questions = [pair.question for pair in _thread(nodes, posts, page_title)] or [Segment([title])]
    return [Pair(question, solution, "structured") for question in questions if question.text]


# ---- 2. threads -----------------------------------------------------------------------------

def _posts_of(nodes: list[dict]) -> dict[int, list[dict]]:
    by_post: dict[int, list[dict]] = {}
    for node in nodes:
        if node.get("post"):
            by_post.setdefault(node["post"], []).append(node)
    return by_post


def _post_segment(by_post: dict[int, list[dict]], posts: list[dict], role: str) -> Segment | None:
    chosen = next((p["post"] for p in posts if p.get("role") == role and p["post"] in by_post), None)
    return _body(by_post[chosen]) if chosen else None


def _body(post: list[dict]) -> Segment:
    """A post without what is about it: counts, buttons, and the short lines of its header
    (the poster's name, role and date) before its first sentence."""
    kept = [n for n in post if n["kind"] == "image" or not META.match(n["text"].strip())]
    sentences = [i for i, n in enumerate(kept) if n["kind"] in ("code", "table", "list_item") or (
        _is_text(n) and (len(n["text"].split()) >= 5 or QUESTION_MARK.search(n["text"])))]
    segment = Segment()
    if sentences:
        for node in kept[:sentences[0]]:
            if node["kind"] == "image":
                segment.add(node)  # a post's pictures may stand before its first words
        for node in kept[sentences[0]:]:
            segment.add(node)
    return segment


SITE_SUFFIX = re.compile(r"\s+[-|–—·:]\s+[^-|–—·:]+$")


def _title(nodes: list[dict], page_title: str) -> str | None:
    """The thread's title: the longest heading the page's <title> repeats, else the first
    <h1>, else the <title> without its site name ("How to ... - Site")."""
    named = _normal(page_title)
    headings = [n["text"] for n in nodes if n["kind"] == "heading" and len(_normal(n["text"])) >= 8]
    return max((h for h in headings if _normal(h) in named), key=len, default=None) or next(
        (n["text"] for n in nodes if n["kind"] == "heading" and n["level"] == 1), None) or (
        SITE_SUFFIX.sub("", page_title).strip() or None)


SUB_QUESTION = re.compile(r"(?:^|(?<=\s))\(?([a-h]|[1-9])\)\s")


def _sub_questions(title: str | None, question: Segment) -> list[Segment]:
    """A post that asks lettered or numbered sub-questions, "(a) ... (b) ...", as one
    question each (with the title); else the post as it is."""
    text = question.text
    run: list[re.Match] = []
    for mark in SUB_QUESTION.finditer(text):
        label = mark.group(1)
        if label in ("a", "1") and not run:
            run = [mark]
        elif run and label == chr(ord(run[-1].group(1)) + 1):
            run.append(mark)
    ends = [m.start() for m in run[1:]] + [len(text)]
    parts = [text[m.start():end].strip() for m, end in zip(run, ends)]
    if len(parts) < 2 or not all(QUESTION_CUE.search(part) for part in parts):
        return [question]
    return [Segment([t for t in [title] if t] + [part], list(question.images)) for part in parts]


def _thread(nodes: list[dict], posts: list[dict], page_title: str = "") -> list[Pair]:
    by_post = _posts_of(nodes)
    bodies = {p["post"]: _body(by_post[p["post"]]) for p in posts if p["post"] in by_post}
    meta = [p for p in posts if p["post"] in bodies and len(bodies[p["post"]].text) >= 20]
    if not meta:
        return []
    opening = next((p for p in meta if p.get("role") == "question"), meta[0])
    if len(meta) < 2 and opening.get("role") != "question" and len(posts) < 2:
        return []
    first = nodes.index(by_post[meta[0]["post"]][0])
    title = _title(nodes[:first], page_title)
    lead = _lead(nodes[:first], title)
    if opening.get("role") != "question" and lead is not None:
        opening = None  # the question stands above the replies, outside their shape
    replies = [p for p in meta if p is not opening and p.get("role") != "question"]
    marked = [p for p in replies if p.get("accepted")] or [p for p in replies if p.get("role") == "accepted"]
    voted = [p for p in replies if p.get("votes")]
    chosen = marked[0] if marked else max(voted, key=lambda p: p["votes"]) if voted else (replies or [None])[0]
    question = bodies[opening["post"]] if opening else lead
    if title and _normal(title) not in _normal(question.text):
        question.texts.insert(0, title)
    # An unanswered thread is still a question: validation decides what it is worth.
    solution = bodies[chosen["post"]] if chosen else Segment()
    return [Pair(part, solution, "thread") for part in _sub_questions(title, question)]


def _lead(nodes: list[dict], title: str | None) -> Segment | None:
    """The text between a thread's title and its first post, when it asks something."""
    start = next((i + 1 for i, n in enumerate(nodes) if title and n["kind"] == "heading" and n["text"] == title), 0)
    lead = _body(nodes[start:])
    lead.texts = [t for t in lead.texts if len(t) >= 25]
    return lead if len(lead.text) >= 40 and QUESTION_CUE.search(lead.text) else None


# ---- 3. problem pages ---------------------------------------------------------------------

def _split_inline(nodes: list[dict]) -> list[dict]:
    """Nodes with an answer stated mid-text ("... Lösung: m = 210 g") cut in two at the cue."""
    out = []
    for node in nodes:
        match = INLINE_SOLUTION.search(node["text"]) if _is_text(node) and node["kind"] != "heading" else None
        if match and not S_ANCHOR.match(node["text"]):
            out.append({**node, "text": node["text"][:match.start()].strip()})
            out.append({**node, "text": node["text"][match.start():].strip(), "inline": True})
        else:
            out.append(node)
    return out


def _solutions_section(nodes: list[dict]) -> list[Pair]:
    split = next((i for i, n in enumerate(nodes) if n["kind"] == "heading" and SOLUTIONS_HEADING.match(n["text"])), None)
    if split is None:
        return []
    problems: dict[str, Segment] = {}
    current: Segment | None = None
    for node in nodes[:split]:
        match = Q_ANCHOR.match(node["text"]) if node["kind"] != "image" else None
        number = NUMBERED.match(node["text"]) if node["kind"] in ("list_item", "text") else None
        if match and match.group(1):
            current = problems.setdefault(match.group(1), Segment())
            if match.group(2):
                current.texts.append(match.group(2))
            continue
        if number:
            current = problems.setdefault(number.group(1), Segment())
            if number.group(2):
                current.texts.append(number.group(2))
            continue
        if current is not None and node["kind"] != "heading":
            current.add(node)
    solutions: dict[str, Segment] = {}
    keyed: dict[str, str] = {}  # short answers of an answer key
    current, block = None, None
    for node in nodes[split + 1:]:
        if node["kind"] == "heading":
            break
        key = _answer_key(node)
        if key:
            for number, answer in key.items():
                solutions.setdefault(number, Segment([answer]))
                keyed.setdefault(number, answer)
            current = None
            continue
        match = NUMBERED.match(node["text"]) if node["kind"] != "image" else None
        anchor = S_ANCHOR.match(node["text"]) if node["kind"] != "image" else None
        key = (match and match.group(1)) or (anchor and anchor.group(1))
        if key:
            current, block = solutions.setdefault(key, Segment()), node["block"]
            rest = (match or anchor).group(2)
            if rest:
                current.texts.append(rest)
        elif current is not None and node["block"] == block:
            current.add(node)
    for k, solution in solutions.items():
        if len(solution.texts) == 1 and len(solution.text) <= 40:
            keyed.setdefault(k, solution.text)  # a one-line entry of an answer section is the answer
    return [Pair(problems[k], solutions[k], "solutions-section", keyed.get(k)) for k in problems
            if k in solutions and problems[k].text]


KEY_ROW = re.compile(r"^\|\s*(\d+)\s*[.)]?\s*\|\s*(.+?)\s*\|?$")
KEY_ITEM = re.compile(r"(?:^|\s)(\d+)\s*[.)]\s+")


def _answer_key(node: dict) -> dict[str, str]:
    """{number: answer} from a key written as a table ("| 1 | 42 |") or on one line
    ("1. 42  2. (B)  3. 7 cm"); empty for anything else."""
    if node["kind"] == "table":
        rows = [KEY_ROW.match(line.strip()) for line in node["text"].splitlines()]
        return {m.group(1): m.group(2).replace(" | ", "; ") for m in rows if m}
    if not _is_text(node):
        return {}
    parts = KEY_ITEM.split(node["text"])
    if len(parts) < 5 or parts[0].strip():
        return {}
    return {parts[i]: parts[i + 1].strip() for i in range(1, len(parts) - 1, 2)}


def _question_start(node: dict, numbered: set[str]) -> re.Match | None:
    if not _is_text(node):
        return None
    anchor = Q_ANCHOR.match(node["text"])
    if anchor and (node["kind"] == "heading" or anchor.group(1) or len(node["text"]) < 40):
        return anchor
    # Exercise lists number their items, in headings ("3.") or list items ("3. Berechne ...").
    return NUMBERED.match(node["text"]) if node["kind"] in numbered else None


def _numbered_kinds(nodes: list[dict]) -> set[str]:
    """Node kinds whose numbers start exercises here: headings numbered twice or more, else
    list items when two or more are followed by a solution before the next one."""
    kinds = {"heading"} if sum(1 for n in nodes if n["kind"] == "heading" and NUMBERED.match(n["text"])) >= 2 else set()
    answered, open_item = 0, False
    for node in nodes:
        if node["kind"] == "list_item" and NUMBERED.match(node["text"]):
            open_item = True
        elif open_item and _is_text(node) and _solution_start(node):
            answered, open_item = answered + 1, False
    return kinds or ({"list_item"} if answered >= 2 else set())


def _preamble(nodes: list[dict], anchor: int) -> Segment:
    """What a page's only problem builds on: the text and figures between the heading
    before its anchor and the anchor."""
    start = max((i for i in range(anchor) if nodes[i]["kind"] == "heading"), default=-1) + 1
    segment = Segment()
    for node in nodes[start:anchor]:
        if node["kind"] != "heading" and not node.get("post"):
            segment.add(node)
    return segment


def _anchored(nodes: list[dict]) -> list[Pair]:
    nodes = _split_inline(nodes)
    numbered = _numbered_kinds(nodes)
    starts = [i for i, n in enumerate(nodes) if _question_start(n, numbered)]
    # A page's only problem may build on a figure set out above it (a shared preamble).
    preamble = _preamble(nodes, starts[0]) if len(starts) == 1 else Segment()
    if not preamble.images:
        preamble = Segment()
    pairs: list[Pair] = []
    question: Segment | None = None
    solution: Segment | None = None
    hint, solution_block = False, 0
    for node in nodes:
        text = node["text"] if _is_text(node) else ""
        start = _question_start(node, numbered)
        if start:
            if question is not None and question.text:
                pairs.append(Pair(question, solution or Segment(), "anchored"))
            question, solution, hint = Segment(), None, False
            question = Segment(list(preamble.texts), list(preamble.images))
            if start.group(2) and not start.group(2).isdigit():
                question.texts.append(start.group(2))
            continue
        if question is None:
            continue
        if node["kind"] == "heading" and not node.get("collapsed") and (solution is not None or question.text):
            if not S_ANCHOR.match(text):
                # A heading that starts no solution ends the item (the next section).
                pairs.append(Pair(question, solution or Segment(), "anchored")) if question.text else None
                question, solution = None, None
                continue
        if text and HINT.match(text):
            hint = True
            continue
        solution_anchor = S_ANCHOR.match(text) if text and _solution_start(node) else None
        if solution is None and question.text and (TOGGLE.match(text) or (node.get("collapsed") and not hint)):
            # A "Show solution" control, or hidden content right after the problem, opens its solution.
            solution, solution_block = Segment(), node["block"]
            if not TOGGLE.match(text):
                solution.add(node)
            continue
        if solution is not None and node["block"] != solution_block:
            pairs.append(Pair(question, solution, "anchored")) if question.text else None
            question, solution = None, None  # a solution ends with the section it sits in
            continue
        if solution_anchor and (solution is None or not solution.texts):  # a label after its toggle
            solution, hint, solution_block = Segment(), False, node["block"]
            if solution_anchor.group(2):
                solution.texts.append(solution_anchor.group(2) if not node.get("inline") else text)
            continue
        if hint and node.get("collapsed"):
            continue  # a hint is not part of the question, nor an answer
        if solution is None:
            question.add(node)
        else:
            solution.add(node)
    if question is not None and question.text:
        pairs.append(Pair(question, solution or Segment(), "anchored"))
    return pairs


def _solution_start(node: dict) -> bool:
    """A short "Solution." line, a heading, or a label with a colon ("Answer : A) 20 ...")."""
    return bool(S_ANCHOR.match(node["text"])) and (
        len(node["text"]) < 40 or node.get("inline") or node["kind"] == "heading" or bool(S_LABEL.match(node["text"])))


def _single(nodes: list[dict]) -> list[Pair]:
    """A page of one problem without a problem anchor: what stands before its first
    solution anchor (back to the heading above it) is the question."""
    nodes = _split_inline(nodes)
    anchor = next((i for i, n in enumerate(nodes) if _is_text(n) and not n.get("post") and _solution_start(n)), None)
    if anchor is None:
        return []
    question = _preamble(nodes, anchor)
    if not QUESTION_CUE.search(question.text) and not re.search(r"\b[A-D][.)]", question.text):
        return []
    solution = Segment([S_ANCHOR.match(nodes[anchor]["text"]).group(2)] if nodes[anchor]["kind"] != "heading" else [])
    for node in nodes[anchor + 1:]:
        if node["kind"] == "heading":
            break
        solution.add(node)
    return [Pair(question, solution, "single")] if question.text else []


def extract_pairs(nodes: list[dict], posts: list[dict] | None = None, structured: list[str] | None = None,
                  title: str = "") -> list[Pair]:
    """The pairs of one page, by the most trusted structure that finds any."""
    posts, structured = list(posts or []), list(structured or [])
    pairs = _structured(nodes, posts, structured, title)
    if pairs:
        return pairs
    # A page headed Problem ... Solution is a problem page, whatever repeats on it.
    problem_page = any(n["kind"] == "heading" and Q_ANCHOR.match(n["text"]) for n in nodes) and any(
        _is_text(n) and _solution_start(n) for n in nodes)
    if not problem_page:
        pairs = _thread(nodes, posts, title)
    for strategy in (_solutions_section, _anchored, _single):
        pairs = pairs or strategy(nodes)
    return pairs


def tree_text(nodes: list[dict]) -> tuple[str, list[str]]:
    """A page's tree as prompt text: blocks apart, headings marked, images numbered.
    Returns the text and the image URLs in number order."""
    lines, images, block = [], [], None
    for node in nodes:
        if block is not None and node["block"] != block:
            lines.append("")
        block = node["block"]
        if node["kind"] == "image":
            images.append(node["src"])
            lines.append(f"[image {len(images)}: {node.get('alt') or ''}]")
        elif node["kind"] == "heading":
            lines.append("#" * max(1, node["level"]) + " " + node["text"])
        else:
            lines.append(node["text"])
    return "\n".join(lines), images


# The `pages` columns the rule engine reads.
PAGE_COLUMNS = ("url_id", "url", "tree", "posts", "structured_data", "title")


def extract_partitions():
    """A mapInPandas function: pages (PAGE_COLUMNS) in, candidate QA rows out."""

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            rows = []
            pages = zip(batch["url_id"], batch["url"], batch["tree"], batch["posts"], batch["structured_data"], batch["title"])
            for url_id, url, tree, posts, structured, title in pages:
                nodes = [dict(node) for node in tree]
                for pair in extract_pairs(nodes, [dict(p) for p in posts], list(structured), title or ""):
                    question, solution = pair.question.text, pair.solution.text or None
                    rows.append(CandidateQA.row(
                        qa_id=stable_id(url_id, question), page_id=url_id, url=url, question=question,
                        solution=solution, answer=pair.final_answer,
                        question_images=list(dict.fromkeys(pair.question.images)),
                        solution_images=list(dict.fromkeys(pair.solution.images)),
                        pattern=pair.pattern, engine=ENGINE,
                    ))
            # Two identical questions on one page are one pair.
            unique = list({row["qa_id"]: row for row in rows}.values())
            yield pd.DataFrame(unique, columns=CandidateQA.transform_schema().fieldNames())

    return run
