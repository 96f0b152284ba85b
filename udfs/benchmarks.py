"""Evaluation benchmarks in the shapes their maintainers publish, one loader per benchmark.

Each loader reads a published file (Parquet as on the Hugging Face hub, or the JSON / JSONL the
benchmark's repository ships) and yields `PublishedItem`s: id, question, options, answer and the
item's images as bytes. Image columns hold `{"bytes", "path"}` structs (the `datasets` Image
feature) or a path relative to the file's folder. Decontamination (`jobs/curate_qas.py`) indexes
them; any file path may be a URI (fsspec).

- `mmmu` (MMMU/MMMU): id, question, options (a Python-literal list), answer, image_1..image_7;
- `mmmu_pro` (MMMU/MMMU_Pro): the standard configs as MMMU; the vision config: id, image
  (the question as a screenshot), options, answer;
- `mathvista` (AI4Math/MathVista): pid, question, choices, answer, decoded_image (or image, a path);
- `mathverse` (AI4Math/MathVerse): sample_index, question, answer, image;
- `dynamath` (DynaMath/DynaMath_Sample): id, question, ground_truth, decoded_image (or image);
  its variants share an id, so the item id adds a digest of the variant's content.
"""
from __future__ import annotations

import ast
import hashlib
import json
import posixpath
from dataclasses import dataclass, field
from typing import Callable, Iterator, get_args

import fsspec

from runtime.config import PublishedBenchmark

NAMES: dict[str, str] = {
    "mmmu": "MMMU", "mmmu_pro": "MMMU-Pro", "mathvista": "MathVista", "mathverse": "MathVerse", "dynamath": "DynaMath",
}
FILE_SUFFIXES = (".parquet", ".json", ".jsonl")


@dataclass
class PublishedItem:
    id: str
    question: str
    options: list[str] = field(default_factory=list)
    answer: str | None = None
    images: list[bytes | Exception] = field(default_factory=list)  # an image that cannot be read is its error


def _options(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = value.strip()
        if not value:
            return []
        try:
            value = ast.literal_eval(value)  # MMMU publishes "['A', 'B']"
        except (ValueError, SyntaxError):
            return [value]
    return [str(option) for option in value]


def _image(value, folder: str) -> bytes | Exception | None:
    """An Image-feature struct, raw bytes, or a path relative to the file's folder; None: no image."""
    try:
        if value is None:
            return None
        if isinstance(value, (bytes, bytearray)):
            return bytes(value)
        if isinstance(value, dict):
            if value.get("bytes"):
                return bytes(value["bytes"])
            value = value.get("path")
        if not value:
            return None
        ref = str(value)
        location = ref if "://" in ref or ref.startswith("/") else posixpath.join(folder, ref)
        with fsspec.open(location, "rb") as handle:
            return handle.read()
    except Exception as exc:  # noqa: BLE001 - an unreadable image is reported on its item
        return exc


def _images(values, folder: str) -> list[bytes | Exception]:
    return [image for image in (_image(value, folder) for value in values) if image is not None]


def mmmu(row: dict, folder: str) -> PublishedItem:
    return PublishedItem(
        id=str(row["id"]), question=str(row.get("question") or ""), options=_options(row.get("options")),
        answer=row.get("answer"),
        images=_images([row.get(f"image_{k}") for k in range(1, 8)] + [row.get("image")], folder),
    )


def mathvista(row: dict, folder: str) -> PublishedItem:
    return PublishedItem(
        id=str(row["pid"]), question=str(row["question"]), options=_options(row.get("choices")), answer=row.get("answer"),
        images=_images([row.get("decoded_image") or row.get("image")], folder),
    )


def mathverse(row: dict, folder: str) -> PublishedItem:
    return PublishedItem(
        id=str(row["sample_index"]), question=str(row.get("question") or ""), answer=row.get("answer"),
        images=_images([row.get("image")], folder),
    )


def dynamath(row: dict, folder: str) -> PublishedItem:
    images = _images([row.get("decoded_image") or row.get("image")], folder)
    content = hashlib.sha256(str(row["question"]).encode())
    for image in images:
        content.update(image if isinstance(image, bytes) else repr(image).encode())
    return PublishedItem(
        id=f"{row['id']}-{content.hexdigest()[:10]}", question=str(row["question"]), answer=row.get("ground_truth"),
        images=images,
    )


LOADERS: dict[str, Callable[[dict, str], PublishedItem]] = {
    "mmmu": mmmu, "mmmu_pro": mmmu, "mathvista": mathvista, "mathverse": mathverse, "dynamath": dynamath,
}
assert set(LOADERS) == set(get_args(PublishedBenchmark)) == set(NAMES)


def published_files(location: str) -> list[str]:
    """The Parquet / JSON / JSONL files of a published benchmark: one file, a folder, or a glob."""
    fs, path = fsspec.core.url_to_fs(location)
    if fs.isdir(path):
        found = [p for p in fs.find(path) if p.endswith(FILE_SUFFIXES)]
    else:
        found = [p for p in fs.glob(path) if p.endswith(FILE_SUFFIXES)]
    if not found:
        raise FileNotFoundError(f"quality.decontamination.published: no Parquet, JSON or JSONL file at {location}")
    return sorted(fs.unstrip_protocol(p) if "://" in location else p for p in found)


def _rows(path: str) -> Iterator[dict]:
    if path.endswith(".parquet"):
        import pyarrow.parquet as pq

        with fsspec.open(path, "rb") as handle:
            for batch in pq.ParquetFile(handle).iter_batches(batch_size=64):
                yield from batch.to_pylist()
        return
    with fsspec.open(path, "r", encoding="utf-8") as handle:
        text = handle.read()
    if path.endswith(".jsonl"):
        yield from (json.loads(line) for line in text.splitlines() if line.strip())
        return
    data = json.loads(text)
    # A list of records, or (MathVista's annotation file) a mapping of id -> record.
    yield from data if isinstance(data, list) else data.values()


def index_text(item: PublishedItem) -> str:
    """What decontamination compares a QA's question with: the question and its options."""
    return "\n".join([item.question, *item.options]).strip()


def read_published(benchmark: str, path: str) -> Iterator[PublishedItem]:
    """The items of one published file of `benchmark`."""
    if benchmark not in LOADERS:
        raise ValueError(f"unknown benchmark {benchmark!r}; known: {', '.join(LOADERS)}")
    load = LOADERS[benchmark]
    folder = posixpath.dirname(path)
    for row in _rows(path):
        yield load(row, folder)
