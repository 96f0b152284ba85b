"""Export, mix and fine-tune from a pinned version of a small final_qas table."""
import io
import json

import pytest
from PIL import Image
from pyspark.sql import functions as F

from runtime.tables import Tables
from schemas.final_qas import FinalQA
from schemas.images import ImageRecord
from tests.conftest import REPO, make_config, settings_for
from training.export import export_final_qas
from training.mix import MixError, mix


def png(color) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (120, 100), color).save(buffer, format="PNG")
    return buffer.getvalue()


def qa(n: int, image_ids: list[str]) -> dict:
    return FinalQA.row(
        final_id=f"f{n:02d}", qa_id=f"q{n}", source_qa_ids=[f"q{n}"], status="ok", question=f"What is {n} plus {n} ?",
        solution=f"{n} + {n} = {2 * n} .", answer=str(2 * n), answer_source="page:test", image_ids=image_ids,
        image_sha256=[], has_images=bool(image_ids), subject="math", page_id="p", url=f"http://x/{n}",
    )


def write(spark, tables, name, model, rows, run_id):
    df = spark.createDataFrame(rows, model.transform_schema()).withColumn("run_id", F.lit(run_id))
    tables.merge(name, df)


@pytest.fixture
def small_tables(spark, tmp_path):
    config = make_config(tmp_path)
    tables = Tables(spark, config.tables, tmp_path / "_staging")
    images = [
        ImageRecord.row(image_id=f"i{k}", url=f"http://x/i{k}.png", page_id="p", status="ok", sha256=f"{k:064x}",
                        width=120, height=100, format="PNG", size_bytes=10, content=png((k * 60, 20, 20)))
        for k in range(3)
    ]
    write(spark, tables, "images", ImageRecord, images, "r1")
    rows = [qa(1, ["i0"]), qa(2, ["i1", "i2"]), qa(3, []), qa(4, ["i-missing"])]
    rows.append({**qa(5, []), "status": "rejected", "reason": "no answer"})
    write(spark, tables, "final_qas", FinalQA, rows, "r1")
    return config, tables


def test_export_round_trips_through_datasets(small_tables, tmp_path):
    import datasets

    _, tables = small_tables
    result = export_final_qas(tables, tmp_path / "out")
    assert (result.rows, result.skipped_missing_images, result.images) == (3, 1, 3)
    records = [json.loads(line) for line in open(result.jsonl)]
    assert [r["id"] for r in records] == ["f01", "f02", "f03"]
    assert records[0]["conversations"][0]["value"] == "<image>\nWhat is 1 plus 1 ?"
    assert records[1]["conversations"][0]["value"].count("<image>") == 2 and len(records[1]["image"]) == 2
    assert "image" not in records[2]
    for record in records[:2]:
        paths = record["image"] if isinstance(record["image"], list) else [record["image"]]
        for path in paths:
            Image.open(tmp_path / "out" / path).verify()  # relative to the export folder
    spec = __import__("yaml").safe_load(open(result.data_yaml))
    assert spec["datasets"][0]["json_path"] == str((tmp_path / "out" / "train.jsonl").resolve())
    loaded = datasets.load_dataset("parquet", data_files=result.parquet, split="train")
    assert loaded["id"] == ["f01", "f02", "f03"]
    first = loaded[1]
    assert [img.size for img in first["images"]] == [(120, 100), (120, 100)]
    assert first["conversations"][1]["value"].endswith("4 .")


def test_export_honours_the_version_after_the_table_changes(spark, small_tables, tmp_path):
    _, tables = small_tables
    pinned = tables.version("final_qas")
    before = export_final_qas(tables, tmp_path / "a", pinned)
    write(spark, tables, "final_qas", FinalQA, [qa(6, [])], "r2")
    old = export_final_qas(tables, tmp_path / "b", pinned)
    new = export_final_qas(tables, tmp_path / "c")
    assert old.jsonl_sha256 == before.jsonl_sha256 and old.rows == 3
    assert new.version == pinned + 1 and new.rows == 4
    with pytest.raises(ValueError, match="cannot export version 99"):
        export_final_qas(tables, tmp_path / "d", 99)


def test_mix_ratio_and_determinism(tmp_path):
    ours = tmp_path / "ours.jsonl"
    ours.write_text("".join(json.dumps({"id": f"o{i}", "conversations": [{"from": "human", "value": "q"}]}) + "\n" for i in range(90)))
    external = tmp_path / "ext" / "other.jsonl"
    external.parent.mkdir()
    external.write_text("".join(json.dumps({"id": f"e{i}", "image": f"img/{i}.png", "conversations": []}) + "\n" for i in range(50)))
    first = mix(ours, external, tmp_path / "m1.jsonl", ratio=0.9, seed=3)
    again = mix(ours, external, tmp_path / "m2.jsonl", ratio=0.9, seed=3)
    other_seed = mix(ours, external, tmp_path / "m3.jsonl", ratio=0.9, seed=4)
    assert (first.ours, first.external) == (90, 10) and first.ratio_actual == 0.9
    assert (tmp_path / "m1.jsonl").read_text() == (tmp_path / "m2.jsonl").read_text()
    assert (tmp_path / "m1.jsonl").read_text() != (tmp_path / "m3.jsonl").read_text()
    mixed = [json.loads(line) for line in open(tmp_path / "m1.jsonl")]
    assert all(r["image"] == str(external.parent.resolve() / "img" / r["id"][1:]) + ".png" for r in mixed if r["id"].startswith("e"))
    short = mix(ours, external, tmp_path / "m4.jsonl", ratio=0.5, seed=0)
    assert (short.external, short.external_available) == (50, 50)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": 1}\n')
    with pytest.raises(MixError, match="bad.jsonl:1: no conversations"):
        mix(ours, bad, tmp_path / "m5.jsonl")


@pytest.mark.e2e
def test_training_through_torch_distributor_logs_loss_and_data_version(small_tables, tmp_path):
    import mlflow

    from jobs.train import main
    from training.model import build_tiny_llava

    config, tables = small_tables
    texts = [json.dumps(qa(n, [])) for n in range(1, 7)] + ["<image> Answer :"]
    checkpoint = build_tiny_llava(tmp_path / "tiny", texts)
    version = tables.version("final_qas")
    settings = settings_for(
        tmp_path, **{"tracking.enabled": "true", "train.checkpoint": checkpoint, "train.output_dir": tmp_path / "train",
                     "train.max_steps": 8, "train.learning_rate": 0.003, "train.vision_learning_rate": 0.001,
                     "train.warmup_ratio": 0.0, "train.max_length": 256, "train.repeat_first_batch": "true",
                     "train.table_version": version}
    )
    argv = ["--conf", str(REPO / "conf" / "local.yaml"), "--run-id", "train-test"] + [f"--set={k}={v}" for k, v in settings.items()]
    assert main(argv) == 0
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    [run_id] = mlflow.search_runs(experiment_names=[config.tracking.experiment], filter_string="tags.pipeline_run_id = 'train-test'")["run_id"]
    run = mlflow.get_run(run_id)
    losses = [m.value for m in sorted(mlflow.MlflowClient().get_metric_history(run_id, "train.loss"), key=lambda m: m.step)]
    assert len(losses) == 8 and losses[-1] < losses[0]
    assert run.data.params["train.learning_rate"] == "0.003" and run.data.params["train.scheduler"] == "cosine"
    assert run.data.params["train.warmup_ratio"] == "0.0" and run.data.params["train.mix_ratio"] == "0.9"
    assert "train.tokens_per_s" in run.data.metrics and "train.learning_rate" in run.data.metrics
    assert run.data.tags["data.final_qas.version"] == str(version)
    assert run.data.tags["data.final_qas.path"] == tables.location("final_qas")
    [dataset_input] = run.inputs.dataset_inputs
    assert json.loads(dataset_input.dataset.source)["delta_table_version"] == version
    artifacts = [a.path for a in mlflow.MlflowClient().list_artifacts(run_id, "checkpoint")]
    assert any(a.endswith("config.json") for a in artifacts)


def test_evaluation_hand_off_names_the_checkpoint_and_benchmarks(tmp_path, capsys):
    from jobs.evaluate import main

    checkpoint = tmp_path / "ckpt"
    argv = ["--conf", str(REPO / "conf" / "local.yaml"), f"--set=evaluate.checkpoint={checkpoint}", f"--set=evaluate.output_dir={tmp_path / 'eval'}"]
    assert main(argv) == 0
    script = (tmp_path / "eval" / "run_lmms_eval.sh").read_text()
    assert f"pretrained={checkpoint}" in script
    assert "--tasks mmmu_pro,mathverse_testmini,dynamath" in script
    assert main(["--conf", str(REPO / "conf" / "local.yaml")]) == 2
    assert "evaluate.checkpoint" in capsys.readouterr().err
