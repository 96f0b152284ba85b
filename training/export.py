"""Export the final QA table, read at one Delta version, for training.

Deterministic for a version (rows sorted by key, images named by content hash), into a local
folder or a URI every executor reads (fsspec):
- `train.jsonl`: LLaVA-style conversations + the `images/` folder + `data.yaml`, what
  LLaVA-NeXT-style trainers read (`--data_path data.yaml --image_folder <export>`);
- `messages.jsonl`: the same rows as chat `messages` + `images`, what TRL's SFTTrainer, the
  `datasets` library and this project's trainer read;
- `train.parquet`: both shapes with the image bytes embedded and Hugging Face `datasets`
  feature metadata, so `datasets.load_dataset("parquet", ...)` yields PIL images.
Rows whose images are missing from the images table are skipped and counted.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from pyspark.sql import functions as F

from jobs.fetch_images import images_with_content
from runtime.tables import Tables
from training import storage
from training.records import conversation, messages

IMAGE_EXT = {"PNG": "png", "JPEG": "jpg", "GIF": "gif", "WEBP": "webp", "BMP": "bmp", "TIFF": "tif"}
STRING = {"dtype": "string", "_type": "Value"}
HF_FEATURES = {
    "id": STRING,
    "images": {"feature": {"_type": "Image"}, "_type": "List"},
    "messages": {"feature": {"role": STRING, "content": {"feature": {"type": STRING, "text": STRING}, "_type": "List"}}, "_type": "List"},
    "conversations": {"feature": {"from": STRING, "value": STRING}, "_type": "List"},
    "subject": STRING,
    "source_url": STRING,
}
PARQUET_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("images", pa.list_(pa.struct([("bytes", pa.binary()), ("path", pa.string())]))),
        ("messages", pa.list_(pa.struct([
            ("role", pa.string()), ("content", pa.list_(pa.struct([("type", pa.string()), ("text", pa.string())]))),
        ]))),
        ("conversations", pa.list_(pa.struct([("from", pa.string()), ("value", pa.string())]))),
        ("subject", pa.string()),
        ("source_url", pa.string()),
    ],
    metadata={"huggingface": json.dumps({"info": {"features": HF_FEATURES}})},
)


@dataclass
class ExportResult:
    table: str
    version: int
    rows: int
    skipped_missing_images: int
    images: int
    jsonl: str
    image_dir: str
    data_yaml: str
    messages_jsonl: str
    parquet: str
    jsonl_sha256: str


def export_final_qas(tables: Tables, out_dir: str, version: int | None = None, batch_rows: int = 512) -> ExportResult:
    """Write every form of final_qas (status ok) at `version` (default: the latest, recorded)
    into `out_dir`, a local folder or a URI."""
    version = tables.version("final_qas") if version is None else version
    latest = tables.version("final_qas")
    if not 0 <= version <= latest:
        raise ValueError(f"final_qas has versions 0..{latest}; cannot export version {version}")
    out_dir = storage.absolute(out_dir)
    image_dir = storage.join(out_dir, "images")
    storage.makedirs(image_dir)
    qas = tables.read("final_qas", version).where(F.col("status") == "ok")
    images = images_with_content(tables).where((F.col("status") == "ok") & F.col("content").isNotNull())
    refs = qas.select("final_id", F.posexplode("image_ids").alias("pos", "image_id"))
    attached = (
        refs.join(images.select("image_id", "sha256", "format", "content"), "image_id", "left")
        .groupBy("final_id")
        .agg(
            F.sort_array(F.collect_list(F.struct("pos", "sha256", "format", "content"))).alias("files"),
            F.count("*").alias("wanted"),
            F.count("sha256").alias("found"),
        )
    )
    rows = (
        qas.join(attached, "final_id", "left")
        .select("final_id", "question", "solution", "answer", "subject", "url", "files", "wanted", "found")
        .orderBy("final_id")
    )
    jsonl = storage.join(out_dir, "train.jsonl")
    messages_jsonl = storage.join(out_dir, "messages.jsonl")
    parquet = storage.join(out_dir, "train.parquet")
    written = skipped = 0
    seen_images: set[str] = set()
    digest = hashlib.sha256()
    with (
        storage.open_file(jsonl, "w") as handle, storage.open_file(messages_jsonl, "w") as chat_handle,
        storage.open_file(parquet, "wb") as parquet_handle, pq.ParquetWriter(parquet_handle, PARQUET_SCHEMA) as writer,
    ):
        chunk: list[dict] = []
        for row in rows.toLocalIterator():
            if (row["wanted"] or 0) != (row["found"] or 0):
                skipped += 1
                continue
            files = [f for f in row["files"] or []]
            names = []
            for f in files:
                name = f"{f['sha256']}.{IMAGE_EXT.get(f['format'], 'bin')}"
                if name not in seen_images:
                    with storage.open_file(storage.join(image_dir, name), "wb") as image:
                        image.write(f["content"])
                    seen_images.add(name)
                names.append(f"images/{name}")
            turns = conversation(row["question"], row["solution"], row["answer"], len(names))
            chat = messages(row["question"], row["solution"], row["answer"], len(names))
            record = {"id": row["final_id"], "conversations": turns}
            if names:
                record["image"] = names[0] if len(names) == 1 else names
            line = json.dumps(record, ensure_ascii=False, sort_keys=True)
            handle.write(line + "\n")
            digest.update(line.encode() + b"\n")
            chat_handle.write(json.dumps({"id": row["final_id"], "messages": chat, "images": names}, ensure_ascii=False, sort_keys=True) + "\n")
            chunk.append({
                "id": row["final_id"],
                "images": [{"bytes": f["content"], "path": n} for f, n in zip(files, names)],
                "messages": chat,
                "conversations": turns,
                "subject": row["subject"],
                "source_url": row["url"],
            })
            written += 1
            if len(chunk) >= batch_rows:
                writer.write_table(pa.Table.from_pylist(chunk, schema=PARQUET_SCHEMA))
                chunk = []
        if chunk:
            writer.write_table(pa.Table.from_pylist(chunk, schema=PARQUET_SCHEMA))
    data_yaml = storage.join(out_dir, "data.yaml")
    write_data_yaml(data_yaml, [jsonl])
    result = ExportResult(
        table=tables.location("final_qas"), version=version, rows=written, skipped_missing_images=skipped,
        images=len(seen_images), jsonl=jsonl, image_dir=image_dir, data_yaml=data_yaml, messages_jsonl=messages_jsonl,
        parquet=parquet, jsonl_sha256=digest.hexdigest(),
    )
    storage.write_text(storage.join(out_dir, "export.json"), json.dumps(asdict(result), indent=1))
    return result


def write_data_yaml(path: str, jsonl_files: list[str]) -> None:
    """The data file LLaVA-NeXT-style trainers take as --data_path."""
    spec = {"datasets": [{"json_path": storage.absolute(f), "sampling_strategy": "all"} for f in jsonl_files]}
    storage.write_text(path, yaml.safe_dump(spec, sort_keys=False))
