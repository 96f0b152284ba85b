"""Seed ingestion from a folder, a CSV or JSONL manifest and Parquet; duplicates and bad images."""
import io
import json

import pandas as pd
import pytest
from PIL import Image

from jobs.ingest_seeds import IngestSeeds
from runtime.context import Context
from runtime.stage import run_stage
from runtime.tables import Tables
from runtime.tracking import Tracker
from tests.conftest import make_config
from tests.test_search import copy_of, figure


def context(spark, tmp_path, source) -> Context:
    config = make_config(tmp_path, **{"seeds.source": str(source), "seeds.max_side": 2000})
    tables = Tables(spark, config.tables, tmp_path / "_staging")
    tables.set_run_id("seeds-test")
    return Context(config, spark, tables, "seeds-test", Tracker(config.tracking))


def png(width: int, height: int, color="white") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, format="PNG")
    return out.getvalue()


IMAGES = {
    "a.png": figure(1),
    "a_again.png": figure(1),  # the same bytes: one seed
    "a_copy.jpg": copy_of(figure(1), (0.0, 0.0, 0.0, 0.0), 0.9, 92),  # the same figure re-encoded: a near duplicate
    "b.png": figure(2),
    "tiny.png": png(12, 12),
    "huge.png": png(2500, 40),
    "broken.png": figure(3)[:200],
}


def statuses(ctx) -> dict[str, tuple[str, str | None]]:
    return {r["source"].rsplit("/", 1)[-1].split("#")[0]: (r["status"], r["reason"]) for r in ctx.tables.read("seeds").collect()}


def check(found: dict, names: dict[str, str], copy_first: bool = True):
    """names: file -> the row's key in `found`; copy_first: the copy's source sorts after the original's."""
    assert found[names["b.png"]][0] == "ok"
    assert names["a_again.png"] not in found or names["a_again.png"] == names["a.png"]
    kept, repeated = ("a.png", "a_copy.jpg") if copy_first or found[names["a.png"]][0] == "ok" else ("a_copy.jpg", "a.png")
    assert found[names[kept]][0] == "ok"
    status, reason = found[names[repeated]]
    assert status == "near_duplicate" and "bits of seed" in reason
    assert found[names["tiny.png"]][0] == "too_small" and "under 32 px" in found[names["tiny.png"]][1]
    assert found[names["huge.png"]][0] == "too_large" and found[names["huge.png"]][1]
    assert found[names["broken.png"]][0] == "unreadable" and found[names["broken.png"]][1]


def write_images(folder):
    folder.mkdir(parents=True)
    for name, data in IMAGES.items():
        (folder / name).write_bytes(data)


@pytest.mark.parametrize("kind", ["folder", "csv", "jsonl"])
def test_seeds_from_files(spark, tmp_path, kind):
    images = tmp_path / "images" / "geometry"
    write_images(images)
    if kind == "folder":
        source = tmp_path / "images"
    elif kind == "csv":
        source = tmp_path / "images" / "seeds.csv"
        source.write_text("path,subject,image_url\n" + "".join(f"geometry/{n},geometry,https://img.example/{n}\n" for n in IMAGES))
    else:
        source = tmp_path / "images" / "seeds.jsonl"
        source.write_text("".join(json.dumps({"path": f"geometry/{n}", "subject": "geometry"}) + "\n" for n in IMAGES))
    ctx = context(spark, tmp_path, source)
    run_stage(ctx, IngestSeeds())
    check(statuses(ctx), {n: n for n in IMAGES})
    rows = ctx.tables.read("seeds").where("status = 'ok'").collect()
    assert len(rows) == 2 and {r["subject"] for r in rows} == {"geometry"}
    if kind == "csv":
        assert {r["image_url"] for r in rows} == {"https://img.example/a.png", "https://img.example/b.png"}
    assert run_stage(ctx, IngestSeeds()).rows_in == 0


@pytest.mark.parametrize("layout", ["binary", "huggingface"])
def test_seeds_from_parquet(spark, tmp_path, layout):
    names = list(IMAGES)
    image = [IMAGES[n] for n in names] if layout == "binary" else [{"bytes": IMAGES[n], "path": n} for n in names]
    source = tmp_path / "export"
    source.mkdir()
    pd.DataFrame({"image": image, "subject": ["physics"] * len(names), "question_id": range(len(names))}).to_parquet(source / "train-00000.parquet")
    ctx = context(spark, tmp_path, source)
    stats = run_stage(ctx, IngestSeeds())
    assert stats.rows_in == len(names) - 1  # identical bytes are one input
    import hashlib

    by_hash = {hashlib.sha256(IMAGES[n]).hexdigest(): n for n in names if n != "a_again.png"}
    found = {by_hash[r["source"].split("sha256=")[1]]: (r["status"], r["reason"]) for r in ctx.tables.read("seeds").collect()}
    check(found, {n: n if n != "a_again.png" else "a.png" for n in names}, copy_first=False)
    assert {r["subject"] for r in ctx.tables.read("seeds").collect()} == {"physics"}
    assert run_stage(ctx, IngestSeeds()).rows_in == 0


def test_a_parquet_source_without_the_image_column_is_named(spark, tmp_path):
    source = tmp_path / "bad.parquet"
    pd.DataFrame({"picture": [b"x"]}).to_parquet(source)
    with pytest.raises(ValueError, match="seeds.parquet_image_column"):
        run_stage(context(spark, tmp_path, source), IngestSeeds())
