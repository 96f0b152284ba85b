"""What a solution states and rule-based validation, on solution texts as real pages write them."""
import pandas as pd
import pytest

from jobs.align_answers import CARRIED, first_pass
from udfs.answers import final_answer, validate_pair
from udfs.matching import answers_agree

# AoPS wiki solutions as the content tree reads them (formula images' alt text).
AOPS_KITE = (
    "The area of a kite is half the product of its diagonals. The diagonals have lengths of $$6$$ and $$7$$ , so the "
    r"area is $$\frac{(6)(7)}{2}=21, \boxed{\text{A}}$$ . Solution 2 Drawing in the diagonals of the kite will form "
    "four right triangles on the \"inside\" part of the grid. Since each right triangle on the inside can be paired "
    r"with a congruent right triangle that is on the outside, the area of the kite is half the total area of the grid, "
    r"or $$\frac{(6)(7)}{2}=21, \boxed{\text{A}}$$ . See Also | 2001 AMC 8 (Problems • Answer Key • Resources) | "
    "Retrieved from \"https://artofproblemsolving.com/wiki/index.php?title=2001_AMC_8_Problems/Problem_7&oldid=55843\" "
    "Art of Problem Solving is an ACS WASC Accredited School"
)
AOPS_TRAPEZOID = (
    r"Using the diagram above, the figure can be divided along the x-axis into two familiar regions. "
    r"$$A_{trap} = A_{tri} + A_{rect}$$ $$A_{trap} = \frac{1}{2}bh + lw$$ "
    r"$$A_{trap} = 6 + 12 = 18 \rightarrow \boxed{C}$$"
)
GFG_PROGRAM_1 = (
    "Answer : A) 20 Explanation : Here the class instance variable name(num) is same as calc() method local variable "
    "name(num). So for referencing class instance variable from calc() method, this keyword is used."
)
GFG_PROGRAM_2 = (
    "Answer : C) The output is true and MyStuff does NOT fulfill the Object.equals() contract. Explanation : As "
    "equals(Object obj) method in Object class, compares two objects on the basis of equivalence relation."
)
FORUM_REPLY = "You can't hide them because the user has to select each of them in order to make a purchase."
DMOI_PIE = (
    "The answer is not 37, even though the sum of the numbers above is 37. For example, while 12 students failed "
    "Algebra, 2 of those students also failed Biology. We will return to this counting technique later."
)


@pytest.mark.parametrize("solution, answer", [
    # boxed: balanced braces, the last one wins, a text-mode choice reads as the choice
    (AOPS_KITE, "A"),
    (AOPS_TRAPEZOID, "C"),
    (r"Hence $x^2 = 9$ gives $x = 3$, so $\boxed{\textbf{(A)}\ 21}$", "(A) 21"),
    (r"First $\boxed{2}$ is wrong; the sum is $\boxed{\frac{1}{2}+\frac{1}{3}}$.", r"\frac{1}{2}+\frac{1}{3}"),
    (r"The perimeter is \fbox{24 cm}.", "24 cm"),
    # labels, in English and the old forms
    ("So x = 4. Answer: 4 cm", "4 cm"),
    ("I = V / R = 12 / 6. Answer: 2 A", "2 A"),
    ("A = pi r^2 = 12.56. Final answer: 12.56 m^2", "12.56 m^2"),
    ("Ans: 42", "42"),
    (GFG_PROGRAM_1, "A) 20"),
    (GFG_PROGRAM_2, "C) The output is true and MyStuff does NOT fulfill the Object.equals() contract"),
    # "the answer is", a choice letter
    ("Thus the answer is 12.", "12"),
    ("Both graphs fit the data, so the answer is (B).", "(B)"),
    ("Only low temperature and high pressure shift it, so the correct option is B.", "B"),
    ("The final answer is $\\frac{3}{4}$.", "\\frac{3}{4}"),
    ("Each half keeps 5 white triangles, so there are 5 white-white pairs, (B).", "(B)"),
    # a short value after "=" closing the last sentence
    ("Compute 3 + 4 = 7", "7"),
    (r"The ratio of their perimeters is $\frac{2(4+1)}{2(4+2)}=\frac{5}{6}$.", r"\frac{5}{6}"),
    (r"By PIE, \(499 +199+ 111 - (99 + 55 + 22) + 11 = 644\text{.}\)", "644"),
    ("V = a · b · h = 4 cm · 3 cm · 7 cm = 84 cm³. m = ρ · V = 2,5 g/cm³ · 84 cm³ = 210 g", "210 g"),
    # Chinese
    ("已知反应(放热反应)，若要提高有毒气体NO和CO的转化率 正确答案D ×", "D"),
    ("答案：C 解析：正反应放热，低温高压有利于平衡正向移动。", "C"),
    ("降低温度、增大压强，平衡正向移动，故选D。", "D"),
    ("v = s / t = 100 / 5 = 20 m/s。答：这辆车的速度是20米/秒。", "这辆车的速度是20米/秒"),
    ("两式相加得 2x = 24，所以答案是 12。", "12"),
    ("正确答案：D（低温高压）", "D（低温高压）"),
    # Spanish, French, German, Russian, Portuguese, Japanese
    ("El área es base por altura: 4 · 3 = 12. Respuesta: 12 cm²", "12 cm²"),
    ("Sumando ambas ecuaciones obtenemos 2x = 10, luego la respuesta es 5.", "5"),
    ("On applique le théorème de Pythagore : c² = 9 + 16 = 25. Réponse : 5 cm", "5 cm"),
    ("En divisant par 2, on trouve x = 21, donc la réponse est 21.", "21"),
    ("Lösung: m = 210 g", "m = 210 g"),
    ("2. Welche Masse hat 1 m³ Bausand, wenn ρ = 1,7 g/cm³. Lösung: m = 1 700 kg\nVollständig durchgerechnete Lösung",
     "m = 1 700 kg"),
    ("Die Fläche ist 4 · 6 = 24. Antwort: 24 cm²", "24 cm²"),
    ("Ergebnis: 12,5 kg", "12,5 kg"),
    ("本题解答：x = 3", "x = 3"),
    ("По теореме Пифагора c² = 3² + 4² = 25, c = 5. Ответ: 5 см.", "5 см"),
    ("Resolvendo o sistema, x = 3 e y = 5. Resposta: (3, 5)", "(3, 5)"),
    ("Somando, 2x = 20, então a resposta é 10.", "10"),
    ("面積は 4 × 6 = 24 です。答え：24 cm²", "24 cm²"),
    ("選択肢を比べると、正解：B", "B"),
    ("計算すると、答えは 3 です。", "3"),
])
def test_final_answer_reads_what_a_solution_states(solution, answer):
    assert final_answer(solution) == answer


@pytest.mark.parametrize("solution", [
    "",
    "   ",
    "We cannot tell.",
    # forum and Q&A replies, explanations: an answer, but no short final answer stated
    FORUM_REPLY,
    "No. They are for the people in the top levels to make money off the people in the middle and lower levels.",
    "You are probably using Python 3.0, where print is now a function (hence the parenthesis) instead of a statement.",
    "中国地震预警网能在地震发生前83秒做出正确的预警。",
    "Ein Caching und Optimierer Plugin war dafür veratwortlich. Nachdem ich dies deaktiviert habe war das Design für "
    "alle einheitlich.",
    DMOI_PIE,
    "This is a good question, even if the answer is a simple word.",
    "Explain why your answer is correct.",
    # "Solution" headings and worked solutions open with no answer
    "Solution 2 Drawing in the diagonals of the kite will form four right triangles.",
    "Lösung: Zuerst berechnen wir das Volumen des Quaders.",
    "Solution: We first note that the triangle is isosceles, so both base angles are equal.",
    "Solution: A cat is not a dog.",
    # code
    'Sub ConversionRange() Dim myRange As Range, cRange As Range With Sheets("SAP Refined Data") .Activate '
    'Set myRange = .Range("1:1") Set cRange = myRange.Find(What:="Cost Element").Offset(1, 0) End Sub',
    "int total = 5;",
    ".sliders .slider:nth-child(2) .col:last-child { background-color: red; }",
    'composer require sycho/flarum-private-facade:"*" php flarum migrate php flarum cache:clear',
    # an "=" that is not a closing value
    "So we set x = 3 and continue with the next step.",
    "Set a = b in the first equation. Then the two sides agree and the identity holds.",
    "After clicking Next page, new URL: http://demo.happykids.test/admin?page=2#/dashboard",
    "the dollar values of each question are shown in the following table (where K = 1000).",
    r"$\text{(A)}\ 12 \qquad \text{(B)}\ 15 \qquad \text{(C)}\ 18 \qquad \text{(D)}\ 21 \qquad \text{(E)}\ 24$",
    "所以选择合适的方法很重要。",
])
def test_final_answer_is_none_when_no_answer_is_stated(solution):
    assert final_answer(solution) is None


def valid(question, solution="A worked solution.", images_ok=0, images_failed=0):
    return validate_pair(question, solution, images_ok, images_failed, 15, 4000)


def test_validate_pair_reasons():
    assert valid("Find the hypotenuse of the triangle with legs 3 and 4.") == ("ok", None)
    assert valid("Find x.") == ("rejected", "question shorter than 15 characters")
    assert valid("Find x " * 1000) == ("rejected", "question longer than 4000 characters")
    assert valid("The weather was pleasant in the valley today.") == ("rejected", "no question or task in the text")
    assert valid("Find the area of the triangle in 3 steps.", None) == ("rejected", "the page gives no solution")
    assert valid("Find the area of the triangle in 3 steps.", "  ") == ("rejected", "the page gives no solution")
    figure = "Find the area of the triangle shown in the figure."
    assert valid(figure, images_failed=1) == ("rejected", "refers to a figure but no image could be read")
    assert valid(figure) == ("rejected", "refers to a figure but shows none")
    assert valid(figure, images_ok=1) == ("ok", None)


def test_a_solution_without_a_stated_final_answer_is_valid():
    question = ("How to hide specific product variant options from product detail page? I'm looking to hide a couple "
                "of product variants from the product detail page.")
    assert final_answer(FORUM_REPLY) is None
    assert valid(question, FORUM_REPLY) == ("ok", None)


@pytest.mark.parametrize("question", [
    "Berechne die Masse eines Glasquaders mit a = 4 cm; b = 3 cm; h = 7 cm; ρ = 2,5 g/cm³",
    "Welche Masse hat 1 m³ Bausand, wenn ρ = 1,7 g/cm³.",
    "已知反应(放热反应)，若要提高有毒气体NO和CO的转化率，可采取的措施是(　　)。 A.低温低压 B.高温低压 C.高温高压 D.低温高压",
    "一辆汽车5秒内行驶了100米，求汽车的平均速度",
    "有没有强制用户登录插件 访问flarum社区，自动弹出登录窗口，访问子页会自动跳转到首页",
    "Calcula el área de un triángulo de base 4 cm y altura 3 cm.",
    "Déterminez la longitude de l'hypoténuse d'un triangle rectangle de côtés 3 et 4.",
    "Найдите площадь прямоугольника со сторонами 4 см и 6 см.",
    "Calcule a área de um retângulo de lados 4 cm e 6 cm.",
    "長方形の面積を求めよ。縦 4 cm、横 6 cm とする。",
    "Points $A$, $B$, $C$ and $D$ have these coordinates: $A(3,2)$, $B(3,-2)$, $C(-3,-2)$ and $D(-3, 0)$. The area of "
    r"quadrilateral $ABCD$ is $\text{(A)}\ 12 \qquad \text{(B)}\ 15 \qquad \text{(C)}\ 18$",
    # a forum thread: the title, then a post that ends without a question mark
    "Defining Range with SET keyword\nHello,\nI'm trying to define two ranges using the \"SET\" keyword function in "
    "VBA, but my code does not seem to be working",
    "kernel compile eror chagelog\nAfter numerous previous kernel compilation without incident ran into this issue "
    "recently at command line",
])
def test_questions_and_tasks_in_the_languages_of_the_web_pass(question):
    assert valid(question) == ("ok", None)


@pytest.mark.parametrize("question", [
    "如图所示，求三角形ABC的面积。",
    "Berechne den Flächeninhalt des Dreiecks in Abbildung 3.",
    "Calcula el área del triángulo de la figura.",
    "Найдите площадь треугольника на рисунке.",
    "図の三角形の面積を求めよ。ただし辺の長さは cm で答えよ。",
])
def test_figure_cues_in_the_languages_of_the_web(question):
    assert valid(question) == ("rejected", "refers to a figure but shows none")
    assert valid(question, images_ok=1) == ("ok", None)


def test_a_map_or_an_intent_is_not_a_figure():
    assert valid("地図で東京から大阪までの距離を求めよ。") == ("ok", None)


def test_a_valid_pair_without_a_stated_answer_is_never_verified():
    assert answers_agree(final_answer(FORUM_REPLY), None) is False
    assert answers_agree(None, None) is False


def test_alignment_keeps_the_synthesized_answer_when_the_page_states_none():
    row = {name: [] for name in CARRIED} | {
        "input_key": "f1", "final_id": "f1", "qa_id": "q1", "question": "How to hide product variants?",
        "has_images": False, "subject": None, "page_id": "p1", "url": "http://forum/t/1", "round": 1,
        "solution": FORUM_REPLY, "answer": None, "consistency_status": "ok", "consistency_reason": None,
        "majority_answer": "use custom CSS", "majority_text": "Hide them with custom CSS.",
        "agreeing_answer_ids": ["a1", "a2"], "consistency_by": "llm_judge",
    }
    [frame] = first_pass(prompt=None, llm=None)(iter([pd.DataFrame([row])]))
    [aligned] = frame.to_dict("records")
    assert aligned["status"] == "ok" and aligned["answer_source"] == "synthesized:no_web_answer"
    assert aligned["answer"] == "use custom CSS" and aligned["web_answer"] is None and aligned["request_id"] is None
