from udfs.matching import equivalent, group_answers, majority, parse_answer


def test_equivalent_values_forms_and_choices():
    assert equivalent("13 cm", "13") is True
    assert equivalent("$1628.89", "1628.89") is True
    assert equivalent("0.5", "1/2") is True
    assert equivalent("(B)", "B") is True
    assert equivalent("(B)", "C") is False
    assert equivalent("13 cm", "12 cm") is False


def test_undecidable_answers_go_to_the_judge():
    assert parse_answer("five point three three A") is None
    assert equivalent("thirteen", "13") is None
    assert group_answers(["5", "five"]) is None


def test_grouping_and_majority():
    groups = group_answers(["5 cm", "5.0", "7 cm", "5"])
    assert groups == [[0, 1, 3], [2]]
    assert majority(groups, 4) == [0, 1, 3]
    assert majority([[0, 1], [2, 3]], 4) is None  # a tie is no majority
    assert majority([[0, 1]], 4) is None  # two of four agree, two failed: no majority


def test_a_batch_decided_without_the_judge_passes_through_spark(spark):
    """Every row settled symbolically: the first pass's request columns stay strings through Arrow."""
    from jobs.align_answers import OUTPUT, first_pass
    from runtime.config import load_config
    from runtime.judging import first_pass_schema
    from tests.conftest import REPO
    from udfs.llm import load_prompt

    llm = load_config(REPO / "conf" / "local.yaml", []).llm
    qa = {"final_id": "f1", "qa_id": "q1", "source_qa_ids": ["q1"], "question": "What is 1 + 2?", "image_ids": ["i1"], "image_sha256": ["c1"],
          "has_images": True, "subject": "math", "page_id": "p1", "url": "http://a.localhost/", "hit_ids": ["h1"], "seed_ids": ["s1"],
          "round": 2, "solution": "1 + 2 = 3", "consistency_status": "ok", "consistency_reason": "", "majority_text": "3",
          "agreeing_answer_ids": ["a1"], "consistency_by": "symbolic"}
    rows = spark.createDataFrame([
        {**qa, "input_key": "f1", "answer": "3", "majority_answer": "3.0"},
        {**qa, "input_key": "f2", "final_id": "f2", "answer": "4", "majority_answer": "3"},
    ])
    passed = rows.mapInPandas(first_pass(load_prompt(llm.prompts_dir, "align"), llm), first_pass_schema(OUTPUT)).collect()
    assert {(r.final_id, r.request_id, r.answer_source, r.round) for r in passed} == {
        ("f1", None, "synthesized:aligned", 2), ("f2", None, "web:misaligned", 2),
    }
