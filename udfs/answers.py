"""What a solution states: its short final answer, and the rule-based validation of a question / solution pair."""
from __future__ import annotations

import re

BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
# A boxed choice written in text mode (AoPS: \text{A}, \textbf{(A)}\ 21) reads as the choice itself.
TEXT_CHOICE = re.compile(
    r"^\\(?:text|textbf|mathrm|mathbf)\s*\{\s*(\(?[A-E]\)?)\s*\}(?:\\[ ,;]|\\q?quad|~|\s)*(.*)$", re.S
)
# "Answer: X" and its equivalents; the answer follows the label.
ANSWER_LABEL = re.compile(
    r"(?<![^\W\d_])(?:(?:final|correct|short)\s+answer|answer|ans\.?|respuesta(?:\s+correcta)?|resultado"
    r"|r[ée]ponse(?:\s+(?:finale|correcte))?|r[ée]sultat|antwort|ergebnis|ответ|resposta(?:\s+correta)?)\s*[:：=]\s*"
    r"|(?:正确|参考|标准|最终)?答案\s*(?:[:：]|是|为|(?=[A-H](?![A-Za-z])))\s*|(?<![解回])答\s*[:：]\s*"
    r"|(?:故|所以|应)选\s*[:：]?\s*(?=[A-H])|(?:答え|正解)\s*(?:[:：]|は)\s*",
    re.I,
)
# "Solution:" usually opens a worked solution; it states the answer only when a short value follows.
SOLUTION_LABEL = re.compile(r"(?:(?<![^\W\d_])(?:solution|lösung|solución|solução|решение)|解答)\s*[:：]\s*", re.I)
# "The answer is X" in running text.
ANSWER_SENTENCE = re.compile(
    r"(?<![^\W\d_])(?:the\s+(?:(?:final|correct|right)\s+)?(?:answer|option|choice)\s+(?:is|will be|would be)"
    r"|la\s+respuesta(?:\s+correcta)?\s+es|la\s+r[ée]ponse(?:\s+correcte)?\s+est"
    r"|die\s+(?:richtige\s+)?antwort\s+(?:ist|lautet)|a\s+resposta(?:\s+correta)?\s+é|ответ\s+(?:будет|равен))\s+",
    re.I,
)
OPTION_WORD = re.compile(
    r"^(?:(?:the|la|a|l')\s*)?(?:option|choice|letter|opci[oó]n|letra|alternativa|lettre|вариант)\s+", re.I
)
# "The answer is not 37, ...", "the answer is a simple word", "the answer is correct": no answer stated.
VAGUE = re.compile(
    r"^(?:not|nicht|kein|pas|não|non|не|不|no(?=\s+\w)|a|an|this|that|un|une|ein|eine|una|um|uma|correct|incorrect|wrong"
    r"|right|simple|obvious|easy|clear|below|above|here|following|as follows)(?![^\W\d_])",
    re.I,
)
# Where a stated answer ends: a line or sentence end, or the next "Label:" (e.g. "Explanation :").
ANSWER_END = re.compile(
    r"\n|[.!?](?=\s|$)|[。！？；]|\s+(?=[A-ZÀ-ÞА-ЯЁ][^\W\d_]{2,}\s*[:：])|\s*(?=[\u4e00-\u9fff\u3040-\u30ff]{2,4}[:：])"
)
CLAUSE_END = re.compile(r"[,;，；]\s|\s(?:because|since|as|weil|da|car|parce|porque|pois|потому|так)(?![^\W\d_])", re.I)
TRAILING_SYMBOL = re.compile(r"(?:\s+[^\w\s$\\%°'\")\]}]{1,2})+$")
TRAILING_COPULA = re.compile(r"\s*(?:です|である|だ)$")
CHOICE = re.compile(r"^(?:\([A-HА-Е]\)|[A-HА-Е][.)])(?:\s|$)|^[A-HА-Е]$")  # (B), B), B. or B
# A value: a number, a signed number, a formula, optionally after "x =" (m = 210 g, h = 0,5 m, \frac{5}{6}).
VALUE = re.compile(r"^(?:[^\W\d_]{1,3}(?:_\w+)?\s*=\s*)?[-+−±≈~]?\s*(?:\d|\\[a-zA-Z]|\$|\(\s*[-\d])")
CONNECTOR = re.compile(
    r"(?<![^\W\d_])(?:and|or|then|so|but|if|we|is|und|oder|dann|et|ou|puis|pero|и|или)(?![^\W\d_])", re.I
)
CODE = re.compile(
    r"(?<!\\);|==|!=|=>|\+=|\b(?:int|var|let|const|def|return|print|printf|echo|Dim|Set|function|public|void)\b"
)
URL = re.compile(r"https?://|www\.|[?&#]\w+=")
# The TeX around a value after "=": "$x = 5$.", "\\(n = 15\\text{.}\\)", "... = 15 \\end{equation*}".
FORMULA_OPEN = re.compile(r"^(?:\s|\$|\\[(\[]|\\begin\{[a-z*]+\})+")
FORMULA_CLOSE = re.compile(r"(?:\s|[.,;。]|\$|\\[)\]]|\\text\{[.,]\}|\\end\{[a-z*]+\}|\\\\)+$")
NEW_SENTENCE = re.compile(r"^[A-ZÀ-ÞА-ЯЁ][a-zß-ÿа-яё]{3,}")  # "= 1\text{.} Therefore": the value ended before
SENTENCES = re.compile(r"\n|(?<=[.!?])\s+|(?<=[。！？])")
# "(B)" or "\textbf{(B)}\ 21" closing the last sentence.
CHOICE_END = re.compile(
    r"(?:^|[\s:：,，=→⇒$])(?:\\text(?:bf)?\{|\\mathrm\{)?\(([A-E])\)\}?"
    r"(?:\\[ ,;]|~|\s)*(-?\d+(?:[.,/]\d+)*)?\s*\$*\s*[.。]?\s*$"
)
MAX_STATED = 100  # an "Answer:" label followed by more than this is prose, not a short answer
MAX_VALUE = 40


def _boxed(text: str) -> str | None:
    """The content of the last \\boxed{...} / \\fbox{...} with balanced braces."""
    found = None
    for match in BOXED.finditer(text):
        depth, end = 1, match.end()
        while end < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[end], 0) if text[end - 1] != "\\" else 0
            end += 1
        if depth == 0 and text[match.end():end - 1].strip():
            found = text[match.end():end - 1].strip()
    if found is None:
        return None
    choice = TEXT_CHOICE.match(found)
    return f"{choice.group(1)} {choice.group(2).strip()}".strip() if choice else found


def _clean(text: str) -> str:
    """Trimmed, without closing punctuation or the $...$ / \\(...\\) around a whole formula."""
    text = TRAILING_COPULA.sub("", text.strip()).rstrip(".,;:。，；").strip()
    text = TRAILING_SYMBOL.sub("", text)  # a close button or bullet after the answer: "正确答案D ×"
    for left, right in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        inner = text[len(left):-len(right)]
        if text.startswith(left) and text.endswith(right) and inner.strip() and left not in inner:
            return inner.strip()
    return text


def _is_value(text: str) -> bool:
    return len(text) <= MAX_VALUE and bool(CHOICE.match(text) or VALUE.match(text))


def _stated(text: str) -> str | None:
    """The last answer a label or an "the answer is" sentence states."""
    found = None
    for pattern in (ANSWER_LABEL, SOLUTION_LABEL, ANSWER_SENTENCE):
        for match in pattern.finditer(text):
            rest = text[match.end():]
            end = ANSWER_END.search(rest)
            answer = rest[:end.start()] if end else rest
            if pattern is ANSWER_SENTENCE:
                clause = CLAUSE_END.search(answer)
                answer = OPTION_WORD.sub("", answer[:clause.start()] if clause else answer)
            answer = _clean(answer)
            if pattern is SOLUTION_LABEL:
                short = _is_value(answer)
            elif pattern is ANSWER_SENTENCE:
                few_words = len(answer.split()) <= 3 and len(answer) <= MAX_VALUE
                short = _is_value(answer) or (few_words and not VAGUE.match(answer))
            else:
                short = len(answer) <= MAX_STATED
            if short and (found is None or match.start() > found[0]):
                found = (match.start(), answer)
    return found[1] if found else None


def _closing(text: str) -> str | None:
    """A choice letter or the short value after the last "=" closing the solution's last sentence."""
    sentences = [s.strip() for s in SENTENCES.split(text) if s and s.strip()]
    if not sentences or CODE.search(sentences[-1]) or URL.search(sentences[-1]):
        return None
    last = sentences[-1]
    choice = CHOICE_END.search(last)
    if choice and len(re.findall(r"\([A-E]\)", last)) == 1:  # more than one is the list of options
        return f"({choice.group(1)}) {choice.group(2) or ''}".strip()
    equals = list(re.finditer(r"(?<![<>!=])=(?!=)", last))
    if not equals:
        return None
    value = _clean(FORMULA_CLOSE.sub("", FORMULA_OPEN.sub("", last[equals[-1].end():])))
    words = value.split()
    if (not VALUE.match(value) or len(value) > MAX_VALUE or len(words) > 4 or "=" in value or CONNECTOR.search(value)
            or value.count("(") != value.count(")") or any(NEW_SENTENCE.match(w) for w in words[1:])):
        return None
    return value


def final_answer(solution: str) -> str | None:
    """The short final answer a solution states, or None when it states none.

    Read, first that applies: the last \\boxed{...} / \\fbox{...}; the last "Answer: X" label or
    "the answer is X" sentence (English, Chinese, Spanish, French, German, Russian, Portuguese,
    Japanese; "Solution: X" / "Lösung: X" only when X is a short value); a choice "(B)" or a short
    value after "=" closing the last sentence. Forum replies, explanations and code give None."""
    if not solution or not solution.strip():
        return None
    return _boxed(solution) or _stated(solution) or _closing(solution)


QUESTION_CUE = re.compile(
    r"[?？¿]|[(（][\s\u3000_]*[)）]|_{3,}|\(A\)[\s\S]*?\(B\)"  # a question mark, a blank to fill in, options
    r"|(?<![^\W\d_])(?:calcul|comput|d[eé]termin|evaluat|estimat|simplif|explain|explic|predict|berechn|bestimm|ermittl"
    r"|begründ|beweis|halla|encuentr|encontr|resuelv|resolv|résol|démontr|montr|trouv|найд|вычисл|определ|реш|докаж)"
    r"|(?<![^\W\d_])(?:find|solve|prove|show that|what|which|who|why|how|when|where|whether|help|trying to"
    r"|does ?n[o']t (?:seem to )?work|not working|error|problem|issue|wrong|can ?not|can't|any idea|is there|wonder"
    r"|qué|cuál|cuánto|cuántos|cuántas|cómo|por qué|combien|comment|pourquoi|quel|quelle|quels|quelles"
    r"|wie|warum|weshalb|welche|welcher|welches|welchen|wieviel|wie viele"
    r"|сколько|какой|какая|какое|какие|почему|как|чему|qual|quais|quanto|quantos|como|porque|por que)(?![^\W\d_])"
    r"|求|计算|多少|为什么|如何|怎么|怎样|吗|哪|什么|是否|有没有|能否|证明|判断|下列|計算|なぜ|どう|いくつ|何|答えよ|説明せよ|示せ",
    re.I,
)
FIGURE_CUE = re.compile(
    r"(?<![^\W\d_])(?:figure|diagram|shown|drawn|chart|graph|picture|square below|circuit shown|abbildung|skizze"
    r"|zeichnung|diagramm|figura|diagrama|gráfic[oa]|schéma|graphique)(?![^\W\d_])|(?<![^\W\d_])(?:abb|рис)\."
    r"|(?<![^\W\d_])(?:рисун|черт[её]ж|график)"
    r"|如图|图中|下图|上图|右图|左图|见图|图示|图\s*\d|(?<![地意企指合縮系])図",
    re.I,
)


def validate_pair(question: str, solution: str | None, images_ok: int, images_failed: int, min_chars: int,
                  max_chars: int) -> tuple[str, str | None]:
    """Rule-based validation: (status, reason), status ok | rejected. A pair is kept when it is a
    complete problem with its solution: a question long enough and phrased as a question or task, a
    solution text (stating a short final answer or not: a forum reply is an answer), and the figure
    the question refers to."""
    if len(question) < min_chars:
        return "rejected", f"question shorter than {min_chars} characters"
    if len(question) > max_chars:
        return "rejected", f"question longer than {max_chars} characters"
    if not QUESTION_CUE.search(question):
        return "rejected", "no question or task in the text"
    if not solution or not solution.strip():
        return "rejected", "the page gives no solution"
    if FIGURE_CUE.search(question) and images_ok == 0:
        return "rejected", ("refers to a figure but no image could be read" if images_failed
                            else "refers to a figure but shows none")
    return "ok", None
