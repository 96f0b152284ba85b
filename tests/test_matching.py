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
