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
from training.model import FAMILIES, build_tiny_model


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
    # The messages form, as TRL and chat templates take it: image parts where the images go.
    user, assistant = first["messages"]
    assert (user["role"], [part["type"] for part in user["content"]]) == ("user", ["image", "image", "text"])
    assert user["content"][2]["text"] == "What is 2 plus 2 ?" and assistant["content"][0]["text"].endswith("4 .")
    chats = datasets.load_dataset("json", data_files=result.messages_jsonl, split="train")
    assert chats["id"] == ["f01", "f02", "f03"] and chats["images"] == [[records[0]["image"]], records[1]["image"], []]
    assert chats[0]["messages"][0]["content"][0]["type"] == "image"
    # Both shapes read back as the same training examples.
    from training.records import read_examples
    from_llava = read_examples(result.jsonl, str(tmp_path / "out"))
    from_messages = read_examples(result.messages_jsonl, str(tmp_path / "out"))
    assert [(e["id"], e["images"]) for e in from_llava] == [(e["id"], e["images"]) for e in from_messages]
    assert [[p.get("text") for t in e["messages"] for p in t["content"]] for e in from_llava] == \
        [[p.get("text") for t in e["messages"] for p in t["content"]] for e in from_messages]
    assert from_llava[1]["images"] == [str(tmp_path / "out" / p) for p in records[1]["image"]]


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
    mix(ours, external, tmp_path / "m2.jsonl", ratio=0.9, seed=3)
    mix(ours, external, tmp_path / "m3.jsonl", ratio=0.9, seed=4)
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


def rank_log(run_dir, rank: int) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "ranks" / f"rank-{rank}.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("family, sharding", [(family, "ddp") for family in FAMILIES] + [("qwen2_vl", "fsdp")])
def test_two_processes_fine_tune_in_step_and_report_into_the_data_versions_run(family, sharding, small_tables, tmp_path):
    import mlflow
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from jobs.train import main
    from training.records import read_examples
    from training.trainer import ChatCollator

    config, tables = small_tables
    texts = [json.dumps(qa(n, [])) for n in range(1, 7)] + ["Answer :"]
    tiny = build_tiny_model(family, tmp_path / "tiny", texts)
    version = tables.version("final_qas")
    # One family writes through a URI, as executors on a cluster would.
    output = f"file://{tmp_path / 'train'}" if family == "qwen2_vl" else str(tmp_path / "train")
    settings = settings_for(
        tmp_path, **{"tracking.enabled": "true", "train.checkpoint": tiny, "train.output_dir": output,
                     "train.num_processes": 2, "train.max_steps": 6, "train.learning_rate": 0.003,
                     "train.vision_learning_rate": 0.001, "train.warmup_ratio": 0.0, "train.max_length": 256,
                     "train.sharding": sharding, "train.audit_ranks": str(sharding == "ddp").lower(),
                     "train.table_version": version}
    )
    run_name = f"train-{family}-{sharding}"
    argv = ["--conf", str(REPO / "conf" / "local.yaml"), "--run-id", run_name] + [f"--set={k}={v}" for k, v in settings.items()]
    assert main(argv) == 0
    run_dir = tmp_path / "train" / f"final_qas-v{version}"

    if sharding == "ddp":
        # Both ranks hold the same parameters after every step, which change, from different examples.
        first, second = rank_log(run_dir, 0), rank_log(run_dir, 1)
        assert [r["step"] for r in first] == [r["step"] for r in second] == [1, 2, 3, 4, 5, 6]
        assert [r["digest"] for r in first] == [r["digest"] for r in second]
        assert len({r["digest"] for r in first}) == 6
        assert any(a["examples"] != b["examples"] for a, b in zip(first, second))
        # Shuffled shards: together the ranks see every example; one epoch (2 steps) in an order that changes.
        assert {e for r in first[:2] + second[:2] for e in r["examples"]} == {"f01", "f02", "f03"}
        assert [r["examples"] for r in first[:2]] != [r["examples"] for r in first[2:4]] or \
            [r["examples"] for r in first[2:4]] != [r["examples"] for r in first[4:]]

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    [run_id] = mlflow.search_runs(experiment_names=[config.tracking.experiment], filter_string=f"tags.pipeline_run_id = '{run_name}'")["run_id"]
    run = mlflow.get_run(run_id)
    client = mlflow.MlflowClient()
    losses = [m.value for m in sorted(client.get_metric_history(run_id, "loss"), key=lambda m: m.step)]
    assert len(losses) == 6 and sum(losses[-2:]) < sum(losses[:2])  # the same three examples, epoch after epoch
    assert run.data.metrics["train_tokens_per_second"] > 0 and run.data.metrics["num_input_tokens_seen"] > 0
    assert "learning_rate" in run.data.metrics and "grad_norm" in run.data.metrics
    assert run.data.params["train.learning_rate"] == "0.003" and run.data.params["train.scheduler"] == "cosine"
    assert run.data.params["lr_scheduler_type"] == "cosine"
    # Activation checkpointing: the Trainer's under DDP, FSDP's own under FSDP.
    assert run.data.params["gradient_checkpointing"] == str(sharding == "ddp")
    assert run.data.tags["data.final_qas.version"] == str(version)
    assert run.data.tags["data.final_qas.path"] == tables.location("final_qas")
    [dataset_input] = run.inputs.dataset_inputs
    assert json.loads(dataset_input.dataset.source)["delta_table_version"] == version
    assert any(a.path.endswith("config.json") for a in client.list_artifacts(run_id, "checkpoint"))

    # The checkpoint reloads, has learned (lower loss than the random model on the data), and generates.
    trained_dir = run_dir / "checkpoint"
    processor = AutoProcessor.from_pretrained(trained_dir)
    examples = read_examples(str(run_dir / "export" / "messages.jsonl"), str(run_dir / "export"))
    batch = ChatCollator(processor, 256)(examples)
    batch.pop("example_ids")
    trained = AutoModelForImageTextToText.from_pretrained(trained_dir).eval()
    untrained = AutoModelForImageTextToText.from_pretrained(tiny).eval()
    with torch.no_grad():
        assert trained(**batch).loss < untrained(**batch).loss
        prompt = processor.apply_chat_template(examples[0]["messages"][:1], tokenize=False, add_generation_prompt=True)
        inputs = processor(text=[prompt], images=[[Image.open(examples[0]["images"][0]).convert("RGB")]], return_tensors="pt")
        generated = trained.generate(**inputs, max_new_tokens=4, do_sample=False)
    assert generated.shape[1] > inputs["input_ids"].shape[1]


def test_evaluation_hand_off_names_the_model_class_of_the_checkpoint(tmp_path, capsys):
    from jobs.evaluate import main

    def hand_off(checkpoint) -> str:
        argv = ["--conf", str(REPO / "conf" / "local.yaml"), f"--set=evaluate.checkpoint={checkpoint}",
                f"--set=evaluate.output_dir={tmp_path / 'eval'}"]
        assert main(argv) == 0
        return (tmp_path / "eval" / "run_lmms_eval.sh").read_text()

    for family, model in (("llava", "llava_hf"), ("qwen2_vl", "qwen2_vl")):
        checkpoint = build_tiny_model(family, tmp_path / family, ["a b c"])
        script = hand_off(checkpoint)
        assert f"--model {model} --model_args pretrained={checkpoint.resolve()} " in script
        assert "--tasks mmmu_pro,mathverse_testmini,dynamath" in script
    # The reference's LLaVA-NeXT-format checkpoint: its class, with the conversation template.
    next_format = tmp_path / "llava-next"
    next_format.mkdir()
    (next_format / "config.json").write_text(json.dumps({"architectures": ["LlavaQwenForCausalLM"], "model_type": "llava"}))
    assert f"--model llava_onevision --model_args pretrained={next_format},conv_template=qwen_1_5,model_name=llava_qwen " in hand_off(next_format)
    # A Hugging Face checkpoint saved without its chat template, an unknown architecture, no checkpoint.
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "config.json").write_text(json.dumps({"architectures": ["Qwen2VLForConditionalGeneration"]}))
    unknown = tmp_path / "unknown"
    unknown.mkdir()
    (unknown / "config.json").write_text(json.dumps({"architectures": ["MysteryForCausalLM"]}))
    for checkpoint, message in ((bare, "has no chat template"),
                                (unknown, "evaluate.model: no lmms-eval model class known for architecture MysteryForCausalLM")):
        assert main(["--conf", str(REPO / "conf" / "local.yaml"), f"--set=evaluate.checkpoint={checkpoint}"]) == 2
        assert message in capsys.readouterr().err
    assert main(["--conf", str(REPO / "conf" / "local.yaml")]) == 2
    assert "evaluate.checkpoint" in capsys.readouterr().err


def test_a_checkpoint_is_scored_on_benchmark_files_as_published(tmp_path, capsys):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from jobs.evaluate import main
    from training.evaluation import predicted_answer, prompt_text
    from udfs.benchmarks import PublishedItem

    choice = PublishedItem(id="1", question="Which bar is tallest?", options=["red", "blue"], answer="B")
    assert prompt_text(choice) == "Which bar is tallest?\nA. red\nB. blue\nAnswer with the option's letter."
    assert predicted_answer("Looking at the chart, the answer is (B).", choice) == "B"
    assert predicted_answer("x = 4.50", PublishedItem(id="2", question="x?", answer="4.5")) == "4.50"

    checkpoint = build_tiny_model("qwen2_vl", tmp_path / "tiny", ["Which bar is tallest ? A B red blue"])
    image = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    path = tmp_path / "testmini.parquet"
    pq.write_table(pa.table({
        "pid": ["1", "2"], "question": ["Which bar is tallest?", "How many bars?"], "choices": [["red", "blue"], None],
        "answer": ["B", "2"], "decoded_image": pa.array([{"bytes": png((9, 9, 9)), "path": None}, {"bytes": b"not an image", "path": None}], image),
    }), path)
    argv = ["--conf", str(REPO / "conf" / "local.yaml"), f"--set=evaluate.checkpoint={checkpoint}",
            f"--set=evaluate.output_dir={tmp_path / 'eval'}", f"--set=evaluate.published={{mathvista: {path}}}",
            "--set=evaluate.max_new_tokens=4"]
    assert main(argv) == 0
    scores = json.loads((tmp_path / "eval" / "scores.json").read_text())
    assert scores["MathVista"]["items"] == 2 and scores["MathVista"]["unreadable"] == 1
    assert scores["MathVista"]["accuracy"] in (0.0, 1.0)
    answers = [json.loads(line) for line in (tmp_path / "eval" / "answers.jsonl").read_text().splitlines()]
    assert [(a["item_id"], a["status"]) for a in answers] == [("1", "ok"), ("2", "unreadable")]
    assert answers[0]["correct"] == (answers[0]["predicted"] == "B")
    assert "MathVista: 2 items, 1 unreadable" in capsys.readouterr().out
