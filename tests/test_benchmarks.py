"""Loaders of the evaluation benchmarks in their published shapes (udfs/benchmarks.py), on small
files written here with those datasets' columns."""
import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from udfs.benchmarks import index_text, published_files, read_published

IMAGE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])


def png(color, size=(40, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="PNG")
    return out.getvalue()


def image(color) -> dict:
    return {"bytes": png(color), "path": None}


def write_parquet(path, columns: dict, types: dict) -> str:
    schema = pa.schema([(name, types.get(name, pa.string())) for name in columns])
    pq.write_table(pa.table(columns, schema=schema), path)
    return str(path)


def size_of(content: bytes) -> tuple[int, int]:
    return Image.open(io.BytesIO(content)).size


def test_mmmu_and_mmmu_pro_read_options_and_up_to_seven_images(tmp_path):
    images = {f"image_{k}": [image((k * 30, 0, 0)) if k <= 2 else None, None] for k in range(1, 8)}
    path = write_parquet(tmp_path / "validation-00000-of-00001.parquet", {
        "id": ["validation_Math_1", "validation_Math_2"],
        "question": ["<image 1> <image 2> Which curve is steeper?", "What is 2 + 2?"],
        "options": ["['A', 'B', 'C']", "[]"],
        "explanation": ["", ""], **images, "img_type": ["['Plots']", "[]"], "answer": ["B", "4"],
        "topic_difficulty": ["Easy", "Easy"], "question_type": ["multiple-choice", "open"], "subfield": ["Calculus", "Arithmetic"],
    }, {f"image_{k}": IMAGE for k in range(1, 8)})
    first, second = read_published("mmmu", path)
    assert (first.id, first.options, first.answer) == ("validation_Math_1", ["A", "B", "C"], "B")
    assert [size_of(i) for i in first.images] == [(40, 30), (40, 30)] and first.images[0] != first.images[1]
    assert (second.options, second.images) == ([], [])
    assert index_text(first) == "<image 1> <image 2> Which curve is steeper?\nA\nB\nC"
    # MMMU-Pro's vision config: the question is in the screenshot; the options are its text.
    vision = write_parquet(tmp_path / "vision.parquet", {
        "id": ["test_Art_1"], "image": [image((0, 90, 0))], "options": ["['red', 'green']"], "answer": ["B"], "subject": ["Art"],
    }, {"image": IMAGE})
    [pro] = read_published("mmmu_pro", vision)
    assert (pro.question, index_text(pro), len(pro.images)) == ("", "red\ngreen", 1)


def test_mathvista_parquet_and_annotation_json(tmp_path):
    path = write_parquet(tmp_path / "testmini-00000-of-00001.parquet", {
        "pid": ["1", "2"], "question": ["How many bars are taller than 5?", "What is x?"], "image": ["images/1.jpg", "images/2.jpg"],
        "decoded_image": [image((1, 2, 3)), image((4, 5, 6))], "choices": [["2", "3"], None], "unit": [None, "cm"],
        "precision": [None, 1.0], "answer": ["3", "4.5"], "question_type": ["multi_choice", "free_form"],
        "answer_type": ["text", "float"], "query": ["", ""],
    }, {"decoded_image": IMAGE, "choices": pa.list_(pa.string()), "precision": pa.float64()})
    first, second = read_published("mathvista", path)
    assert (first.id, first.options, second.options, second.answer) == ("1", ["2", "3"], [], "4.5")
    assert size_of(second.images[0]) == (40, 30)
    # The repository's annot_testmini.json: a mapping pid -> record, images as paths beside it.
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "7.png").write_bytes(png((9, 9, 9), (20, 10)))
    annotations = {"7": {"pid": "7", "question": "Is the line straight?", "image": "images/7.png", "choices": ["yes", "no"], "answer": "yes"}}
    (tmp_path / "annot_testmini.json").write_text(json.dumps(annotations))
    [item] = read_published("mathvista", str(tmp_path / "annot_testmini.json"))
    assert (item.id, item.options, size_of(item.images[0])) == ("7", ["yes", "no"], (20, 10))


def test_mathverse_and_a_missing_image_file(tmp_path):
    path = write_parquet(tmp_path / "testmini.parquet", {
        "sample_index": ["1", "2"], "problem_index": ["1", "1"], "problem_version": ["Text Dominant", "Vision Only"],
        "question": ["As shown in the figure, AB is parallel to CD. Find angle 2.", ""],
        "image": [image((7, 7, 7)), image((8, 8, 8))], "answer": ["A", "A"], "question_type": ["multi-choice", "multi-choice"],
        "query_wo": ["", ""], "query_cot": ["", ""], "question_for_eval": ["", ""],
    }, {"image": IMAGE})
    first, vision_only = read_published("mathverse", path)
    assert (first.id, vision_only.question, len(vision_only.images)) == ("1", "", 1)
    (tmp_path / "testmini.json").write_text(json.dumps([
        {"sample_index": "3", "question": "Find the area.", "image": "images_version_1-4/gone.png", "answer": "12"},
    ]))
    [broken] = read_published("mathverse", str(tmp_path / "testmini.json"))
    assert isinstance(broken.images[0], FileNotFoundError)


def test_dynamath_variants_of_one_question_stay_apart(tmp_path):
    path = write_parquet(tmp_path / "sample_variant1.parquet", {
        "id": ["1", "1"], "question": ["What is the value of f(3)?", "What is the value of f(3)?"], "image": ["", ""],
        "decoded_image": [image((10, 0, 0)), image((0, 10, 0))], "ground_truth": ["9", "7"],
        "answer_type": ["float", "float"], "subject": ["algebra", "algebra"], "knowledge_level": ["high school", "high school"],
    }, {"decoded_image": IMAGE})
    first, second = read_published("dynamath", path)
    assert first.id != second.id and first.id.startswith("1-") and (first.answer, second.answer) == ("9", "7")
    assert [i.id for i in read_published("dynamath", path)] == [first.id, second.id]  # stable


def test_published_files_lists_a_folder_or_glob_and_names_what_is_missing(tmp_path):
    (tmp_path / "data").mkdir()
    for name in ("test-00000.parquet", "test-00001.parquet", "README.md"):
        (tmp_path / "data" / name).write_bytes(b"x")
    assert [p.rsplit("/", 1)[1] for p in published_files(str(tmp_path / "data"))] == ["test-00000.parquet", "test-00001.parquet"]
    assert len(published_files(str(tmp_path / "data" / "*-00001.parquet"))) == 1
    assert published_files(f"file://{tmp_path / 'data'}")[0].startswith("file://")
    with pytest.raises(FileNotFoundError, match="quality.decontamination.published: no Parquet"):
        published_files(str(tmp_path / "nothing"))
    with pytest.raises(KeyError):
        list(read_published("mathvista", write_parquet(tmp_path / "wrong.parquet", {"id": ["1"]}, {})))
