"""Export the final QA table, read at one Delta version, for training.

Two forms, both deterministic for a version (rows sorted by key, images named by content hash):
- LLaVA-style conversation JSONL + an image folder + the data YAML that LLaVA-NeXT-style
  trainers read (`--data_path data.yaml`);
- Parquet with the image bytes embedded and Hugging Face `datasets` feature metadata, so
  `datasets.load_dataset("parquet", ...)` yields PIL images.
Rows whose images are missing from the images table are skipped and counted.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from pyspark.sql import functions as F

from jobs.fetch_images import images_with_content
from runtime.tables import Tables

IMAGE_EXT = {"PNG": "png", "JPEG": "jpg", "GIF": "gif", "WEBP": "webp", "BMP": "bmp", "TIFF": "tif"}
HF_FEATURES = {
    "id": {"dtype": "string", "_type": "Value"},
    "images": {"feature": {"_type": "Image"}, "_type": "Sequence"},
    "conversations": {"feature": {"from": {"dtype": "string", "_type": "Value"}, "value": {"dtype": "string", "_type": "Value"}}, "_type": "Sequence"},
    "subject": {"dtype": "string", "_type": "Value"},
    "source_url": {"dtype": "string", "_type": "Value"},
}
PARQUET_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("images", pa.list_(pa.struct([("bytes", pa.binary()), ("path", pa.string())]))),
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
    parquet: str
    jsonl_sha256: str

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=1))


def conversation(question: str, solution: str | None, answer: str | None, n_images: int) -> list[dict]:
    reply = (solution or "").strip()
    if answer and answer not in reply:
        reply = f"{reply}\nAnswer: {answer}".strip()
    return [
        {"from": "human", "value": "<image>\n" * n_images + question},
        {"from": "gpt", "value": reply},
    ]


def export_final_qas(tables: Tables, out_dir: Path, version: int | None = None, batch_rows: int = 512) -> ExportResult:
    """Write both forms of final_qas (status ok) at `version` (default: the latest, recorded)."""
    version = tables.version("final_qas") if version is None else version
    latest = tables.version("final_qas")
    if not 0 <= version <= latest:
        raise ValueError(f"final_qas has versions 0..{latest}; cannot export version {version}")
    out_dir.mkdir(parents=True, exist_ok=True)
    image_dir = out_dir / "images"
    image_dir.mkdir(exist_ok=True)
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
    jsonl = out_dir / "train.jsonl"
    parquet = out_dir / "train.parquet"
    written = skipped = 0
    seen_images: set[str] = set()
    digest = hashlib.sha256()
    with open(jsonl, "w") as handle, pq.ParquetWriter(parquet, PARQUET_SCHEMA) as writer:
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
                    (image_dir / name).write_bytes(f["content"])
                    seen_images.add(name)
                names.append(f"images/{name}")
            turns = conversation(row["question"], row["solution"], row["answer"], len(names))
            record = {"id": row["final_id"], "conversations": turns}
            if names:
                record["image"] = names[0] if len(names) == 1 else names
            line = json.dumps(record, ensure_ascii=False, sort_keys=True)
            handle.write(line + "\n")
            digest.update(line.encode() + b"\n")
            chunk.append({
                "id": row["final_id"],
                "images": [{"bytes": f["content"], "path": n} for f, n in zip(files, names)],
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
    data_yaml = out_dir / "data.yaml"
    write_data_yaml(data_yaml, [jsonl])
    result = ExportResult(
        table=tables.location("final_qas"), version=version, rows=written, skipped_missing_images=skipped,
        images=len(seen_images), jsonl=str(jsonl), image_dir=str(image_dir), data_yaml=str(data_yaml),
        parquet=str(parquet), jsonl_sha256=digest.hexdigest(),
    )
    result.save(out_dir / "export.json")
    return result


def write_data_yaml(path: Path, jsonl_files: list[Path]) -> None:
    """The data file LLaVA-NeXT-style trainers take as --data_path."""
    spec = {"datasets": [{"json_path": str(Path(f).resolve()), "sampling_strategy": "all"} for f in jsonl_files]}
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
