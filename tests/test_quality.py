"""De-duplication, decontamination and answer verification on planted rows (jobs/curate_qas.py)."""
import io
import json
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image
from pyspark.sql import functions as F

from jobs.curate_qas import CurateQAs, IndexBenchmarks
from udfs.matching import answers_agree
from runtime.config import ConfigError, load_config
from runtime.context import pipeline_run
from runtime.stage import run_stage
from sampleweb.problems import make_problem, render_diagram
from schemas.aligned_qas import AlignedQA
from schemas.images import ImageRecord
from tests.conftest import make_config
from udfs.images import decode
from udfs.questions import numbers_key, tokens

DENSITY = "A metal block has a mass of 120 g and a volume of 40 cm^3. Calculate its density."
DENSITY_REWORDED = "A metal block has a mass of 120.0 g and a volume of forty cm³. Find its density."
DENSITY_OTHER = "A metal block has a mass of 121 g and a volume of 40 cm^3. Calculate its density."
COMMON_A = "Find the value of x in the figure below. The triangle has a base of 3 cm."
COMMON_B = "Find the value of x in the figure below. The circle has a radius of 3 cm."
FIGURE_Q = "Two resistors of 12 ohm and 30 ohm are connected in series to a 9 V battery, as in the circuit shown. Calculate the current."
FIGURE_Q_REWORDED = "Two resistors of 12.0 ohm and 30 ohm are connected in series to a 9 V battery, as in the circuit shown. Find the current."
LEAKED = "In the triangle ABC the angle at A is 50 degrees and the angle at B is 60 degrees. What is the measure of the angle at C?"
BENCH_IMAGE_Q = "A new question about the chart: which bar is the tallest one in the picture?"
MMMU_Q = "<image 1> A uniform ladder of length 5 m rests against a smooth wall at 60 degrees to the floor. Find the friction force."
VERSE_IMAGE_Q = "Another question drawn over a figure: what is the length of the longest side shown?"


def png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def resized_jpeg(data: bytes) -> bytes:
    image = Image.open(io.BytesIO(data)).convert("RGB")
    out = io.BytesIO()
    image.resize((int(image.width * 0.8), int(image.height * 0.8))).save(out, format="JPEG", quality=75)
    return out.getvalue()


def diagram(seed: int) -> bytes:
    rng = random.Random(seed)
    return png(render_diagram(make_problem("geometry", rng, True), rng))


def image_row(image_id: str, data: bytes) -> dict:
    decoded = decode(data, 1)
    return ImageRecord.row(image_id=image_id, url=f"http://x/{image_id}", page_id="p", status="ok", sha256=decoded.sha256,
                           width=decoded.width, height=decoded.height, format=decoded.format, phash=decoded.phash)


def aligned(final_id: str, question: str, image_ids=(), status="ok", answer="5 g/cm^3", web_answer="5 g/cm^3") -> dict:
    return AlignedQA.row(
        final_id=final_id, qa_id=f"q-{final_id}", source_qa_ids=[f"q-{final_id}"], status=status, question=question,
        solution="Divide.", answer=answer, answer_source="page:test", web_answer=web_answer, image_ids=list(image_ids),
        has_images=bool(image_ids), page_id="p", url=f"http://x/{final_id}",
    )


def test_normalisation_makes_format_variants_equal_and_keeps_numbers_apart():
    assert tokens("Mass of 1,200.50 g and forty cm³ $\\left( x \\right)$") == tokens("mass of 1200.5 G and 40 cm^3 (x)")
    assert numbers_key(tokens(DENSITY)) == numbers_key(tokens(DENSITY_REWORDED)) != numbers_key(tokens(DENSITY_OTHER))


def test_quality_config_is_checked_at_start_up():
    with pytest.raises(ConfigError, match=r"quality.dedup.bands: 3 does not divide num_perm 128"):
        load_config(None, ["quality.dedup.bands=3"])
    with pytest.raises(ConfigError, match=r"quality.decontamination.ngram"):
        load_config(None, ["quality.decontamination.ngram=0"])


def test_answers_agree_symbolically_or_as_text():
    assert answers_agree("0.5", "1/2") and answers_agree("$12.50", "12.5") and answers_agree("B", "(B)")
    assert not answers_agree("0.5", "0.6") and not answers_agree("12 cm", None)


@pytest.fixture
def curated(spark, tmp_path):
    benchmark_png = diagram(2)
    bench = tmp_path / "bench"
    bench.mkdir()
    (bench / "chart.png").write_bytes(benchmark_png)
    items = [
        {"id": "7", "benchmark": "MathVista", "question": LEAKED, "images": []},
        {"id": "8", "benchmark": "MathVista", "question": "Which of the bars shown is the tallest?", "images": ["chart.png"]},
        {"id": "9", "benchmark": "MMMU", "question": "An unrelated item about the figure below.", "images": ["missing.png"]},
    ]
    (bench / "items.jsonl").write_text("\n".join(json.dumps(i) for i in items) + "\nnot json at all\n")
    # Two benchmarks as published (Parquet, Image-feature columns) and a file without the columns.
    published = tmp_path / "published"
    published.mkdir()
    struct = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    verse_png = diagram(4)
    pq.write_table(pa.table({"id": ["validation_Physics_3"], "question": [MMMU_Q], "options": ["['10 N', '20 N']"], "answer": ["A"],
                             **{f"image_{k}": pa.array([None], struct) for k in range(1, 8)}}), published / "mmmu-validation.parquet")
    pq.write_table(pa.table({"sample_index": ["12"], "question": [""], "answer": ["B"],
                             "image": pa.array([{"bytes": verse_png, "path": "12.png"}], struct)}), published / "mathverse-testmini.parquet")
    pq.write_table(pa.table({"id": ["1"]}), published / "mathvista-broken.parquet")
    config = make_config(tmp_path, **{
        "quality.decontamination.benchmarks": str(bench),
        "quality.decontamination.published": json.dumps({
            "mmmu": str(published / "mmmu-*.parquet"), "mathverse": f"file://{published / 'mathverse-testmini.parquet'}",
            "mathvista": str(published / "mathvista-broken.parquet"),
        }),
    })
    figure = diagram(1)
    with pipeline_run(config, "test_quality", "quality-1", spark=spark) as ctx:
        images = [image_row("img-d", figure), image_row("img-d2", resized_jpeg(figure)), image_row("img-e", diagram(3)),
                  image_row("img-b", resized_jpeg(benchmark_png)), image_row("img-v", resized_jpeg(verse_png))]
        ctx.tables.merge("images", spark.createDataFrame(images, ImageRecord.transform_schema()).withColumn("run_id", F.lit("t")))
        rows = [
            aligned("f01", DENSITY), aligned("f02", DENSITY_REWORDED), aligned("f03", DENSITY_OTHER),
            aligned("f04", COMMON_A), aligned("f05", COMMON_B),
            aligned("f06", FIGURE_Q, ["img-d"]), aligned("f07", FIGURE_Q_REWORDED, ["img-d2"]), aligned("f08", FIGURE_Q, ["img-e"]),
            aligned("f09", "Copied: " + LEAKED), aligned("f10", BENCH_IMAGE_Q, ["img-b"]),
            aligned("f11", DENSITY, status="rejected"), aligned("f12", "What is 2 + 2?", answer="5", web_answer="4"),
            aligned("f20", MMMU_Q.replace("<image 1> ", "")), aligned("f21", VERSE_IMAGE_Q, ["img-v"]),
        ]
        ctx.tables.merge("aligned_qas", spark.createDataFrame(rows, AlignedQA.transform_schema()).withColumn("run_id", F.lit("t")))
        run_stage(ctx, IndexBenchmarks())
        run_stage(ctx, CurateQAs())
        first = {r["final_id"]: r.asDict() for r in ctx.tables.read("final_qas").collect()}
        items = {r["item_id"]: r.asDict() for r in ctx.tables.read("benchmark_items").collect()}
    return config, first, items


def test_planted_duplicates_and_leaks_are_removed_and_the_rest_kept(curated):
    _, final, _ = curated
    status = {k: (r["status"], r["duplicate_of"], r["benchmark_item"], r["match_kind"]) for k, r in final.items()}
    assert status["f02"] == ("duplicate", "f01", None, "question_near")
    assert status["f07"] == ("duplicate", "f06", None, "question_near")
    assert status["f09"] == ("contaminated", None, "MathVista/7", "benchmark_text")
    assert status["f10"] == ("contaminated", None, "MathVista/8", "benchmark_image")
    # ... and against the benchmarks read in their published shapes
    assert status["f20"] == ("contaminated", None, "MMMU/validation_Physics_3", "benchmark_text")
    assert status["f21"] == ("contaminated", None, "MathVerse/12", "benchmark_image")
    # other numbers, a shared common phrase, the same question over another figure: kept
    assert all(status[k][0] == "ok" for k in ("f01", "f03", "f04", "f05", "f06", "f08", "f12"))
    assert status["f11"][0] == "rejected"
    assert final["f09"]["match_score"] >= 13 and final["f10"]["match_score"] <= 8
    assert "duplicate of f01" in final["f02"]["reason"]


def test_verified_flags_answers_that_agree_with_the_page(curated):
    _, final, _ = curated
    assert final["f01"]["verified"] and not final["f12"]["verified"] and not final["f11"]["verified"]


def test_bad_benchmark_lines_and_images_are_status_rows(curated):
    _, _, items = curated
    assert items["MathVista/7"]["status"] == "ok" and len(items["MathVista/7"]["ngram_hashes"]) == len(tokens(LEAKED)) - 12
    assert items["MathVista/8"]["image_phashes"] and items["MathVista/8"]["status"] == "ok"
    assert items["MMMU/9"]["status"] == "unreadable" and "image 1" in items["MMMU/9"]["reason"]
    assert [i for i in items.values() if i["benchmark"] == "unknown" and i["status"] == "unreadable"]
    [broken] = [i for i in items.values() if i["benchmark"] == "MathVista" and i["status"] == "unreadable"]
    assert broken["source"].endswith("mathvista-broken.parquet") and "KeyError" in broken["reason"]
    assert items["MMMU/validation_Physics_3"]["status"] == "ok" and items["MathVerse/12"]["image_phashes"]


def test_new_rows_meet_the_kept_rows_and_a_rerun_changes_nothing(curated, spark):
    config, first, _ = curated
    with pipeline_run(config, "test_quality", "quality-2", spark=spark) as ctx:
        later = [aligned("f00", DENSITY_REWORDED.replace("Find", "Work out")), aligned("f13", "A brand new question with 77 in it, about nothing else.")]
        ctx.tables.merge("aligned_qas", spark.createDataFrame(later, AlignedQA.transform_schema()).withColumn("run_id", F.lit("t2")))
        stats = run_stage(ctx, CurateQAs())
        assert stats.rows_in == 2
        again = run_stage(ctx, CurateQAs())
        assert again.rows_in == 0
        final = {r["final_id"]: r.asDict() for r in ctx.tables.read("final_qas").collect()}
    # f00 sorts before f01, but f01 is already kept: it stays the representative
    assert (final["f00"]["status"], final["f00"]["duplicate_of"]) == ("duplicate", "f01")
    assert final["f13"]["status"] == "ok"
    assert {k: v for k, v in final.items() if k in first} == first
